package wxrefund

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// This file settles refunds whose outcome a merchant does not know: a
// lookup of one refund, and ResolveRefund, the sweep that makes a refund
// exist exactly once.

// ErrRefundNotExist matches the error of a query for a refund WeChat Pay
// does not have (err_code REFUNDNOTEXIST): it proves that no refund with
// that id was accepted.
var ErrRefundNotExist = errors.New("wxrefund: no such refund")

// ErrRefundConflict matches ResolveRefund's *RefundConflictError: a refund
// with the request's OutRefundNo exists with other amounts or of another
// order.
var ErrRefundConflict = errors.New("wxrefund: a refund with this out_refund_no is not the one requested")

// LookupRefundRequest names one refund: by OutRefundNo or by RefundID.
type LookupRefundRequest struct {
	OutRefundNo, RefundID string // exactly one is required

	// Service-provider mode: the sub-merchant whose refund it is, and
	// optionally its AppID (see RefundRequest).
	SubMchID, SubAppID string
}

// RefundLookup is one refund as WeChat Pay has it, with the order it
// refunds.
type RefundLookup struct {
	TransactionID, OutTradeNo string
	TotalFee                  int64  // the order's total, fen
	SubMchID                  string // echoed in service-provider mode
	Refund                    RefundRecord
}

// LookupRefund returns the one refund req names, from /pay/refundquery
// (see QueryRefund). A refund WeChat Pay does not have is an *Error that
// matches ErrRefundNotExist.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5.
func (c *Client) LookupRefund(ctx context.Context, req *LookupRefundRequest) (*RefundLookup, error) {
	if req == nil {
		return nil, &ValidationError{Reason: "the request is nil"}
	}
	if (req.OutRefundNo == "") == (req.RefundID == "") {
		return nil, &ValidationError{"OutRefundNo", "set exactly one of OutRefundNo and RefundID"}
	}
	q, err := c.QueryRefund(ctx, &QueryRefundRequest{OutRefundNo: req.OutRefundNo, RefundID: req.RefundID,
		SubMchID: req.SubMchID, SubAppID: req.SubAppID})
	if err != nil {
		return nil, err
	}
	// QueryRefund refuses an answer without the record asked about.
	for _, r := range q.Refunds {
		if req.RefundID != "" && r.RefundID == req.RefundID || req.OutRefundNo != "" && r.OutRefundNo == req.OutRefundNo {
			return &RefundLookup{TransactionID: q.TransactionID, OutTradeNo: q.OutTradeNo, TotalFee: q.TotalFee,
				SubMchID: q.SubMchID, Refund: r}, nil
		}
	}
	return nil, &MessageError{Op: opRefundQuery, Err: fmt.Errorf("%w: the answer has no record of the refund asked about", ErrMalformed)}
}

// RefundResolution is where ResolveRefund left a refund.
type RefundResolution struct {
	// The refund as WeChat Pay has it. After Sent, as WeChat Pay accepted
	// it: Status is PROCESSING.
	RefundLookup
	// Sent is true when WeChat Pay had no such refund and ResolveRefund
	// sent the request.
	Sent bool
}

// RefundConflictError is ResolveRefund's finding that WeChat Pay has a
// refund with the request's OutRefundNo, but not the refund requested: its
// amounts or its order differ. Nothing was sent. It matches
// ErrRefundConflict. Someone reused the OutRefundNo, or the merchant's
// record is wrong: a person must look.
type RefundConflictError struct {
	OutRefundNo      string
	Field            string        // the request's field that differs: RefundFee, TotalFee, TransactionID or OutTradeNo
	Requested, Found string        // its value in the request and at WeChat Pay
	Refund           *RefundLookup // the refund WeChat Pay has
}

func (e *RefundConflictError) Error() string {
	return fmt.Sprintf("wxrefund: refund %s exists with %s %s, not the %s requested: nothing was sent",
		e.OutRefundNo, e.Field, e.Found, e.Requested)
}

// Is reports whether target is ErrRefundConflict.
func (e *RefundConflictError) Is(target error) bool { return target == ErrRefundConflict }

// ResolveRefund makes the refund req describes exist exactly once, and says
// where it stands. It is the sweep to run for every refund a merchant
// recorded as sent but never saw answered (after a crash, a timeout, or an
// error matching ErrOutcomeUnknown), at start-up and then periodically:
//
//   - it looks the refund up by req.OutRefundNo;
//   - found, with req's order, TotalFee and RefundFee: it returns it,
//     whatever its status (REFUNDCLOSE means it failed for good: refunding
//     again is a new refund, with a new OutRefundNo);
//   - found with other amounts or of another order: a *RefundConflictError
//     (ErrRefundConflict), and nothing is sent;
//   - not found (REFUNDNOTEXIST): it sends req with Refund and reports as
//     Refund does, Sent set.
//
// A lookup that fails is returned as it is, and nothing is sent: an error
// for which IsRetryable is true means try the sweep again later. So does an
// unknown outcome of the Refund it sent: the next sweep finds the refund or
// sends the same request again.
func (c *Client) ResolveRefund(ctx context.Context, req *RefundRequest) (*RefundResolution, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, &ValidationError{Reason: "the request is nil"}
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	found, err := c.LookupRefund(ctx, &LookupRefundRequest{OutRefundNo: req.OutRefundNo,
		SubMchID: req.SubMchID, SubAppID: req.SubAppID})
	switch {
	case errors.Is(err, ErrRefundNotExist):
		resp, err := c.Refund(ctx, req)
		if err != nil {
			return nil, err
		}
		return &RefundResolution{Sent: true, RefundLookup: RefundLookup{
			TransactionID: resp.TransactionID, OutTradeNo: resp.OutTradeNo, TotalFee: resp.TotalFee,
			SubMchID: resp.SubMchID,
			Refund: RefundRecord{OutRefundNo: resp.OutRefundNo, RefundID: resp.RefundID,
				RefundChannel: resp.RefundChannel, RefundFee: resp.RefundFee,
				SettlementRefundFee: resp.SettlementRefundFee, CouponRefundFee: resp.CouponRefundFee,
				Coupons: resp.Coupons, Status: RefundStatusProcessing},
		}}, nil
	case err != nil:
		return nil, err
	}
	conflict := func(field, requested, got string) error {
		return &RefundConflictError{OutRefundNo: req.OutRefundNo, Field: field, Requested: requested, Found: got, Refund: found}
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch {
	case req.TransactionID != "" && found.TransactionID != req.TransactionID:
		return nil, conflict("TransactionID", req.TransactionID, found.TransactionID)
	case req.OutTradeNo != "" && found.OutTradeNo != req.OutTradeNo:
		return nil, conflict("OutTradeNo", req.OutTradeNo, found.OutTradeNo)
	case found.Refund.RefundFee != req.RefundFee:
		return nil, conflict("RefundFee", itoa(req.RefundFee), itoa(found.Refund.RefundFee))
	case found.TotalFee != req.TotalFee:
		return nil, conflict("TotalFee", itoa(req.TotalFee), itoa(found.TotalFee))
	}
	return &RefundResolution{RefundLookup: *found}, nil
}
