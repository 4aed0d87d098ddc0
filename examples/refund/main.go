// Command refund applies for a WeChat Pay refund and reports its status, with
// credentials from the environment (run it without them to see which).
//
//	go run ./examples/refund -out-trade-no ORD1 -out-refund-no RF1 -total 5000 -refund 2000
//
// It demonstrates the safe retry rule: the Client (WithRetry) sends a
// retryable failure again with the same out_refund_no, and if any attempt's
// outcome was unknown the program settles it with ResolveRefund, which
// looks the refund up by that number and sends the same request only when
// WeChat Pay has no such refund. It exits non-zero unless the refund that
// exists under that number is the one requested. Running it again with the
// same flags is safe: a refund left in doubt by a crash is settled the
// same way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/go-wxpay/wxrefund"
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
	flag.Usage = usage("refund -out-trade-no ID -out-refund-no ID -total FEN -refund FEN")
	flag.Parse()

	c, err := newClient(true, options(os.Stderr)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(2)
	}
	defer c.CloseIdleConnections()
	// One deadline for the refund, its retries and the query that may follow.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err = run(ctx, os.Stdout, c, &req)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(1)
	}
}

// retry is how the Client sends a retryable failure again (tests shorten
// BaseDelay).
var retry = wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Second}

// options are the Client options beyond the credentials: retry, and the
// Client's warnings (each retry) logged to w.
func options(w io.Writer) []wxrefund.Option {
	return []wxrefund.Option{
		wxrefund.WithRetry(retry),
		wxrefund.WithLogger(slog.New(slog.NewTextHandler(w, nil))),
	}
}

// run applies for the refund (c retries it with the same out_refund_no while
// that helps), settles an unknown outcome, and reports to w. It returns nil
// only once the refund that exists under req.OutRefundNo is known to be the
// one requested.
func run(ctx context.Context, w io.Writer, c *wxrefund.Client, req *wxrefund.RefundRequest) error {
	resp, err := c.Refund(ctx, req)
	switch {
	case errors.Is(err, wxrefund.ErrInvalidRequest):
		flag.Usage()
		return err
	case err == nil:
		fmt.Fprintf(w, "accepted: refund_id=%s refund_fee=%d fen (cash %d, coupon %d)\n",
			resp.RefundID, resp.RefundFee, resp.CashRefundFee, resp.CouponRefundFee)
	case errors.Is(err, wxrefund.ErrOutcomeUnknown):
		// Some attempt may have created the refund, even if the last one
		// failed for good: only a lookup can tell.
		fmt.Fprintf(w, "outcome unknown (%v); resolving by out_refund_no\n", err)
	default:
		return err
	}

	// ResolveRefund looks the refund up, and sends the same request only
	// if WeChat Pay has none: after a success it only confirms it.
	res, err := c.ResolveRefund(ctx, req)
	var conflict *wxrefund.RefundConflictError
	switch {
	case errors.As(err, &conflict):
		r := conflict.Refund.Refund
		fmt.Fprintf(w, "%s: %s, %d fen\n", r.OutRefundNo, r.Status, r.RefundFee)
		return fmt.Errorf("out_refund_no %s is taken: the existing refund has %s %s, not %s, so the one requested was not made; "+
			"check your records before using another out_refund_no", req.OutRefundNo, conflict.Field, conflict.Found, conflict.Requested)
	case err != nil && wxrefund.IsRetryable(err):
		return fmt.Errorf("still unsettled; run again later with the same flags (same out_refund_no and amounts): %w", err)
	case err != nil:
		return err
	}
	if res.Sent {
		fmt.Fprintf(w, "WeChat Pay had no such refund: sent the same request again, accepted as refund_id=%s\n", res.Refund.RefundID)
	}
	r := res.Refund
	fmt.Fprintf(w, "%s: %s, %d fen", r.OutRefundNo, r.Status, r.RefundFee)
	if !r.SuccessTime.IsZero() {
		fmt.Fprintf(w, ", arrived %s", r.SuccessTime.Format(wxrefund.TimeLayout))
	}
	fmt.Fprintln(w)
	return nil
}
