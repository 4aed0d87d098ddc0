// Command provider shows a service provider (服务商) end to end against the
// fake WeChat Pay of package wxrefundtest, in-process: no network, no
// credentials.
//
//	go run ./examples/provider
//
// The provider's Client refunds orders of two sub-merchants, queries them,
// receives their notifications through one NotifyHandler (each names its
// sub-merchant), sees WeChat Pay refuse a refund that names no sub-merchant,
// and reconciles the day from the refund bill: all the provider's refunds,
// then one sub-merchant's. It exits 0 on success and 1 with a message on any
// failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "provider failed:", err)
		os.Exit(1)
	}
}

// The provider's two sub-merchants, and an order of each.
var orders = []wxrefundtest.Order{
	{OutTradeNo: "ORD-SHOP-A-1", TotalFee: 5000, SubMchID: "1900000201"},
	{OutTradeNo: "ORD-SHOP-B-1", TotalFee: 8000, SubMchID: "1900000202"},
}

// refund is one refund the provider makes, and what it keeps of it.
type refund struct {
	subMchID, outTradeNo, outRefundNo string
	fee                               int64
}

var refunds = []refund{
	{"1900000201", "ORD-SHOP-A-1", "RF-A-1", 2000},
	{"1900000201", "ORD-SHOP-A-1", "RF-A-2", 500},
	{"1900000202", "ORD-SHOP-B-1", "RF-B-1", 8000},
}

func run(ctx context.Context, w io.Writer) error {
	step := func(format string, args ...any) { fmt.Fprintf(w, "• "+format+"\n", args...) }

	// The fake in service-provider mode, serving two sub-merchants.
	fake, err := wxrefundtest.NewServer(wxrefundtest.WithPartner("1900000201", "1900000202"),
		wxrefundtest.WithNotifySchedule(50*time.Millisecond))
	if err != nil {
		return fmt.Errorf("start the fake server: %w", err)
	}
	defer fake.Close()
	for _, o := range orders {
		if err := fake.AddOrder(o); err != nil {
			return err
		}
	}
	// One Client, the provider's credentials and certificate, for all
	// sub-merchants.
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(),
		wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: 50 * time.Millisecond}))...)
	if err != nil {
		return fmt.Errorf("create the client: %w", err)
	}
	defer c.CloseIdleConnections()

	// One notify URL for every sub-merchant: each notification names its own.
	notified := make(chan *wxrefund.RefundNotification, len(refunds))
	var once sync.Map
	h := c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		if _, dup := once.LoadOrStore(n.OutRefundNo, true); !dup {
			notified <- n
		}
		return nil
	}, wxrefund.WithNotifyStore(wxrefund.NewMemoryNotifyStore(wxrefund.DefaultMemoryNotifyEntries, wxrefund.DefaultMemoryNotifyTTL)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed, once the deferred Close runs
	defer func() { _ = srv.Close() }()
	notifyURL := "http://" + ln.Addr().String() + "/wxpay/refund-notify"

	for _, r := range refunds {
		resp, err := c.Refund(ctx, &wxrefund.RefundRequest{SubMchID: r.subMchID, OutTradeNo: r.outTradeNo,
			OutRefundNo: r.outRefundNo, TotalFee: orderTotal(r.outTradeNo), RefundFee: r.fee, NotifyURL: notifyURL})
		if err != nil {
			return fmt.Errorf("refund %s: %w", r.outRefundNo, err)
		}
		step("sub-merchant %s: refund %s of %d fen accepted (refund_id %s)", resp.SubMchID, resp.OutRefundNo, resp.RefundFee, resp.RefundID)
	}

	// A refund that names no sub-merchant: WeChat Pay says what to fix.
	_, err = c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD-SHOP-A-1", OutRefundNo: "RF-A-3",
		TotalFee: 5000, RefundFee: 100})
	if !errors.Is(err, wxrefund.ErrInvalidConfig) {
		return fmt.Errorf("a refund without SubMchID: got %v, want a configuration error", err)
	}
	var we *wxrefund.Error
	errors.As(err, &we)
	step("without SubMchID: %s", we.Hint())

	// Query one sub-merchant's refund; another's is not found there.
	q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{SubMchID: "1900000202", OutRefundNo: "RF-B-1"})
	if err != nil {
		return err
	}
	step("query: %s of sub-merchant %s is %s", q.Refunds[0].OutRefundNo, q.SubMchID, q.Refunds[0].Status)
	if _, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{SubMchID: "1900000202", OutRefundNo: "RF-A-1"}); wxrefund.ErrorCode(err) != wxrefund.CodeRefundNotExist {
		return fmt.Errorf("another sub-merchant's refund: got %v, want REFUNDNOTEXIST", err)
	}

	// WeChat Pay completes the refunds and notifies.
	for _, r := range refunds {
		if err := fake.Complete(r.outRefundNo, wxrefund.RefundStatusSuccess); err != nil {
			return err
		}
	}
	for range refunds {
		select {
		case n := <-notified:
			step("notification: %s of sub-merchant %s is %s", n.OutRefundNo, n.SubMchID, n.Status)
		case <-ctx.Done():
			return fmt.Errorf("waiting for notifications: %w", ctx.Err())
		}
	}

	// Reconcile today's refunds from the bill: the provider's, then one
	// sub-merchant's.
	for _, sub := range []string{"", "1900000201"} {
		want := map[string]int64{}
		for _, r := range refunds {
			if sub == "" || r.subMchID == sub {
				want[r.outRefundNo] = r.fee
			}
		}
		sum, err := c.DownloadRefundBill(ctx, &wxrefund.RefundBillRequest{Date: time.Now(), SubMchID: sub, AllSubMerchants: sub == ""},
			func(row *wxrefund.RefundBillRecord) error {
				fee, ok := want[row.OutRefundNo]
				if !ok || fee != row.RefundFee {
					return fmt.Errorf("bill row %s of %d fen: not a refund of ours", row.OutRefundNo, row.RefundFee)
				}
				delete(want, row.OutRefundNo)
				return nil
			})
		if err != nil {
			return fmt.Errorf("the refund bill: %w", err)
		}
		if len(want) > 0 {
			return fmt.Errorf("refunds missing from the bill: %v", want)
		}
		who := "all sub-merchants"
		if sub != "" {
			who = "sub-merchant " + sub
		}
		step("bill of %s: %d refunds, %d fen, all ours", who, sum.Count, sum.RefundFee)
	}
	return nil
}

func orderTotal(outTradeNo string) int64 {
	for _, o := range orders {
		if o.OutTradeNo == outTradeNo {
			return o.TotalFee
		}
	}
	return 0
}
