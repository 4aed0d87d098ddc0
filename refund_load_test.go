package wxrefund_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// A load test against the fake: 8 goroutines each make 500 refunds (150
// under the race detector) and query each one, with WithRetry on and
// failures injected all along (signed SYSTEMERRORs, answers lost after the
// refund was made, dropped connections, failed queries). Every refund exists exactly once with its amount, the
// order totals reconcile to the fen, and no goroutine is left behind. Not
// parallel, so that the goroutine count is this test's own.
func TestLoadRefundsExactlyOnce(t *testing.T) {
	const workers, perWorker, perOrder = 8, loadPerWorker, 50
	before := runtime.NumGoroutine()

	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	fee := func(w, i int) int64 { return int64(1 + (w*perWorker+i)%97) }
	orderOf := func(w, i int) string { return fmt.Sprintf("LOAD-%d-%d", w, i/perOrder) }
	totals := map[string]int64{}
	for w := range workers {
		for i := range perWorker {
			totals[orderOf(w, i)] += fee(w, i)
		}
	}
	for no, total := range totals {
		require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: no, TotalFee: total}))
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(),
		wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 6, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond}))...)
	require.NoError(t, err)

	var injected, unknownCalls atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range perWorker {
				injected.Add(1)
				switch (w*perWorker + i) % 20 { // one request in five meets a failure
				case 3:
					fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
				case 7:
					fake.LoseNext(wxrefund.CodeSystemError, 1)
				case 11:
					fake.LoseNext("", 1)
				case 15:
					fake.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 1)
				default:
					injected.Add(-1)
				}
				req := &wxrefund.RefundRequest{OutTradeNo: orderOf(w, i), OutRefundNo: fmt.Sprintf("RL%d-%d", w, i),
					TotalFee: totals[orderOf(w, i)], RefundFee: fee(w, i)}
				var resp *wxrefund.RefundResponse
				var err error
				// A merchant's loop: an unknown outcome is sent again with
				// the same number (WithRetry did so already, up to 6 times).
				for range 5 {
					if resp, err = c.Refund(ctx, req); !errors.Is(err, wxrefund.ErrOutcomeUnknown) {
						break
					}
					unknownCalls.Add(1)
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %w", req.OutRefundNo, err)
					return
				}
				q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: req.OutRefundNo})
				if err == nil && (len(q.Refunds) != 1 || q.Refunds[0].RefundID != resp.RefundID) {
					err = fmt.Errorf("the query found %+v, not refund %s", q.Refunds, resp.RefundID)
				}
				if err != nil {
					errs <- fmt.Errorf("query %s: %w", req.OutRefundNo, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	var refunded, count int64
	for no, total := range totals {
		var sum int64
		seen := map[string]bool{}
		for _, r := range fake.Refunds(no) {
			require.False(t, seen[r.OutRefundNo], "%s refunded twice", r.OutRefundNo)
			seen[r.OutRefundNo] = true
			sum += r.RefundFee
		}
		require.Equal(t, total, sum, "order %s reconciles to the fen", no)
		refunded += sum
		count += int64(len(seen))
	}
	assert.EqualValues(t, workers*perWorker, count)
	t.Logf("load: %d refunds (%d fen) and %d queries by %d goroutines; %d failures injected; %d Refund calls still unknown after 6 attempts",
		count, refunded, count, workers, injected.Load(), unknownCalls.Load())

	c.CloseIdleConnections()
	fake.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left behind")
}
