// Command quickstart shows wxrefund end to end against the fake WeChat Pay
// server of package wxrefundtest, in-process: no network, no credentials.
//
//	go run ./examples/quickstart
//
// It adds a paid order (part of it paid with a coupon), makes two partial
// refunds, survives a refund whose answer was lost (it reads SYSTEMERROR) by
// retrying with the same out_refund_no, shows that resending a refund never
// refunds twice, queries the order's
// refunds, and receives the SUCCESS notifications through NotifyHandler on a
// local listener. It exits 0 on success and 1 with a message on any failure.
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
		fmt.Fprintln(os.Stderr, "quickstart failed:", err)
		os.Exit(1)
	}
}

const (
	orderNo   = "ORD20261125000001"
	refundOne = "RF20261125000001"
	refundTwo = "RF20261125000002"
)

func run(ctx context.Context, w io.Writer) error {
	step := func(format string, args ...any) { fmt.Fprintf(w, "• "+format+"\n", args...) }

	// 1. The fake WeChat Pay: mutual TLS on a loopback port, fresh certificates.
	fake, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(50 * time.Millisecond))
	if err != nil {
		return fmt.Errorf("start the fake server: %w", err)
	}
	defer fake.Close()
	appID, mchID, apiKey := fake.Credentials()

	// 2. The client, exactly as in production but for the fake's URL, CA and
	// merchant certificate.
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		return fmt.Errorf("create the client: %w", err)
	}
	step("fake WeChat Pay at %s; client for appid %s, mch_id %s", fake.URL(), appID, mchID)

	// 3. The merchant's notify URL: NotifyHandler on a local listener. The
	// handler records each refund once, however often it is delivered.
	inbox := newInbox()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for notifications: %w", err)
	}
	srv := &http.Server{Handler: c.NotifyHandler(inbox.record), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // http.ErrServerClosed, once the deferred Close runs
	defer func() { _ = srv.Close() }()
	notifyURL := "http://" + ln.Addr().String() + "/wxpay/refund-notify"
	step("notify handler listening at %s", notifyURL)

	// 4. A paid order: 100.00 CNY, of which 10.00 was a (non-recharge) coupon.
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: orderNo, TotalFee: 10000, CouponFee: 1000}); err != nil {
		return fmt.Errorf("add the order: %w", err)
	}
	step("order %s paid: 10000 fen (1000 of it by coupon)", orderNo)

	// 5. First partial refund: 30.00 CNY, split by WeChat into cash and coupon.
	first := &wxrefund.RefundRequest{OutTradeNo: orderNo, OutRefundNo: refundOne,
		TotalFee: 10000, RefundFee: 3000, RefundDesc: "one item out of stock", NotifyURL: notifyURL}
	r1, err := c.Refund(ctx, first)
	if err != nil {
		return fmt.Errorf("refund %s: %w", refundOne, err)
	}
	step("refund %s accepted as %s: %d fen = %d cash + %d coupon (%d coupon line)",
		r1.OutRefundNo, r1.RefundID, r1.RefundFee, r1.CashRefundFee, r1.CouponRefundFee, len(r1.Coupons))
	if r1.CashRefundFee+r1.CouponRefundFee != r1.RefundFee || r1.CouponRefundFee == 0 {
		return fmt.Errorf("refund %s: cash %d + coupon %d does not make %d", refundOne, r1.CashRefundFee, r1.CouponRefundFee, r1.RefundFee)
	}

	// 6. Second partial refund: WeChat Pay makes it but its answer is lost
	// (it reads SYSTEMERROR), so for the merchant the outcome is unknown. The
	// only safe move is the same request again: same out_refund_no, same
	// amounts. A new out_refund_no here would refund twice.
	fake.LoseNext(wxrefund.CodeSystemError, 1)
	second := &wxrefund.RefundRequest{OutTradeNo: orderNo, OutRefundNo: refundTwo,
		TotalFee: 10000, RefundFee: 2000, NotifyURL: notifyURL}
	_, err = c.Refund(ctx, second)
	if !errors.Is(err, wxrefund.ErrOutcomeUnknown) {
		return fmt.Errorf("refund %s: want an unknown outcome from the lost answer, got %v", refundTwo, err)
	}
	step("refund %s: %v", refundTwo, err)
	made, ok := fake.RefundState(refundTwo)
	if !ok {
		return fmt.Errorf("refund %s: the fake did not make the refund whose answer it lost", refundTwo)
	}
	r2, err := c.Refund(ctx, second)
	if err != nil {
		return fmt.Errorf("refund %s, retried: %w", refundTwo, err)
	}
	if r2.RefundID != made.RefundID {
		return fmt.Errorf("refund %s, retried: got refund_id %s, want the one already made, %s", refundTwo, r2.RefundID, made.RefundID)
	}
	step("retried with the same out_refund_no: accepted as %s, %d fen, the refund WeChat Pay had already made", r2.RefundID, r2.RefundFee)

	// 7. Idempotency: resending the first refund returns the same refund and
	// refunds nothing more.
	again, err := c.Refund(ctx, first)
	if err != nil {
		return fmt.Errorf("refund %s, resent: %w", refundOne, err)
	}
	if again.RefundID != r1.RefundID {
		return fmt.Errorf("refund %s resent: got refund_id %s, want %s", refundOne, again.RefundID, r1.RefundID)
	}
	var refunded int64
	for _, st := range fake.Refunds(orderNo) {
		refunded += st.RefundFee
	}
	if refunded != 5000 {
		return fmt.Errorf("order %s: %d fen refunded in total, want 5000", orderNo, refunded)
	}
	step("resent %s: same refund_id %s; the order has %d fen refunded in total, not more", refundOne, again.RefundID, refunded)

	// 8. Query the order's refunds: both are still processing.
	if err := printQuery(ctx, c, w, "query before completion"); err != nil {
		return err
	}

	// 9. WeChat completes the refunds and notifies the merchant.
	for _, no := range []string{refundOne, refundTwo} {
		if err := fake.Complete(no, wxrefund.RefundStatusSuccess); err != nil {
			return fmt.Errorf("complete %s: %w", no, err)
		}
	}
	for _, no := range []string{refundOne, refundTwo} {
		n, err := inbox.wait(ctx, no)
		if err != nil {
			return err
		}
		step("notification for %s: %s, %d fen to %q at %s", n.OutRefundNo, n.Status, n.RefundFee,
			n.RecvAccount, n.SuccessTime.Format(wxrefund.TimeLayout))
	}
	// The fake records a delivery once the handler's reply reached it.
	for _, no := range []string{refundOne, refundTwo} {
		d, err := fake.WaitNotified(ctx, no)
		if err != nil {
			return err
		}
		step("the fake recorded the acknowledgement of %s (attempt %d)", no, d.Attempt)
	}

	// 10. The query agrees.
	if err := printQuery(ctx, c, w, "query after completion"); err != nil {
		return err
	}
	fmt.Fprintln(w, "quickstart: OK")
	return nil
}

