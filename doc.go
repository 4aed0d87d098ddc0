// Package wxrefund is a client for WeChat Pay API v2 (XML) refunds: apply for
// a refund, query refunds and receive refund result notifications.
//
// A [Client] holds one merchant's credentials: the AppID, the merchant id
// (mch_id), the 32-character API v2 key and the merchant's API certificate
// for mutual TLS. Create it once and share it; it is safe for concurrent use
// and reuses connections.
//
//	c, err := wxrefund.NewClient(appID, mchID, apiKey,
//		wxrefund.WithPEMFiles("apiclient_cert.pem", "apiclient_key.pem"))
//
//	resp, err := c.Refund(ctx, &wxrefund.RefundRequest{
//		OutTradeNo:  "ORD20240601123456",
//		OutRefundNo: "RF20240603000001", // your idempotency key
//		TotalFee:    5000,               // fen
//		RefundFee:   2000,               // fen
//	})
//
// # Money and idempotency
//
// Amounts are int64 fen (0.01 CNY). OutRefundNo is the idempotency key:
// WeChat Pay refunds at most once per OutRefundNo. A Refund error that
// matches [ErrOutcomeUnknown] (a timeout, a broken connection, an HTTP error,
// an answer that does not verify, or an err_code such as SYSTEMERROR after
// which WeChat Pay's docs say to send the same request again) means the
// refund may exist or is still to be made: retry with the same OutRefundNo
// and amounts ([IsRetryable] says when that helps without a fix first), or
// look it up with [Client.QueryRefund]. Never allocate a new OutRefundNo for
// a refund whose outcome is unknown.
//
// An accepted refund is PROCESSING; its result arrives as a notification
// ([Client.NotifyHandler]) or through [Client.QueryRefund].
//
// # Errors
//
// Failures WeChat Pay reports are an [*Error] (see [Error.Retryable] and the
// Code constants). Requests refused before any network call are a
// [*ValidationError] naming the field. Calls without a usable answer are a
// [*TransportError]. Every response is verified (signature over all its
// fields, appid and mch_id) before it is believed: see [ErrSignatureMismatch]
// and [ErrMerchantMismatch].
//
// # Security
//
// The server certificate is always verified and redirects are never
// followed. Responses and notifications are read with a 64 KiB limit and
// parsed as flat XML documents only (no DOCTYPE, no entities beyond XML's
// own). Signatures are compared in constant time. Neither the API key nor
// the private key appears in errors or in the Client's fmt output.
//
// # Testing
//
// Package [github.com/go-wxpay/wxrefund/wxrefundtest] is a stateful fake of
// the WeChat Pay refund API, with mutual TLS, signatures, business rules and
// encrypted notifications, for testing code that uses this package offline.
//
// Protocol reference: https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4
// (refund), chapter=9_5 (query), chapter=9_16 (notification), chapter=4_3
// (signature).
package wxrefund
