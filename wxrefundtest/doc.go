// Package wxrefundtest provides a stateful fake of the WeChat Pay API v2
// refund endpoints for tests, in the spirit of net/http/httptest.
//
// NewServer starts an HTTPS server on a free loopback port with a fresh CA,
// server certificate and merchant client certificate, all generated in
// memory. It implements apply refund (/secapi/pay/refund, which refuses
// requests without the merchant certificate like WeChat Pay's nginx does) and
// refund query (/pay/refundquery), plus the refund bill of statement
// download (/pay/downloadbill): it checks signatures (MD5 or HMAC-SHA256),
// signs every answer, keeps orders and refunds in memory, enforces the
// business rules (order totals, refundable amounts, 50 refunds per order,
// the one-year refund window, the merchant balance, out_refund_no
// idempotency), splits refunds of coupon orders into cash and coupon parts,
// pages refund queries, and delivers encrypted refund notifications on
// WeChat Pay's redelivery schedule until the merchant acknowledges them.
//
// A test adds the orders it needs, points a client at the server and drives
// refunds to a final status:
//
//	s, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(time.Millisecond))
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(s.Close)
//	s.AddOrder(wxrefundtest.Order{OutTradeNo: "ORDER1", TotalFee: 5000})
//
//	appID, mchID, key := s.Credentials()
//	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
//	...
//	_, err = c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORDER1",
//		OutRefundNo: "R1", TotalFee: 5000, RefundFee: 2000, NotifyURL: notifyURL})
//	...
//	s.Complete("R1", wxrefund.RefundStatusSuccess) // or WithAutoComplete
//	// the notification is POSTed to notifyURL; s.Deliveries() lists the attempts
//
// Failures are injected with FailNext (a signed result_code FAIL such as
// SYSTEMERROR for the next calls, which change nothing), WithBalance/SetBalance
// (NOTENOUGH) and WithClock (TRADE_OVERDUE); Redeliver sends a duplicate
// notification. EncryptNotify builds a notification body offline, for
// testing a notify handler without a server.
//
// LoseNext simulates the dangerous case of a refund that WeChat Pay accepted
// although the merchant never learned it: the next accepted refunds are
// applied (and later notified) as usual, but answered with a result_code
// FAIL such as SYSTEMERROR, or not answered at all, as after a timeout. A
// merchant that treats the outcome as unknown and retries with the same
// out_refund_no and amounts gets the refund that already exists; one that
// marks the refund failed keeps a refund it does not know about, and one that
// retries with a new out_refund_no refunds twice.
//
// WithPartner makes the fake a service provider (服务商) whose sub-merchants
// own the orders: requests must name a sub_mch_id the provider serves, each
// sub-merchant sees only its own orders and refunds, answers echo sub_mch_id
// and sub_appid, and notifications carry them as outer fields (see
// WithPartner for the return_code FAIL answers WeChat Pay gives when they
// are missing or wrong).
//
// The refund bill (/pay/downloadbill with bill_type REFUND) lists the refunds
// accepted on bill_date in China time, as a CSV-like text (or its gzip with
// tar_type GZIP) in the current 29-column layout or, with
// WithBillLayout(BillLayoutLegacy), the legacy 26-column one: a header line,
// one line per refund with a backtick before each field, a summary header
// and a summary line with the totals of the lines, each line ending in "\n".
// In partner mode a sub_mch_id selects one sub-merchant's refunds. Columns
// the fake knows nothing about (device, openid, product name, attach) are
// empty; payment columns are 0.00 on refund lines, as in WeChat Pay's
// samples; 交易类型 is JSAPI, 付款银行 CFT and 退款类型 ORIGINAL. 退款金额
// is the refund less its coupon part in the current layout (the fake's
// coupons are non-recharge ones, so 充值券退款金额 is 0.00 and 申请退款金额 is
// the whole refund_fee), and the whole refund_fee in the legacy layout, next
// to its coupon part in 代金券或立减优惠退款金额. WeChat Pay serves the
// legacy layout only to merchants without non-recharge coupons, so
// wxrefund reads that column as recharge coupons (settled with the refund):
// test coupons with the current layout. 手续费 (five decimals) is the
// fee given back on the refund: minus 0.60% of the refund less its coupon
// part, rounded half up to the fen. SetBill and SyntheticRefundBill serve a
// bill of any size, streamed; FailNextBill injects failures such as
// "Bill Creating". Only bill_type REFUND is served: ALL (the default),
// SUCCESS and RECHARGE_REFUND answer a FAIL that says so.
//
// Everything is also reachable over a JSON admin API under /fake/ on the
// same handler (see Server.Handler), so a standalone program can run the
// fake at a fixed address (WithAddr) for clients in other languages, which
// trust CACertPEM and present MerchantCertPEM.
//
// The fake answers like WeChat Pay's documentation and observed behaviour:
//
//   - unsigned return_code FAIL for requests refused before any business
//     logic: malformed XML ("XML格式错误"), a missing or wrong sign
//     ("签名错误"), an unknown sign_type, and a missing or malformed field
//     such as "invalid refund_fee" (also when refund_fee exceeds total_fee);
//   - HTTP 400 with nginx's "400 No required SSL certificate was sent" page
//     for /secapi/pay/refund without a client certificate, and HTTP 413 for
//     bodies over 64 KiB;
//   - a signed result_code FAIL with an err_code for everything else:
//     REQUIRE_POST_METHOD, MCHID_NOT_EXIST, APPID_NOT_EXIST, PARAM_ERROR (no
//     order id; a refund_fee_type other than CNY; a query without an id, with
//     a bad offset or one past the last refund), ORDERNOTEXIST,
//     INVALID_REQUEST (total_fee not the order's total; refund_fee above what
//     is left; a 51st refund; an out_refund_no already used on another
//     order), ERROR (the order is fully refunded), TRADE_OVERDUE, NOTENOUGH,
//     REFUND_FEE_MISMATCH, REFUNDNOTEXIST, and whatever FailNext and
//     LoseNext inject;
//   - no answer at all, the connection closed (HTTP/1) or the stream reset
//     (HTTP/2), for an accepted refund whose answer LoseNext("", n) drops.
//
// A bill download that fails is answered, never gzipped, with an unsigned
// <xml> of return_code FAIL, return_msg and error_code: "No Bill Exist"
// (20002) for a day without refunds, and with error_code 20001 "invalid
// bill_date", "invalid bill_type", "invalid tar_type, Only GZIP supported",
// "missing parameter", "nonce_str too long", "SIGN ERROR", "data format
// error", "empty post data", "require POST method", "invalid appid",
// "invalid mch_id" and "invalid sign_type" (the last two are the fake's own
// words), the sub-merchant messages of WithPartner, and the unsupported
// bill types; or with what FailNextBill injects.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 (apply
// refund), chapter=9_5 (refund query), chapter=9_16 (notification) and
// chapter=9_6 (statement download), and the same chapters of
// https://pay.weixin.qq.com/wiki/doc/api/jsapi_sl.php for service providers.
package wxrefundtest