func printQuery(ctx context.Context, c *wxrefund.Client, w io.Writer, title string) error {
	q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: orderNo})
	if err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	fmt.Fprintf(w, "• %s: order %s, %d fen paid, %d refunds\n", title, q.OutTradeNo, q.TotalFee, len(q.Refunds))
	if len(q.Refunds) != 2 {
		return fmt.Errorf("%s: want 2 refunds, got %d", title, len(q.Refunds))
	}
	for _, r := range q.Refunds {
		fmt.Fprintf(w, "    %s  %-10s %5d fen (coupon %d)", r.OutRefundNo, r.Status, r.RefundFee, r.CouponRefundFee)
		if !r.SuccessTime.IsZero() {
			fmt.Fprintf(w, "  arrived %s", r.SuccessTime.Format(wxrefund.TimeLayout))
		}
		fmt.Fprintln(w)
	}
	return nil
}

// inbox stands in for the merchant's database.
type inbox struct {
	mu      sync.Mutex
	got     map[string]*wxrefund.RefundNotification
	changed chan struct{}
}

func newInbox() *inbox {
	return &inbox{got: map[string]*wxrefund.RefundNotification{}, changed: make(chan struct{}, 1)}
}

// record is the NotifyHandler callback: idempotent, and it returns nil only
// once the notification is stored.
func (b *inbox) record(_ context.Context, n *wxrefund.RefundNotification) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.got[n.OutRefundNo]; !dup {
		b.got[n.OutRefundNo] = n
	}
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return nil
}

func (b *inbox) wait(ctx context.Context, outRefundNo string) (*wxrefund.RefundNotification, error) {
	for {
		b.mu.Lock()
		n := b.got[outRefundNo]
		b.mu.Unlock()
		if n != nil {
			return n, nil
		}
		select {
		case <-b.changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("no notification for %s: %w", outRefundNo, ctx.Err())
		}
	}
}
