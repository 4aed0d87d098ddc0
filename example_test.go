package wxrefund_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func ExampleNewClient() {
	// The merchant's credentials: AppID, mch_id, the 32-character API v2 key
	// and the API certificate (apiclient_cert.pem + apiclient_key.pem).
	_, err := wxrefund.NewClient("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ab",
		wxrefund.WithPEMFiles("testdata/no-such-dir/apiclient_cert.pem", "testdata/no-such-dir/apiclient_key.pem"))

	// Certificates load eagerly: a wrong path fails here, not at the first refund.
	fmt.Println(errors.Is(err, wxrefund.ErrCertificate))

	// Without a certificate the Client can still query and decrypt notifications.
	c, err := wxrefund.NewClient("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ab")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c) // never prints the API key
	// Output:
	// true
	// wxrefund.Client{appid=wx8888888888888888 mch_id=1900000109 base=https://api.mch.weixin.qq.com sign_type=MD5 certificate=false}
}

func ExampleClient_Refund() {
	// The fake WeChat Pay (package wxrefundtest) stands in for
	// api.mch.weixin.qq.com, with one paid order.
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	ctx := context.Background()

	req := &wxrefund.RefundRequest{
		OutTradeNo:  "ORD20240601123456",
		OutRefundNo: "RF20240603000001", // store it first: it is the idempotency key
		TotalFee:    5000,               // fen
		RefundFee:   2000,               // fen
	}
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1) // simulate a WeChat hiccup

	resp, err := c.Refund(ctx, req)
	// Resend only when IsRetryable says so (not after NOTENOUGH or
	// REFUND_FEE_MISMATCH, which need a top-up or a query first), always the
	// same request, pausing longer each time, and never once ctx is done.
	pause := 50 * time.Millisecond // in production: a second or more, with jitter
	for attempt := 1; wxrefund.IsRetryable(err) && ctx.Err() == nil && attempt < 4; attempt++ {
		fmt.Println("attempt", attempt, "failed, sending the same request again:", wxrefund.ErrorCode(err))
		time.Sleep(pause)
		pause *= 2
		resp, err = c.Refund(ctx, req)
	}
	switch wxrefund.Classify(err) {
	case wxrefund.Succeeded:
		fmt.Println("accepted:", resp.OutRefundNo, resp.RefundFee)
	case wxrefund.SendAgain, wxrefund.SendLater:
		// The refund may exist: keep it pending and settle it later with
		// ResolveRefund. Never allocate a new OutRefundNo.
		fmt.Println("pending:", err)
	case wxrefund.GiveUp:
		fmt.Println("not refunded:", err) // final for this request
	default: // FixRequest, FixConfiguration: a person must fix something
		fmt.Println("fix first:", err)
	}
	// Output:
	// attempt 1 failed, sending the same request again: SYSTEMERROR
	// accepted: RF20240603000001 2000
}

func ExampleClient_QueryRefund() {
	// The fake WeChat Pay (package wxrefundtest) stands in for
	// api.mch.weixin.qq.com, with one paid order.
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	ctx := context.Background()

	for _, no := range []string{"RF20240603000001", "RF20240603000002"} {
		_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD20240601123456",
			OutRefundNo: no, TotalFee: 5000, RefundFee: 1000})
		if err != nil {
			log.Fatal(err)
		}
	}
	if err := fake.Complete("RF20240603000001", wxrefund.RefundStatusSuccess); err != nil {
		log.Fatal(err)
	}

	q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD20240601123456"})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range q.Refunds {
		fmt.Println(r.OutRefundNo, r.Status, r.RefundFee, r.Status.Final())
	}

	// A refund that was never created:
	_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "RF-NEVER-SENT"})
	fmt.Println(wxrefund.ErrorCode(err) == wxrefund.CodeRefundNotExist)
	// Output:
	// RF20240603000001 SUCCESS 1000 true
	// RF20240603000002 PROCESSING 1000 false
	// true
}

func ExampleClient_NotifyHandler() {
	c, err := wxrefund.NewClient("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ab")
	if err != nil {
		log.Fatal(err)
	}
	h := c.NotifyHandler(func(ctx context.Context, n *wxrefund.RefundNotification) error {
		// Store the result idempotently, then return nil: only then does
		// WeChat Pay get SUCCESS and stop delivering.
		fmt.Println("refund", n.OutRefundNo, n.Status, n.RefundFee)
		return nil
	})
	srv := httptest.NewServer(h) // in production: http.Handle("/wxpay/refund-notify", h)
	defer srv.Close()

	// What WeChat Pay would POST (built here with the test helper).
	body, err := wxrefundtest.EncryptNotify("Illustr8tiveApiV2Key0123456789Ab", map[string]string{
		"out_refund_no": "RF20240603000001", "out_trade_no": "ORD20240601123456",
		"transaction_id": "4200001234202406011234567890", "refund_id": "50300012345202406031234567890",
		"total_fee": "5000", "refund_fee": "2000", "settlement_refund_fee": "2000",
		"refund_status": "SUCCESS", "success_time": "2024-06-03 10:15:42",
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
		"refund_request_source": "API",
	}, "wx8888888888888888", "1900000109")
	if err != nil {
		log.Fatal(err)
	}
	resp, err := http.Post(srv.URL, "text/xml", strings.NewReader(string(body)))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(reply))
	// Output:
	// refund RF20240603000001 SUCCESS 2000
	// 200 <xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>
}

