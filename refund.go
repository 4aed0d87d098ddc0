package wxrefund

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Refund account values for RefundRequest.RefundAccount.
const (
	// RefundAccountUnsettledFunds refunds from unsettled funds, the default.
	RefundAccountUnsettledFunds = "REFUND_SOURCE_UNSETTLED_FUNDS"
	// RefundAccountRechargeFunds refunds from the available (basic account)
	// balance. It matters only to merchants on the old fund flow.
	RefundAccountRechargeFunds = "REFUND_SOURCE_RECHARGE_FUNDS"
)

// RefundRequest is one refund of a paid order. Amounts are integer fen
// (0.01 CNY).
//
// OutRefundNo is the idempotency key: WeChat Pay refunds at most once per
// OutRefundNo. Store it with the amounts before calling Refund, and after any
// failure whose outcome is unknown send the same request again, never a new
// OutRefundNo.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 (request parameters).
type RefundRequest struct {
	TransactionID string // WeChat order id; set exactly one of TransactionID and OutTradeNo
	OutTradeNo    string // merchant order id
	OutRefundNo   string // merchant refund id, 1-64 of [0-9A-Za-z_-|*@]; reuse it to retry the same refund
	TotalFee      int64  // the order's total, fen (not what remains of it)
	RefundFee     int64  // this refund, fen; 0 < RefundFee <= TotalFee
	RefundFeeType string // ISO 4217 currency; "" means CNY
	RefundDesc    string // optional, at most 80 characters; shown to the payer (not for partial refunds of 1 CNY or less)
	RefundAccount string // "", RefundAccountUnsettledFunds or RefundAccountRechargeFunds
	NotifyURL     string // optional; overrides the platform's refund notify URL; no query string

	// Service-provider (服务商) mode: the Client holds the provider's
	// appid, mch_id, API key and certificate, and SubMchID names the
	// sub-merchant that owns the order; SubAppID, optional, the
	// sub-merchant's AppID. Empty for a direct merchant.
	SubMchID string
	SubAppID string
}

// RefundResponse is WeChat Pay's acceptance of a refund. Acceptance is not
// completion: the refund is PROCESSING until a notification or QueryRefund
// reports SUCCESS, REFUNDCLOSE or CHANGE.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 (response parameters).
type RefundResponse struct {
	TransactionID, OutTradeNo, OutRefundNo, RefundID, RefundChannel string
	TotalFee, RefundFee, SettlementTotalFee, SettlementRefundFee    int64
	CashFee, CashRefundFee, CouponRefundFee                         int64
	FeeType                                                         string
	CashFeeType                                                     string
	Coupons                                                         []Coupon // coupon_type_$n, coupon_refund_id_$n, coupon_refund_fee_$n
	SubMchID, SubAppID                                              string   // echoed in service-provider mode

	// Raw holds every field of the verified response, for fields this
	// package does not model yet.
	Raw map[string]string
}

// Coupon is the part of a refund attributed to one coupon.
type Coupon struct {
	ID   string
	Type string // CASH or NO_CASH
	Fee  int64  // fen
}

// Coupon types.
const (
	CouponTypeCash   = "CASH"    // recharge coupon
	CouponTypeNoCash = "NO_CASH" // non-recharge coupon
)

// Refund asks WeChat Pay to refund (part of) a paid order, over mutual TLS at
// /secapi/pay/refund.
//
// The request is checked before any network call (errors match
// ErrInvalidRequest and name the field). A Client without a certificate
// returns ErrCertificateRequired.
//
// An error after which the refund may exist matches [ErrOutcomeUnknown],
// whose documentation has the rule for every failure: send the same request
// again, or settle it with [Client.ResolveRefund]. [Classify] says what to
// do about any error. Other business failures are an *Error with the
// err_code and, where it helps, a Hint.
//
// Nothing is sent, and the error matches the context's error but not
// ErrOutcomeUnknown, when ctx is already done; a context that ends during
// the call gives an error that matches both.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4.
func (c *Client) Refund(ctx context.Context, req *RefundRequest) (*RefundResponse, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if !c.hasCert {
		return nil, ErrCertificateRequired
	}
	params := c.refundParams(req)
	var resp *RefundResponse
	err := c.call(ctx, opRefund, pathRefund, params[:], func(f map[string]string) (err error) {
		resp, err = parseRefundResponse(f, req)
		return err
	})
	if err != nil {
		return nil, refundOutcome(err)
	}
	return resp, nil
}

