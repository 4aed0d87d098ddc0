package wxrefund

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"strings"
	"time"
)

// Refund statuses (refund_status).
const (
	RefundStatusSuccess    RefundStatus = "SUCCESS"     // the money reached the payer
	RefundStatusClosed     RefundStatus = "REFUNDCLOSE" // the refund failed and was closed
	RefundStatusProcessing RefundStatus = "PROCESSING"  // in progress; query again later
	RefundStatusChange     RefundStatus = "CHANGE"      // abnormal: the payer's card was closed; handle it on the merchant platform
)

// Legacy refund statuses, from older revisions of WeChat Pay's docs.
const (
	RefundStatusFail    RefundStatus = "FAIL"    // the refund failed
	RefundStatusNotSure RefundStatus = "NOTSURE" // unknown: send the refund again with the same out_refund_no
)

// RefundStatus is the state of a refund. Values this package does not know
// (future ones) are kept as received.
type RefundStatus string

// Final reports whether the status will not change any more: SUCCESS,
// REFUNDCLOSE, CHANGE or the legacy FAIL. PROCESSING, the legacy NOTSURE
// and unknown values are not final.
func (s RefundStatus) Final() bool {
	switch s {
	case RefundStatusSuccess, RefundStatusClosed, RefundStatusChange, RefundStatusFail:
		return true
	}
	return false
}

// QueryRefundRequest selects refunds by exactly one identifier. Querying by
// TransactionID or OutTradeNo returns the order's refunds, ten per page from
// Offset; by OutRefundNo or RefundID, that one refund.
//
// To read all of an order's refunds, start at Offset 0 and add each page's
// len(Refunds) to Offset until it reaches TotalRefundCount. WeChat Pay
// returns TotalRefundCount when the order has more than ten refunds; a page
// of fewer than ten refunds, or PARAM_ERROR for an Offset past the end, also
// ends the list. [Client.AllRefunds] reads the pages so, and refuses pages
// that contradict each other or never end.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5 (request parameters).
type QueryRefundRequest struct {
	TransactionID, OutTradeNo, OutRefundNo, RefundID string // exactly one is required
	Offset                                           int    // 0-based index of the order's first refund to return; sent when > 0

	// Service-provider mode: the sub-merchant whose refunds to query, and
	// optionally its AppID (see RefundRequest).
	SubMchID, SubAppID string
}

// QueryRefundResponse is an order and the refunds a query returned.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5 (response parameters).
type QueryRefundResponse struct {
	TransactionID, OutTradeNo             string
	SubMchID, SubAppID                    string // echoed in service-provider mode
	TotalFee, SettlementTotalFee, CashFee int64
	FeeType                               string
	// TotalRefundCount is the number of refunds of the order, returned
	// when paging applies (the order has more than ten refunds, or an
	// Offset was sent); 0 otherwise.
	TotalRefundCount int
	// RefundFee, CouponRefundFee and CashRefundFee sum the returned
	// records, when WeChat Pay sends them.
	RefundFee, CouponRefundFee, CashRefundFee int64
	Refunds                                   []RefundRecord

	// Raw holds every field of the verified response.
	Raw map[string]string
}

// RefundRecord is one refund in a query response: the fields numbered _$n.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5 (response parameters).
type RefundRecord struct {
	OutRefundNo, RefundID, RefundChannel            string
	RefundFee, SettlementRefundFee, CouponRefundFee int64
	Coupons                                         []Coupon
	Status                                          RefundStatus
	RefundAccount                                   string
	RecvAccount                                     string    // refund_recv_accout_$n (sic): where the money went
	SuccessTime                                     time.Time // zero when not yet successful; China Standard Time
}

