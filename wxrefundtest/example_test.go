package wxrefundtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// A refund through wxrefund.Client against the fake, completed on demand,
// with its notification delivered to the merchant's handler.
func ExampleNewServer() {
	s, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000, CouponFee: 500}); err != nil {
		log.Fatal(err)
	}

	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan *wxrefund.RefundNotification, 1)
	notify := httptest.NewServer(c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		done <- n
		return nil
	}))
	defer notify.Close()

	ctx := context.Background()
	r, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1",
		TotalFee: 5000, RefundFee: 2000, NotifyURL: notify.URL})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refunded", r.RefundFee, "of which coupon", r.CouponRefundFee)

	if err := s.Complete("RF1", wxrefund.RefundStatusSuccess); err != nil {
		log.Fatal(err)
	}
	n := <-done
	fmt.Println("notified", n.OutRefundNo, n.Status)
	// Output:
	// refunded 2000 of which coupon 200
	// notified RF1 SUCCESS
}

// Injecting a failure: the next refund call answers SYSTEMERROR, whose
// outcome a client must treat as unknown.
func ExampleServer_FailNext() {
	s, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 100}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}

	s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 100, RefundFee: 100}
	_, err = c.Refund(context.Background(), req)
	fmt.Println(wxrefund.ErrorCode(err), errors.Is(err, wxrefund.ErrOutcomeUnknown))
	_, err = c.Refund(context.Background(), req) // the same request again
	fmt.Println(err, len(s.Refunds("ORD1")))
	// Output:
	// SYSTEMERROR true
	// <nil> 1
}

// Losing answers: the refund is applied, but the client first gets
// SYSTEMERROR and then no answer at all, so it cannot tell. Retrying with the
// same OutRefundNo and amounts returns the refund that was applied the first
// time.
func ExampleServer_LoseNext() {
	s, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 100}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}

	s.LoseNext(wxrefund.CodeSystemError, 1)
	s.LoseNext("", 1) // then drop the connection
	ctx := context.Background()
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 100, RefundFee: 100}
	_, err = c.Refund(ctx, req)
	fmt.Println(wxrefund.ErrorCode(err), errors.Is(err, wxrefund.ErrOutcomeUnknown))
	_, err = c.Refund(ctx, req)
	fmt.Println(errors.Is(err, wxrefund.ErrOutcomeUnknown))

	applied, _ := s.RefundState("RF1") // the fake knows better
	r, err := c.Refund(ctx, req)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.RefundID == applied.RefundID, len(s.Refunds("ORD1")))
	// Output:
	// SYSTEMERROR true
	// true
	// true 1
}

// Testing a notify handler offline, without a server.
func ExampleEncryptNotify() {
	const key = "0123456789abcdef0123456789abcdef"
	body, err := wxrefundtest.EncryptNotify(key, map[string]string{
		"out_refund_no": "RF1", "refund_id": "50300000000000000000000000001",
		"refund_status": "SUCCESS", "refund_fee": "100", "total_fee": "100",
		"success_time": "2024-06-03 10:15:42",
	}, "wx8888888888888888", "1900000109")
	if err != nil {
		log.Fatal(err)
	}

	c, err := wxrefund.NewClient("wx8888888888888888", "1900000109", key)
	if err != nil {
		log.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		fmt.Println(n.OutRefundNo, n.Status, n.RefundFee)
		return nil
	}).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body)))
	fmt.Println(rec.Code)
	// Output:
	// RF1 SUCCESS 100
	// 200
}

// A generated refund bill, as SetBill serves it to downloads of that day: a
// million rows stream in the same small memory as these two.
func ExampleServer_SyntheticRefundBill() {
	s, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	date := time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	s.SetBill(date, s.SyntheticRefundBill(date, 1_000_000))

	if err := s.SyntheticRefundBill(date, 2)(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注
	// `2024-06-03 00:00:00,`wx8888888888888888,`1900000109,`0,`,`4200202406030000000000000000,`SYNO0000000000,`,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2024-06-03 00:00:00,`2024-06-03 00:00:00,`50300202406030000000000000000,`SYNR0000000000,`0.01,`0.00,`ORIGINAL,`SUCCESS,`,`,`0.00000,`0.60%,`0.00,`0.01,`
	// `2024-06-03 23:59:59,`wx8888888888888888,`1900000109,`0,`,`4200202406030000000000000001,`SYNO0000000001,`,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2024-06-03 23:59:59,`2024-06-03 23:59:59,`50300202406030000000000000001,`SYNR0000000001,`0.02,`0.00,`ORIGINAL,`SUCCESS,`,`,`0.00000,`0.60%,`0.00,`0.02,`
	// 总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额
	// `2,`0.00,`0.03,`0.00,`0.00000,`0.00,`0.03
}

// Failover between the fake's two domains: a 502 page from the primary
// sends the refund to the backup, which shares the ledger.
func ExampleServer_FaultNext() {
	s, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 100}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key,
		append(s.ClientOptions(), wxrefund.WithFailover(s.BackupURL()))...)
	if err != nil {
		log.Fatal(err)
	}

	s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefund, wxrefundtest.StatusFault(502), 1)
	_, err = c.Refund(context.Background(), &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1",
		TotalFee: 100, RefundFee: 100})
	fmt.Println(err)
	for _, r := range s.Requests() {
		fmt.Println(r.Domain, r.Path, r.Fault)
	}
	// Output:
	// <nil>
	// api /secapi/pay/refund 502
	// api2 /secapi/pay/refund
}

// Waiting for a notification to be acknowledged, without polling.
func ExampleServer_WaitNotified() {
	s, err := wxrefundtest.NewServer(wxrefundtest.WithAutoComplete(time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	if err := s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 100}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	notify := httptest.NewServer(c.NotifyHandler(func(context.Context, *wxrefund.RefundNotification) error {
		return nil // record the refund's outcome here
	}))
	defer notify.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1",
		TotalFee: 100, RefundFee: 100, NotifyURL: notify.URL}); err != nil {
		log.Fatal(err)
	}
	d, err := s.WaitNotified(ctx, "RF1") // WithAutoComplete completes it
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.OutRefundNo, d.Attempt, d.OK())
	// Output:
	// RF1 1 true
}

// A notification body from the SDK's own type, for a handler test.
func ExampleServer_EncryptNotify() {
	s, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	body, err := s.EncryptNotify(wxrefund.RefundNotification{
		OutTradeNo: "ORD1", OutRefundNo: "RF1", RefundID: "50300000000000000000000000001",
		TotalFee: 100, RefundFee: 100, Status: wxrefund.RefundStatusSuccess,
	})
	if err != nil {
		log.Fatal(err)
	}
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key)
	if err != nil {
		log.Fatal(err)
	}
	n, err := c.DecryptNotify(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(n.OutRefundNo, n.Status, n.RefundFee)
	// Output:
	// RF1 SUCCESS 100
}