// refundParams are the parameters of a refund request, in the byte order of
// their names (TestRequestParamsSorted checks it).
func (c *Client) refundParams(req *RefundRequest) [15]param {
	return [...]param{
		{name: "appid", value: c.appID},
		{name: "mch_id", value: c.mchID},
		{name: "nonce_str", value: c.nonce()},
		{name: "notify_url", value: req.NotifyURL},
		{name: "out_refund_no", value: req.OutRefundNo},
		{name: "out_trade_no", value: req.OutTradeNo},
		{name: "refund_account", value: req.RefundAccount},
		{name: "refund_desc", value: req.RefundDesc},
		{name: "refund_fee", num: req.RefundFee, isNum: true},
		{name: "refund_fee_type", value: req.RefundFeeType},
		c.signTypeParam(),
		{name: "sub_appid", value: req.SubAppID},
		{name: "sub_mch_id", value: req.SubMchID},
		{name: "total_fee", num: req.TotalFee, isNum: true},
		{name: "transaction_id", value: req.TransactionID},
	}
}

// parseRefundResponse builds the typed response from a verified field map of
// an accepted refund, and checks it against the request it answers: every
// id and amount the request fixed comes back unchanged (a different amount
// or order would be another refund), refund_id is present, no amount is
// negative, and the parts add up (settlement and coupon parts at most the
// whole, the coupons to coupon_refund_fee, cash plus coupon to refund_fee).
func parseRefundResponse(f map[string]string, req *RefundRequest) (*RefundResponse, error) {
	p := fieldParser{fields: f}
	r := &RefundResponse{
		TransactionID:       f["transaction_id"],
		OutTradeNo:          f["out_trade_no"],
		OutRefundNo:         f["out_refund_no"],
		RefundID:            f["refund_id"],
		RefundChannel:       f["refund_channel"],
		TotalFee:            p.amount("total_fee"),
		RefundFee:           p.amount("refund_fee"),
		SettlementTotalFee:  p.amount("settlement_total_fee"),
		SettlementRefundFee: p.amount("settlement_refund_fee"),
		CashFee:             p.amount("cash_fee"),
		CashRefundFee:       p.amount("cash_refund_fee"),
		CouponRefundFee:     p.amount("coupon_refund_fee"),
		FeeType:             f["fee_type"],
		CashFeeType:         f["cash_fee_type"],
		Coupons:             p.coupons("coupon_refund_count"),
		SubMchID:            f["sub_mch_id"],
		SubAppID:            f["sub_appid"],
		Raw:                 f,
	}
	if err := checkSubEcho(f, req.SubMchID, req.SubAppID); err != nil {
		return nil, err
	}
	p.require("refund_id")
	const notEchoed = "does not echo the request's"
	if r.OutRefundNo != req.OutRefundNo {
		p.failAs(kindRule, "out_refund_no", notEchoed)
	}
	switch {
	case req.TransactionID != "" && r.TransactionID != req.TransactionID:
		p.failAs(kindRule, "transaction_id", notEchoed)
	case req.TransactionID == "" && r.OutTradeNo != req.OutTradeNo:
		p.failAs(kindRule, "out_trade_no", notEchoed)
	}
	p.equal("refund_fee", r.RefundFee, req.RefundFee, notEchoed)
	p.equal("total_fee", r.TotalFee, req.TotalFee, notEchoed)
	p.atMost("settlement_refund_fee", r.SettlementRefundFee, "refund_fee", r.RefundFee)
	p.atMost("settlement_total_fee", r.SettlementTotalFee, "total_fee", r.TotalFee)
	p.atMost("cash_fee", r.CashFee, "total_fee", r.TotalFee)
	p.split("refund_fee", r.RefundFee, "coupon_refund_fee", r.CouponRefundFee, r.Coupons, "cash_refund_fee")
	if p.err != nil {
		return nil, p.err
	}
	return r, nil
}

