package wxrefund

// Tests for a call's context: one that is nil or already done sends
// nothing; one that ends during a pause between attempts, while the
// limiter waits or while the answer's body is read is the error's cause;
// and the refund outcome is unknown exactly when something was sent.

import (
	"context"
	"errors"
	"io"
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

// A context that is already done sends nothing and reports the context's
// error: nothing left the process, so the refund outcome is known.
func TestContextDoneBeforeSending(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"canceled", canceled, context.Canceled},
		{"deadline passed", expired, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			refunds := mtCountHits(mux, pathRefund)
			queries := mtCountHits(mux, pathRefundQuery)

			_, err := c.Refund(tc.ctx, mtRefundReq())
			require.ErrorIs(t, err, tc.want)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown, "nothing was sent")
			var te *TransportError
			require.ErrorAs(t, err, &te)
			assert.Contains(t, err.Error(), "nothing was sent")

			_, err = c.QueryRefund(tc.ctx, &QueryRefundRequest{OutRefundNo: "RF1"})
			require.ErrorIs(t, err, tc.want)

			assert.Zero(t, refunds.Load()+queries.Load(), "a request was sent")
		})
	}
}

// A deadline that fires while the answer's body is being read is the
// cause, however the read ended: an error from the body reader, or (for a
// body delimited by the connection's close) a clean end after part of the
// document, which once surfaced as ErrMalformed ("syntax error at line 1")
// in about one round in five.
func TestDeadlineDuringBodyRead(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		header string
	}{
		{"content-length body", "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 500\r\n\r\n"},
		{"close-delimited body", "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n"},
		{"close-delimited 502", "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			closeNow := make(chan struct{}, 32)
			mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				conn, buf, err := http.NewResponseController(w).Hijack()
				if !assert.NoError(t, err) {
					return
				}
				defer func() { _ = conn.Close() }()
				// The client may already have given up (see below): what it
				// got, not whether this write made it, is what is checked.
				_, _ = buf.WriteString(tc.header + "<xml><return_code><![CDATA[SUCC")
				_ = buf.Flush()
				select { // end the body as soon as the client's deadline passed
				case <-closeNow:
				case <-time.After(5 * time.Second):
				}
			})
			// Several rounds, so both orders of "deadline" and "end of
			// body" are met. (On a loaded machine the deadline may even
			// come before the headers: status 0, the same error otherwise.)
			inBody := 0
			for range 6 {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				go func() { <-ctx.Done(); closeNow <- struct{}{} }()
				_, err := c.Refund(ctx, mtRefundReq())
				cancel()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "the prefix once: %v", err)
				var te *TransportError
				require.ErrorAs(t, err, &te)
				if te.StatusCode != 0 {
					inBody++
				}
				assert.True(t, IsRetryable(err))
			}
			assert.Positive(t, inBody, "no round reached the body")
		})
	}
}

// A nil context is a mistake in the request: nothing is sent.
func TestNilContextIsAnError(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	hits := mtCountHits(mux, pathRefund)
	queryHits := mtCountHits(mux, pathRefundQuery)
	//lint:ignore SA1012 a nil context is the input under test
	_, err := c.Refund(nil, mtRefundReq()) //nolint:staticcheck // SA1012: the lint:ignore above says why
	require.ErrorIs(t, err, ErrInvalidRequest)
	//lint:ignore SA1012 a nil context is the input under test
	_, err = c.QueryRefund(nil, &QueryRefundRequest{OutRefundNo: "RF1"}) //nolint:staticcheck // SA1012: the lint:ignore above says why
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.False(t, errors.Is(err, ErrOutcomeUnknown))
	assert.Zero(t, hits.Load()+queryHits.Load())
}
