// Command refund applies for a WeChat Pay refund and reports its status, with
// credentials from the environment (run it without them to see which).
//
//	go run ./examples/refund -out-trade-no ORD1 -out-refund-no RF1 -total 5000 -refund 2000
//
// It demonstrates the safe retry rule: when the outcome is unknown it retries
// with the same out_refund_no, and if the outcome is still unknown after the
// last attempt (or an earlier attempt was unknown), it queries the refund by
// that number before reporting anything.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/internal/envconfig"
)

func main() {
	var req wxrefund.RefundRequest
	flag.StringVar(&req.OutTradeNo, "out-trade-no", "", "merchant order id (or use -transaction-id)")
	flag.StringVar(&req.TransactionID, "transaction-id", "", "WeChat order id (or use -out-trade-no)")
	flag.StringVar(&req.OutRefundNo, "out-refund-no", "", "merchant refund id; reuse it to retry the same refund (required)")
	flag.Int64Var(&req.TotalFee, "total", 0, "the order's total, in fen (required)")
	flag.Int64Var(&req.RefundFee, "refund", 0, "the amount to refund, in fen (required)")
	flag.StringVar(&req.RefundDesc, "desc", "", "reason shown to the payer")
	flag.StringVar(&req.NotifyURL, "notify-url", "", "where WeChat Pay posts the result (optional)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: refund -out-trade-no ID -out-refund-no ID -total FEN -refund FEN\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\n%s\n", envconfig.Usage)
	}
	flag.Parse()

	c, err := envconfig.Client(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(2)
	}
	if err := run(os.Stdout, c, &req); err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(1)
	}
}

// retryPause is the base pause between attempts (tests shorten it).
var retryPause = time.Second

// run applies for the refund, retrying with the same out_refund_no while that
// helps, and reports to w. It returns nil once the refund is known to exist.
func run(w io.Writer, c *wxrefund.Client, req *wxrefund.RefundRequest) error {
	ctx := context.Background()
	var resp *wxrefund.RefundResponse
	var err error
	unknown := false // whether an attempt may have created the refund
	for attempt := 1; ; attempt++ {
		resp, err = c.Refund(ctx, req)
		unknown = unknown || errors.Is(err, wxrefund.ErrOutcomeUnknown)
		if err == nil || !wxrefund.IsRetryable(err) || attempt == 3 {
			break
		}
		// Unknown or transient: the same request again, never a new number.
		fmt.Fprintf(w, "attempt %d: %v; retrying with the same out_refund_no\n", attempt, err)
		time.Sleep(time.Duration(attempt) * retryPause)
	}
	switch {
	case errors.Is(err, wxrefund.ErrInvalidRequest):
		flag.Usage()
		return err
	case err == nil:
		fmt.Fprintf(w, "accepted: refund_id=%s refund_fee=%d fen (cash %d, coupon %d)\n",
			resp.RefundID, resp.RefundFee, resp.CashRefundFee, resp.CouponRefundFee)
	case unknown:
		// Even if the last attempt failed for good, an earlier one may have
		// created the refund: only a query can tell.
		fmt.Fprintf(w, "outcome unknown (%v); querying by out_refund_no\n", err)
	default:
		return err
	}

	q, qerr := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: req.OutRefundNo})
	if wxrefund.ErrorCode(qerr) == wxrefund.CodeRefundNotExist {
		// Settled: no refund exists. Report the last cause without the
		// unknown-outcome wrapper.
		if errors.Is(err, wxrefund.ErrOutcomeUnknown) {
			// Refund wraps the cause (an *Error, *TransportError or
			// *MessageError) in the unknown-outcome error.
			return fmt.Errorf("the refund was not created; send the same request again later (same out_refund_no and amounts): %w",
				errors.Unwrap(err))
		}
		return fmt.Errorf("the refund was not created: %w", err)
	}
	if qerr != nil {
		return qerr
	}
	for _, r := range q.Refunds {
		fmt.Fprintf(w, "%s: %s, %d fen", r.OutRefundNo, r.Status, r.RefundFee)
		if !r.SuccessTime.IsZero() {
			fmt.Fprintf(w, ", arrived %s", r.SuccessTime.Format(wxrefund.TimeLayout))
		}
		fmt.Fprintln(w)
	}
	return nil
}