func (r *RefundRequest) validate() error {
	if r == nil {
		return &ValidationError{Reason: "the request is nil"}
	}
	switch {
	case r.TransactionID == "" && r.OutTradeNo == "":
		return &ValidationError{"TransactionID", "set exactly one of TransactionID and OutTradeNo (both are empty)"}
	case r.TransactionID != "" && r.OutTradeNo != "":
		return &ValidationError{"TransactionID", "set exactly one of TransactionID and OutTradeNo (both are set)"}
	}
	if err := checkOrderID("TransactionID", r.TransactionID); err != nil {
		return err
	}
	if err := checkSubMerchant(r.SubMchID, r.SubAppID); err != nil {
		return err
	}
	if err := checkOrderID("OutTradeNo", r.OutTradeNo); err != nil {
		return err
	}
	if !validRefundNo(r.OutRefundNo) {
		return &ValidationError{"OutRefundNo", "must be 1-64 characters of 0-9 A-Z a-z _ - | * @"}
	}
	if r.TotalFee <= 0 {
		return &ValidationError{"TotalFee", "must be a positive amount in fen"}
	}
	if r.RefundFee <= 0 {
		return &ValidationError{"RefundFee", "must be a positive amount in fen"}
	}
	if r.RefundFee > r.TotalFee {
		return &ValidationError{"RefundFee", "must not exceed TotalFee"}
	}
	if r.RefundFeeType != "" && !isCurrency(r.RefundFeeType) {
		return &ValidationError{"RefundFeeType", "must be a three-letter ISO 4217 code such as CNY"}
	}
	switch r.RefundAccount {
	case "", RefundAccountUnsettledFunds, RefundAccountRechargeFunds:
	default:
		return &ValidationError{"RefundAccount", "must be REFUND_SOURCE_UNSETTLED_FUNDS or REFUND_SOURCE_RECHARGE_FUNDS"}
	}
	if r.NotifyURL != "" {
		switch {
		case !absoluteHTTPURL(r.NotifyURL):
			return &ValidationError{"NotifyURL", "must be an absolute http(s) URL"}
		case strings.ContainsAny(r.NotifyURL, "?#"):
			return &ValidationError{"NotifyURL", "must not have a query string or fragment"}
		case strings.IndexFunc(r.NotifyURL, unicode.IsSpace) >= 0:
			// Also: WeChat Pay may trim values before checking the signature.
			return &ValidationError{"NotifyURL", "must not contain white space"}
		case len(r.NotifyURL) > 256:
			return &ValidationError{"NotifyURL", "must be at most 256 characters"}
		}
	}
	if err := checkText("NotifyURL", r.NotifyURL); err != nil {
		return err
	}
	if err := checkText("RefundDesc", r.RefundDesc); err != nil {
		return err
	}
	if strings.TrimSpace(r.RefundDesc) != r.RefundDesc {
		// WeChat Pay may trim values before checking the signature.
		return &ValidationError{"RefundDesc", "must not start or end with white space"}
	}
	if utf8.RuneCountInString(r.RefundDesc) > maxRefundDesc {
		return &ValidationError{"RefundDesc", fmt.Sprintf("must be at most %d characters", maxRefundDesc)}
	}
	return nil
}

// absoluteHTTPURL reports whether s parses as an http or https URL with a
// host. The usual notify URL (letters, digits and "-._~/" after
// "https://host") is recognized without url.Parse, which costs as much as
// signing the request; anything else is left to url.Parse.
func absoluteHTTPURL(s string) bool {
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(s, "http://")
	}
	if ok {
		host, _, _ := strings.Cut(rest, "/")
		plain := host != "" && strings.Trim(host, ".-") != ""
		for i := 0; plain && i < len(rest); i++ {
			c := rest[i]
			plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
				c == '-' || c == '.' || c == '_' || c == '~' || c == '/' && i >= len(host)
		}
		if plain {
			return true
		}
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// maxRefundDesc is refund_desc's String(80) in WeChat Pay's request table
// (chapter=9_4), counted in
// characters: the lenient reading, so a description WeChat Pay accepts is
// never refused here.
const maxRefundDesc = 80

// validRefundNo matches ^[0-9A-Za-z_\-|*@]{1,64}$.
func validRefundNo(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !refundNoChar(s[i]) {
			return false
		}
	}
	return true
}

func refundNoChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
		c == '_' || c == '-' || c == '|' || c == '*' || c == '@'
}

// checkSubMerchant checks the service-provider fields of a request: each at
// most 32 characters of the id character set, and a SubAppID only with the
// SubMchID it belongs to.
func checkSubMerchant(subMchID, subAppID string) error {
	if subMchID != "" && (len(subMchID) > 32 || !validRefundNo(subMchID)) {
		return &ValidationError{"SubMchID", "must be at most 32 characters of 0-9 A-Z a-z _ - | * @"}
	}
	if subAppID != "" && (len(subAppID) > 32 || !validRefundNo(subAppID)) {
		return &ValidationError{"SubAppID", "must be at most 32 characters of 0-9 A-Z a-z _ - | * @"}
	}
	if subAppID != "" && subMchID == "" {
		return &ValidationError{"SubAppID", "needs SubMchID: it is the sub-merchant's AppID"}
	}
	return nil
}

// checkSubEcho refuses an answer whose echoed sub_mch_id or sub_appid is
// not the request's. WeChat Pay echoes them in service-provider mode, but
// not always sub_appid: a field that is absent is not checked.
func checkSubEcho(f map[string]string, subMchID, subAppID string) error {
	if v := f["sub_mch_id"]; v != "" && v != subMchID {
		return fmt.Errorf("%w: sub_mch_id is not the request's", ErrMerchantMismatch)
	}
	if v := f["sub_appid"]; v != "" && v != subAppID {
		return fmt.Errorf("%w: sub_appid is not the request's", ErrMerchantMismatch)
	}
	return nil
}

// checkOrderID accepts "" or at most 32 characters of the refund-number set
// (out_trade_no uses a subset of it; transaction_id is digits).
func checkOrderID(field, s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 32 || !validRefundNo(s) {
		return &ValidationError{field, "must be at most 32 characters of 0-9 A-Z a-z _ - | * @"}
	}
	return nil
}

func isCurrency(s string) bool {
	return len(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' && s[2] <= 'Z'
}