func ExampleClient_DecryptNotify() {
	c, err := wxrefund.NewClient("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ab")
	if err != nil {
		log.Fatal(err)
	}
	// A body whose req_info was encrypted with another API key:
	body, _ := wxrefundtest.EncryptNotify("AnotherApiV2Key0123456789Abcdef0", map[string]string{
		"out_refund_no": "RF1", "refund_status": "SUCCESS", "refund_fee": "1", "total_fee": "1",
	}, "wx8888888888888888", "1900000109")
	_, err = c.DecryptNotify(body)
	fmt.Println(errors.Is(err, wxrefund.ErrDecrypt))
	// Output:
	// true
}

func ExampleWithRetry() {
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(),
		// In production: a few attempts, a pause of a second or more.
		wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond}))...)
	if err != nil {
		log.Fatal(err)
	}
	// WeChat Pay makes the refund but its answer is lost on the way.
	fake.LoseNext(wxrefund.CodeSystemError, 1)

	// A deadline bounds the whole call, retries included.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Refund(ctx, &wxrefund.RefundRequest{
		OutTradeNo: "ORD20240601123456", OutRefundNo: "RF20240603000001", TotalFee: 5000, RefundFee: 2000})
	if err != nil {
		log.Fatal(err) // errors.Is(err, wxrefund.ErrOutcomeUnknown): keep it pending, query it later
	}
	// The second attempt, with the same OutRefundNo, found the refund made.
	fmt.Println(resp.OutRefundNo, resp.RefundFee, len(fake.Refunds("ORD20240601123456")))
	// Output:
	// RF20240603000001 2000 1
}

func ExampleClient_AllRefunds() {
	// The fake WeChat Pay (package wxrefundtest) stands in for
	// api.mch.weixin.qq.com, with one paid order.
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	ctx := context.Background()
	for i := range 12 {
		_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD20240601123456",
			OutRefundNo: fmt.Sprintf("RF%02d", i), TotalFee: 5000, RefundFee: 100})
		if err != nil {
			log.Fatal(err)
		}
	}
	// Twelve refunds come in two pages; AllRefunds reads both.
	n, sum := 0, int64(0)
	for r, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD20240601123456"}) {
		if err != nil {
			log.Fatal(err)
		}
		n, sum = n+1, sum+r.RefundFee
	}
	fmt.Println(n, "refunds,", sum, "fen")
	// Output:
	// 12 refunds, 1200 fen
}

func ExampleClient_DownloadRefundBill() {
	// The fake WeChat Pay (package wxrefundtest) stands in for
	// api.mch.weixin.qq.com, with one paid order.
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	ctx := context.Background()
	for i, fee := range []int64{2000, 500} {
		if _, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD20240601123456",
			OutRefundNo: fmt.Sprintf("RF2024060300000%d", i+1), TotalFee: 5000, RefundFee: fee}); err != nil {
			log.Fatal(err)
		}
	}
	// Yesterday's bill in production (bills are made the next morning); the
	// fake serves today's.
	sum, err := c.DownloadRefundBill(ctx, &wxrefund.RefundBillRequest{Date: time.Now()},
		func(r *wxrefund.RefundBillRecord) error {
			fmt.Println(r.OutRefundNo, r.RefundFee, r.Status)
			return nil // compare with your records here
		})
	switch {
	case errors.Is(err, wxrefund.ErrBillNotFound):
		fmt.Println("no refunds that day")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println(sum.Count, "refunds,", sum.RefundFee, "fen")
	}
	// Output:
	// RF20240603000001 2000 PROCESSING
	// RF20240603000002 500 PROCESSING
	// 2 refunds, 2500 fen
}

// The restart sweep: a refund recorded as sent whose answer was lost is
// found, not sent twice; one that never reached WeChat Pay is sent.
func ExampleClient_ResolveRefund() {
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		log.Fatal(err)
	}
	defer fake.Close()
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000}); err != nil {
		log.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	lost := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 1000}
	fake.LoseNext("", 1) // WeChat Pay applies it; the answer never arrives
	if _, err := c.Refund(ctx, lost); !errors.Is(err, wxrefund.ErrOutcomeUnknown) {
		log.Fatal(err)
	}
	never := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF2", TotalFee: 5000, RefundFee: 500}

	// After a restart: every refund your records left "sent".
	for _, req := range []*wxrefund.RefundRequest{lost, never} {
		res, err := c.ResolveRefund(ctx, req)
		var conflict *wxrefund.RefundConflictError
		switch {
		case errors.As(err, &conflict):
			fmt.Println(req.OutRefundNo, "is another refund:", conflict.Field) // a person must look
		case err != nil:
			fmt.Println(req.OutRefundNo, "still unsettled; sweep again later:", err)
		default:
			fmt.Println(req.OutRefundNo, res.Refund.Status, res.Refund.RefundFee, "sent now:", res.Sent)
		}
	}
	// Output:
	// RF1 PROCESSING 1000 sent now: false
	// RF2 PROCESSING 500 sent now: true
}

// Classify turns any error of the package into what to do.
func ExampleClassify() {
	for _, err := range []error{
		nil,
		&wxrefund.ValidationError{Field: "RefundFee", Reason: "must be positive"},
		&wxrefund.Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: wxrefund.CodeSignError},
		&wxrefund.Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: wxrefund.CodeSystemError},
		&wxrefund.Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: wxrefund.CodeTradeOverdue},
	} {
		fmt.Println(wxrefund.Classify(err))
	}
	// Output:
	// Succeeded
	// FixRequest
	// FixConfiguration
	// SendAgain
	// GiveUp
}