// QueryRefund looks up refunds at /pay/refundquery. It needs no client
// certificate. A refund that does not exist is an *Error with ErrCode
// REFUNDNOTEXIST, which matches [ErrRefundNotExist]; an Offset past the
// order's last refund is PARAM_ERROR.
//
// After an unknown Refund outcome, [Client.ResolveRefund] settles the
// refund; [Client.LookupRefund] returns one refund.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5.
func (c *Client) QueryRefund(ctx context.Context, req *QueryRefundRequest) (*QueryRefundResponse, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	params, err := c.queryParams(req)
	if err != nil {
		return nil, err
	}
	var resp *QueryRefundResponse
	err = c.call(ctx, opRefundQuery, pathRefundQuery, params[:], func(f map[string]string) (err error) {
		resp, err = parseQueryResponse(f, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// queryParams checks req and returns the parameters of its query, in the
// byte order of their names (TestRequestParamsSorted checks it).
func (c *Client) queryParams(r *QueryRefundRequest) ([11]param, error) {
	if r == nil {
		return [11]param{}, &ValidationError{Reason: "the request is nil"}
	}
	ids := [...]struct {
		field, v string
		max      int
	}{
		{"TransactionID", r.TransactionID, 32},
		{"OutTradeNo", r.OutTradeNo, 32},
		{"OutRefundNo", r.OutRefundNo, 64},
		{"RefundID", r.RefundID, 32},
	}
	set := 0
	for _, id := range ids {
		if id.v == "" {
			continue
		}
		if set++; set > 1 {
			return [11]param{}, &ValidationError{id.field, "set exactly one of TransactionID, OutTradeNo, OutRefundNo and RefundID"}
		}
		if len(id.v) > id.max || !validRefundNo(id.v) {
			return [11]param{}, &ValidationError{id.field, fmt.Sprintf("must be at most %d characters of 0-9 A-Z a-z _ - | * @", id.max)}
		}
	}
	if set == 0 {
		return [11]param{}, &ValidationError{"TransactionID", "set exactly one of TransactionID, OutTradeNo, OutRefundNo and RefundID (all are empty)"}
	}
	if r.Offset < 0 {
		return [11]param{}, &ValidationError{"Offset", "must not be negative"}
	}
	if err := checkSubMerchant(r.SubMchID, r.SubAppID); err != nil {
		return [11]param{}, err
	}
	return [...]param{
		{name: "appid", value: c.appID},
		{name: "mch_id", value: c.mchID},
		{name: "nonce_str", value: c.nonce()},
		{name: "offset", num: int64(r.Offset), isNum: r.Offset > 0},
		{name: "out_refund_no", value: r.OutRefundNo},
		{name: "out_trade_no", value: r.OutTradeNo},
		{name: "refund_id", value: r.RefundID},
		c.signTypeParam(),
		{name: "sub_appid", value: r.SubAppID},
		{name: "sub_mch_id", value: r.SubMchID},
		{name: "transaction_id", value: r.TransactionID},
	}, nil
}

// parseQueryResponse builds the typed response from a verified field map
// and checks it against the question: the identifier asked about is in the
// answer (the record with that out_refund_no or refund_id, or the order with
// that transaction_id or out_trade_no), every record has both ids, no amount
// is negative, and no part exceeds its whole (a refund its order, a coupon
// or settlement part its refund).
func parseQueryResponse(f map[string]string, req *QueryRefundRequest) (*QueryRefundResponse, error) {
	p := fieldParser{fields: f}
	r := &QueryRefundResponse{
		TransactionID:      f["transaction_id"],
		OutTradeNo:         f["out_trade_no"],
		TotalFee:           p.amount("total_fee"),
		SettlementTotalFee: p.amount("settlement_total_fee"),
		CashFee:            p.amount("cash_fee"),
		FeeType:            f["fee_type"],
		TotalRefundCount:   int(p.amount("total_refund_count")),
		RefundFee:          p.amount("refund_fee"),
		CouponRefundFee:    p.amount("coupon_refund_fee"),
		CashRefundFee:      p.amount("cash_refund_fee"),
		SubMchID:           f["sub_mch_id"],
		SubAppID:           f["sub_appid"],
		Raw:                f,
	}
	if err := checkSubEcho(f, req.SubMchID, req.SubAppID); err != nil {
		return nil, err
	}
	p.atMost("settlement_total_fee", r.SettlementTotalFee, "total_fee", r.TotalFee)
	p.atMost("cash_fee", r.CashFee, "total_fee", r.TotalFee)
	n := p.count("refund_count")
	if p.err == nil && n > 0 {
		r.Refunds = make([]RefundRecord, n)
		base := recordBase(f)
		for i := range r.Refunds {
			rec := &r.Refunds[i]
			p.record(base + i)
			if p.str("out_refund_no") == "" && p.str("refund_id") == "" {
				p.record(-1)
				p.fail("refund_count", "counts more refunds than the message holds")
				break
			}
			p.require("out_refund_no", "refund_id")
			*rec = RefundRecord{
				OutRefundNo:         p.str("out_refund_no"),
				RefundID:            p.str("refund_id"),
				RefundChannel:       p.str("refund_channel"),
				RefundFee:           p.amount("refund_fee"),
				SettlementRefundFee: p.amount("settlement_refund_fee"),
				CouponRefundFee:     p.amount("coupon_refund_fee"),
				Coupons:             p.coupons("coupon_refund_count"),
				Status:              RefundStatus(p.str("refund_status")),
				RefundAccount:       p.str("refund_account"),
				RecvAccount:         p.str("refund_recv_accout"),
				SuccessTime:         p.time("refund_success_time"),
			}
			p.atMost("refund_fee", rec.RefundFee, "total_fee", r.TotalFee)
			p.atMost("settlement_refund_fee", rec.SettlementRefundFee, "refund_fee_$n", rec.RefundFee)
			p.split("refund_fee", rec.RefundFee, "coupon_refund_fee", rec.CouponRefundFee, rec.Coupons, "")
		}
		p.record(-1)
	}
	if r.TotalRefundCount > 0 && len(r.Refunds) > r.TotalRefundCount {
		p.failAs(kindRule, "refund_count", "exceeds total_refund_count")
	}
	if p.err == nil {
		r.checkAnswers(&p, req)
	}
	if p.err != nil {
		return nil, p.err
	}
	return r, nil
}

// checkAnswers records a failure unless r holds what req asked about.
func (r *QueryRefundResponse) checkAnswers(p *fieldParser, req *QueryRefundRequest) {
	has := func(match func(*RefundRecord) bool) bool {
		for i := range r.Refunds {
			if match(&r.Refunds[i]) {
				return true
			}
		}
		return false
	}
	switch {
	case req.RefundID != "":
		if !has(func(rec *RefundRecord) bool { return rec.RefundID == req.RefundID }) {
			p.failAs(kindRule, "refund_id_$n", "has no record of the refund asked about")
		}
	case req.OutRefundNo != "":
		if !has(func(rec *RefundRecord) bool { return rec.OutRefundNo == req.OutRefundNo }) {
			p.failAs(kindRule, "out_refund_no_$n", "has no record of the refund asked about")
		}
	case req.TransactionID != "":
		if r.TransactionID != req.TransactionID {
			p.failAs(kindRule, "transaction_id", "is not the order asked about")
		}
	case req.OutTradeNo != "":
		if r.OutTradeNo != req.OutTradeNo {
			p.failAs(kindRule, "out_trade_no", "is not the order asked about")
		}
	}
}

// recordBase returns the index $n of a response's first refund record: 0, as
// documented, or else the lowest index among its out_refund_no_$n and
// refund_id_$n fields, for a page numbered from its offset: WeChat Pay's
// refund query page (chapter=9_5) does not say whether $n restarts at 0 on
// each page.
func recordBase(f map[string]string) int {
	if f["out_refund_no_0"] != "" || f["refund_id_0"] != "" {
		return 0
	}
	base := -1
	for k := range f {
		s, ok := strings.CutPrefix(k, "out_refund_no_")
		if !ok {
			s, ok = strings.CutPrefix(k, "refund_id_")
		}
		if n, valid := recordIndex(s); ok && valid && (base < 0 || n < base) {
			base = n
		}
	}
	return max(base, 0)
}

// recordIndex parses a record index: decimal digits without a leading zero,
// small enough that base+count cannot overflow.
func recordIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// MaxOrderRefunds bounds the refunds [Client.AllRefunds] reads for one
// order. WeChat Pay allows at most 50 refunds of an order:
// "一笔订单最多支持50次部分退款" (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4).
// The bound is well above that and only stops a server whose pages never
// end.
const MaxOrderRefunds = 1000

// AllRefunds returns every refund of the order that req names (by
// TransactionID or OutTradeNo), in the order WeChat Pay lists them, reading
// page after page from req.Offset: each query returns at most ten, and the
// next starts where it ended. The walk ends at the order's last refund: when
// WeChat Pay's total_refund_count is reached, a page of fewer than ten (or
// none) comes back, or a query past the end answers PARAM_ERROR (which is
// the end, not an error). A refund that a page repeats (WeChat Pay's docs
// are not exact about page bounds) is yielded once. Asked by OutRefundNo or
// RefundID, it yields that one refund.
//
// The walk always ends, and never short of what WeChat Pay announced: it
// fails with a *MessageError matching [ErrMalformed] when a page with
// refunds brings none not yielded before, when the order has more than
// [MaxOrderRefunds] refunds (counted, or announced by total_refund_count),
// when a page ends beyond its own total_refund_count or announces fewer
// refunds than an earlier page did, and when an empty page or PARAM_ERROR
// comes before the offset reaches the largest total_refund_count announced
// (then the error also wraps WeChat Pay's *Error).
//
// A failure is yielded once, with a zero RefundRecord, and ends the walk.
// Breaking out of the loop stops it without further queries. Each query
// goes through QueryRefund, so WithRetry, WithFailover and WithRateLimiter
// apply to every page.
//
//	for r, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD1"}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(r.OutRefundNo, r.Status, r.RefundFee)
//	}
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5 (offset).
func (c *Client) AllRefunds(ctx context.Context, req *QueryRefundRequest) iter.Seq2[RefundRecord, error] {
	return func(yield func(RefundRecord, error) bool) {
		if req == nil {
			yield(RefundRecord{}, &ValidationError{Reason: "the request is nil"})
			return
		}
		q := *req
		one := q.OutRefundNo != "" || q.RefundID != "" // one refund, no pages
		// seen holds copies of the ids yielded, so that it keeps no page's
		// body alive; announced is the largest total_refund_count a page
		// gave.
		seen := map[string]struct{}{}
		announced := 0
		fail := func(msg string) {
			yield(RefundRecord{}, walkError(fmt.Errorf("%w: %s", ErrMalformed, msg)))
		}
		// distinct runs wherever the walk ends: pages that repeated
		// refunds may have left others out, so count the distinct ones
		// against the largest total announced.
		distinct := func() {
			if want := announced - req.Offset; want > 0 && len(seen) < want {
				fail(fmt.Sprintf("the pages repeat refunds and leave others out: %d distinct refunds for the %d announced from offset %d",
					len(seen), want, req.Offset))
			}
		}
		for {
			resp, err := c.QueryRefund(ctx, &q)
			if err != nil {
				if q.Offset > req.Offset && ErrorCode(err) == CodeParamError {
					// An offset past the last refund: the end, unless a
					// page announced more.
					if announced > q.Offset {
						yield(RefundRecord{}, walkError(&shortWalkError{
							missing: announced - q.Offset, announced: announced, offset: q.Offset, answer: err,
						}))
						return
					}
					distinct()
					return
				}
				yield(RefundRecord{}, err)
				return
			}
			page, total := resp.Refunds, resp.TotalRefundCount
			if !one {
				switch {
				case total > MaxOrderRefunds:
					fail(fmt.Sprintf("a page announces %d refunds, more than MaxOrderRefunds (%d)", total, MaxOrderRefunds))
					return
				case total > 0 && total < announced:
					fail(fmt.Sprintf("total_refund_count fell from %d to %d at offset %d", announced, total, q.Offset))
					return
				case total > 0 && q.Offset+len(page) > total:
					fail(fmt.Sprintf("the page at offset %d ends at refund %d, beyond its total_refund_count %d", q.Offset, q.Offset+len(page), total))
					return
				}
				announced = max(announced, total)
				if len(page) == 0 && announced > q.Offset {
					fail(fmt.Sprintf("an empty page at offset %d: %d of the %d refunds announced are missing", q.Offset, announced-q.Offset, announced))
					return
				}
			}
			fresh := false
			for _, r := range page {
				if _, ok := seen[r.RefundID]; ok {
					continue
				}
				if len(seen) == MaxOrderRefunds {
					fail(fmt.Sprintf("the order has more than MaxOrderRefunds (%d) refunds", MaxOrderRefunds))
					return
				}
				seen[strings.Clone(r.RefundID)] = struct{}{}
				fresh = true
				if !yield(r, nil) {
					return
				}
			}
			switch {
			case one:
				return
			case len(page) == 0:
				distinct()
				return
			case !fresh:
				fail(fmt.Sprintf("the page at offset %d brings no refund not seen before", q.Offset))
				return
			}
			q.Offset += len(page)
			if total > 0 && q.Offset >= total || total == 0 && len(page) < pageSize {
				// The walk ends here.
				if total == 0 && announced > q.Offset {
					fail(fmt.Sprintf("a short page ends at offset %d: %d of the %d refunds announced are missing", q.Offset, announced-q.Offset, announced))
					return
				}
				distinct()
				return
			}
		}
	}
}

// walkError is the error of a walk that AllRefunds ends because WeChat
// Pay's pages contradict each other or never end.
func walkError(err error) error {
	return &MessageError{Op: opRefundQuery, StatusCode: http.StatusOK, Err: err}
}

// shortWalkError is a walk that PARAM_ERROR (answer) ended at offset before
// it reached the refunds a page announced. It matches ErrMalformed and
// wraps the answer.
type shortWalkError struct {
	missing, announced, offset int
	answer                     error
}

func (e *shortWalkError) Error() string {
	return fmt.Sprintf("%s: %d of the %d refunds announced are missing: the query at offset %d answered %s",
		ErrMalformed, e.missing, e.announced, e.offset, withoutPrefix(e.answer))
}

func (e *shortWalkError) Unwrap() []error { return []error{ErrMalformed, e.answer} }

// pageSize is how many refunds a refund query returns at most.
const pageSize = 10
