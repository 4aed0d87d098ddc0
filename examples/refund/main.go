// Command refund applies for a WeChat Pay refund and reports its status, with
// credentials from the environment (run it without them to see which).
//
//	go run ./examples/refund -out-trade-no ORD1 -out-refund-no RF1 -total 5000 -refund 2000
//
// It demonstrates the safe retry rule: when the outcome is unknown it retries
// with the same out_refund_no, then queries the refund by that number.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	if err := run(c, &req); err != nil {
		fmt.Fprintln(os.Stderr, "refund:", err)
		os.Exit(1)
	}
}

// retryPause is the base pause between attempts (tests shorten it).
var retryPause = time.Second

func run(c *wxrefund.Client, req *wxrefund.RefundRequest) error {
	ctx := context.Background()
	var resp *wxrefund.RefundResponse
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		resp, err = c.Refund(ctx, req)
		if err == nil || !wxrefund.IsRetryable(err) {
			break
		}
		// Unknown or transient: the same request again, never a new number.
		fmt.Printf("attempt %d: %v; retrying with the same out_refund_no\n", attempt, err)
		time.Sleep(time.Duration(attempt) * retryPause)
	}
	switch {
	case errors.Is(err, wxrefund.ErrInvalidRequest):
		flag.Usage()
		return err
	case errors.Is(err, wxrefund.ErrOutcomeUnknown):
		fmt.Println("outcome still unknown; querying by out_refund_no")
	case err != nil:
		return err
	default:
		fmt.Printf("accepted: refund_id=%s refund_fee=%d fen (cash %d, coupon %d)\n",
			resp.RefundID, resp.RefundFee, resp.CashRefundFee, resp.CouponRefundFee)
	}

	q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: req.OutRefundNo})
	if wxrefund.ErrorCode(err) == wxrefund.CodeRefundNotExist {
		fmt.Println("no such refund: it was not created; it is safe to send it again")
		return nil
	}
	if err != nil {
		return err
	}
	for _, r := range q.Refunds {
		fmt.Printf("%s: %s, %d fen", r.OutRefundNo, r.Status, r.RefundFee)
		if !r.SuccessTime.IsZero() {
			fmt.Printf(", arrived %s", r.SuccessTime.Format(wxrefund.TimeLayout))
		}
		fmt.Println()
	}
	return nil
}
