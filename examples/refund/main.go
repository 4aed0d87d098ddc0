// Command refund applies for a WeChat Pay refund and reports its status, with
// credentials from the environment (run it without them to see which).
//
//	go run ./examples/refund -out-trade-no ORD1 -out-refund-no RF1 -total 5000 -refund 2000
//
// It demonstrates the safe retry rule: the Client (WithRetry) sends a
// retryable failure again with the same out_refund_no, and if any attempt's
// outcome was unknown the program queries the refund by that number before
// reporting anything. It exits non-zero unless the refund that exists under
// that number is the one requested.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
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
// that helps), queries it, and reports to w. It returns nil only once the
// refund that exists under req.OutRefundNo is known to be the one requested.
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
		// failed for good: only a query can tell.
		fmt.Fprintf(w, "outcome unknown (%v); querying by out_refund_no\n", err)
	default:
		return err
	}

	// Refund wraps the cause of an unknown outcome in the error that says
	// so; once the query settles the outcome, report the cause alone.
	cause := errors.Unwrap(err)
	q, qerr := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: req.OutRefundNo})
	if wxrefund.ErrorCode(qerr) == wxrefund.CodeRefundNotExist && err != nil {
		if wxrefund.IsRetryable(err) {
			return fmt.Errorf("the refund was not created; send the same request again later (same out_refund_no and amounts): %w", cause)
		}
		return fmt.Errorf("the refund was not created: %w", cause)
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
	i := slices.IndexFunc(q.Refunds, func(r wxrefund.RefundRecord) bool { return r.OutRefundNo == req.OutRefundNo })
	if i < 0 {
		return fmt.Errorf("the query did not return out_refund_no %s", req.OutRefundNo)
	}
	if d := differences(req, q, q.Refunds[i]); d != "" {
		msg := fmt.Sprintf("out_refund_no %s is taken: the existing refund has other amounts (%s), so the one requested was not made; "+
			"check your records before using another out_refund_no", req.OutRefundNo, d)
		if cause == nil {
			return errors.New(msg)
		}
		return fmt.Errorf("%s: %w", msg, cause)
	}
	return nil
}

// differences lists how r, the refund with req's out_refund_no in the query
// answer q, differs from req, or returns "" when it is the refund requested.
func differences(req *wxrefund.RefundRequest, q *wxrefund.QueryRefundResponse, r wxrefund.RefundRecord) string {
	var d []string
	add := func(differ bool, format string, args ...any) {
		if differ {
			d = append(d, fmt.Sprintf(format, args...))
		}
	}
	add(r.RefundFee != req.RefundFee, "refund_fee %d fen, not %d", r.RefundFee, req.RefundFee)
	add(q.TotalFee != req.TotalFee, "total_fee %d fen, not %d", q.TotalFee, req.TotalFee)
	add(req.OutTradeNo != "" && q.OutTradeNo != req.OutTradeNo, "out_trade_no %s, not %s", q.OutTradeNo, req.OutTradeNo)
	add(req.TransactionID != "" && q.TransactionID != req.TransactionID, "transaction_id %s, not %s", q.TransactionID, req.TransactionID)
	return strings.Join(d, ", ")
}
