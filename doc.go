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
// settle it with [Client.ResolveRefund], which looks it up and sends the
// same request only when WeChat Pay has none (the sweep to run after a
// crash, too). Never allocate a new OutRefundNo for a refund whose outcome
// is unknown.
//
// An accepted refund is PROCESSING; its result arrives as a notification
// ([Client.NotifyHandler]) or through [Client.QueryRefund].
//
// # Errors
//
// Every error is one of five kinds, and errors.Is / errors.As work on all:
//
//   - [*ValidationError] ([ErrInvalidRequest]): refused locally, nothing was
//     sent.
//   - [*TransportError]: no usable answer arrived (connection, timeout, TLS
//     handshake, or a context that was done).
//   - [*MessageError]: an answer or notification arrived but cannot be read
//     or trusted: an HTTP status other than 200, a body that is not flat
//     XML, a signature that does not verify ([ErrSignatureMismatch]), another
//     merchant's ids ([ErrMerchantMismatch]), or content that contradicts the
//     request or itself ([ErrMalformed]).
//   - [*Error]: WeChat Pay reported a failure (see the Code constants,
//     [Error.Retryable] and [Error.Hint]); configuration mistakes it reports,
//     such as a wrong API key, also match [ErrInvalidConfig].
//   - [ErrInvalidConfig], [ErrCertificate], [ErrCertificateRequired]: the
//     Client's own configuration.
//
// For Refund, [ErrOutcomeUnknown] marks those after which the refund may
// exist; [IsRetryable] says when sending the same request again helps.
//
// # Production
//
// Options make a Client fit for production: [WithRetry] resends what is
// safe to resend (never with a new OutRefundNo), [WithFailover] moves to
// WeChat Pay's backup domain on outages, [WithRateLimiter] paces requests
// under WeChat Pay's limits, [WithLogger] and [WithTransportWrapper] let
// logs, metrics and traces see every attempt, [Client.CertificateExpiry]
// warns before the certificate expires. [Client.AllRefunds] walks an
// order's refunds page by page. [Client.NotifyHandler] takes
// [WithNotifyStore], so that a notification WeChat Pay delivers again is
// processed once; a [NotifyClaimer] store shared by all instances (package
// github.com/go-wxpay/wxrefund/sqlstore, on MySQL, PostgreSQL or SQLite)
// makes that hold across them.
//
// # Service providers and reconciliation
//
// A service provider (服务商) sets SubMchID (and optionally SubAppID) on
// each [RefundRequest] and [QueryRefundRequest]; one Client serves all its
// sub-merchants, and notifications name theirs. [Client.DownloadRefundBill]
// streams a day's refund bill row by row, checks that it is this merchant's
// and adds up to its summary, and gives every amount the meaning it has on
// a [RefundResponse] (see [RefundBillRecord]); bills are days in
// [ChinaTime].
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
