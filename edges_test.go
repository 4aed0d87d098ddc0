package wxrefund

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A call cancelled during a pause between attempts ends with an error that
// matches the context's error, and ErrOutcomeUnknown when an attempt's
// outcome was unknown; its text counts attempts in good grammar.
func TestCancelledDuringRetryPause(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithRetry(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Minute, MaxDelay: time.Minute}))
	answered := make(chan struct{}, 5)
	mtRefundHandler(t, mux, func(map[string]string) map[string]string {
		answered <- struct{}{}
		return mtBizFail(CodeSystemError, "系统超时")
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-answered; time.Sleep(20 * time.Millisecond); cancel() }()
	_, err := c.Refund(ctx, mtRefundReq())
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	assert.Equal(t, CodeSystemError, ErrorCode(err))
	assert.Contains(t, err.Error(), "after 1 attempt (context canceled before the next)")
	assert.NotContains(t, err.Error(), "1 attempts")
	assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "the prefix once: %v", err)
	assert.Len(t, answered, 0, "one attempt only")

	// A query: the context's error, no unknown outcome.
	c2, mux2 := setup(t, WithRetry(RetryPolicy{MaxAttempts: 5, BaseDelay: time.Minute, MaxDelay: time.Minute}))
	mtHandle(t, mux2, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string {
		answered <- struct{}{}
		return mtBizFail(CodeSystemError, "系统超时")
	})
	ctx, cancel = context.WithCancel(context.Background())
	go func() { <-answered; time.Sleep(20 * time.Millisecond); cancel() }()
	_, err = c2.QueryRefund(ctx, &QueryRefundRequest{OutRefundNo: "RF1"})
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// lateLimiter ignores its context and lets the request go after delay.
type lateLimiter struct{ delay time.Duration }

func (l lateLimiter) Wait(context.Context) error { time.Sleep(l.delay); return nil }

// A limiter that returns after the context's deadline: nothing is sent, so
// the outcome is not unknown.
func TestLimiterPastTheDeadline(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithRateLimiter(lateLimiter{100 * time.Millisecond}))
	var hits atomic.Int64
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Refund(ctx, mtRefundReq())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "nothing was sent")
	assert.Contains(t, err.Error(), "nothing was sent")
	assert.Zero(t, hits.Load())

	_, err = c.DownloadRefundBill(ctx, &RefundBillRequest{Date: time.Now()}, func(*RefundBillRecord) error { return nil })
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
