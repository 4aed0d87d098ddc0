// Package wxrefund is a client for WeChat Pay API v2 refunds: apply for a
// refund, query refunds, receive refund notifications, and reconcile with
// the day's refund bill. Amounts are int64 fen (0.01 CNY).
//
// A [Client] holds one merchant's AppID, mch_id, 32-character API v2 key
// and API certificate (for mutual TLS); create it once and share it.
//
//	c, err := wxrefund.NewClient(appID, mchID, apiKey,
//		wxrefund.WithPEMFiles("apiclient_cert.pem", "apiclient_key.pem"))
//	...
//	resp, err := c.Refund(ctx, &wxrefund.RefundRequest{
//		OutTradeNo: "ORD20240601123456", OutRefundNo: "RF20240603000001",
//		TotalFee: 5000, RefundFee: 2000,
//	})
//
// The three calls are [Client.Refund], [Client.QueryRefund] and
// [Client.NotifyHandler] (or [Client.DecryptNotify]). OutRefundNo is the
// idempotency key: WeChat Pay refunds at most once per OutRefundNo.
//
// Errors: [Classify] says what to do about any error the package returns
// (fix the request, fix the configuration, send later, send again, give
// up). A Refund error matching [ErrOutcomeUnknown] means the refund may
// exist: send the same request again, never a new OutRefundNo, or settle it
// with [Client.ResolveRefund]. errors.Is and errors.As work on every error;
// the types are [ValidationError], [TransportError], [MessageError] and
// [Error].
//
// Where to go next: [WithRetry], [WithFailover] and [WithRateLimiter] for
// production; [WithNotifyStore] and package
// github.com/go-wxpay/wxrefund/sqlstore for notifications across
// instances; [Client.AllRefunds] and [Client.DownloadRefundBill] for
// reconciliation; package github.com/go-wxpay/wxrefund/wxrefundtest, a fake
// WeChat Pay, for tests. The README has a table of every error and the
// production checklist.
//
// Protocol reference: https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4
// (refund), chapter=9_5 (query), chapter=9_16 (notification), chapter=9_6
// (bill), chapter=4_3 (signature).
package wxrefund
