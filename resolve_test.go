package wxrefund_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// refunds counts the refund requests the fake received.
func refunds(fake *wxrefundtest.Server) int {
	n := 0
	for _, r := range fake.Requests() {
		if r.Path == wxrefundtest.PathRefund {
			n++
		}
	}
	return n
}

// The sweep: refunds whose answers were lost (both kinds) are resolved
// without a second refund; a refund WeChat Pay never got is sent once; a
// conflicting OutRefundNo is reported with nothing sent.
func TestResolveRefund(t *testing.T) {
	t.Parallel()
	fake, c := xtFake(t, []wxrefundtest.Order{{OutTradeNo: "ORD1", TotalFee: 10000}, {OutTradeNo: "ORD2", TotalFee: 10000}})
	ctx := context.Background()
	req := func(no string, fee int64) *wxrefund.RefundRequest {
		return &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: no, TotalFee: 10000, RefundFee: fee}
	}

	// Lost answers: a signed SYSTEMERROR, then no answer at all.
	fake.LoseNext(wxrefund.CodeSystemError, 1)
	fake.LoseNext("", 1)
	for _, no := range []string{"RF-LOST-1", "RF-LOST-2"} {
		_, err := c.Refund(ctx, req(no, 100))
		require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown, no)
	}
	// A refund that never reached WeChat Pay.
	fake.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 1)
	_, err := c.Refund(ctx, req("RF-NEVER", 300))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	require.Len(t, fake.Refunds("ORD1"), 2)
	sent := refunds(fake)

	for _, no := range []string{"RF-LOST-1", "RF-LOST-2"} {
		res, err := c.ResolveRefund(ctx, req(no, 100))
		require.NoError(t, err, no)
		assert.False(t, res.Sent, no)
		assert.Equal(t, no, res.Refund.OutRefundNo)
		assert.EqualValues(t, 100, res.Refund.RefundFee)
		assert.Equal(t, "ORD1", res.OutTradeNo)
		assert.Equal(t, wxrefund.RefundStatusProcessing, res.Refund.Status)
	}
	assert.Equal(t, sent, refunds(fake), "nothing sent for refunds that exist")

	res, err := c.ResolveRefund(ctx, req("RF-NEVER", 300))
	require.NoError(t, err)
	assert.True(t, res.Sent)
	assert.NotEmpty(t, res.Refund.RefundID)
	assert.Equal(t, wxrefund.RefundStatusProcessing, res.Refund.Status)
	assert.Equal(t, sent+1, refunds(fake))
	res, err = c.ResolveRefund(ctx, req("RF-NEVER", 300)) // swept again: found
	require.NoError(t, err)
	assert.False(t, res.Sent)
	assert.Len(t, fake.Refunds("ORD1"), 3, "each refund exactly once")

	// Conflicts: nothing sent.
	sent = refunds(fake)
	for name, tc := range map[string]struct {
		req   *wxrefund.RefundRequest
		field string
	}{
		"another amount":        {req("RF-LOST-1", 200), "RefundFee"},
		"another order":         {&wxrefund.RefundRequest{OutTradeNo: "ORD2", OutRefundNo: "RF-LOST-1", TotalFee: 10000, RefundFee: 100}, "OutTradeNo"},
		"another transaction":   {&wxrefund.RefundRequest{TransactionID: "4200000000000000000000000000", OutRefundNo: "RF-LOST-1", TotalFee: 10000, RefundFee: 100}, "TransactionID"},
		"another order's total": {&wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF-LOST-1", TotalFee: 20000, RefundFee: 100}, "TotalFee"},
	} {
		_, err := c.ResolveRefund(ctx, tc.req)
		require.ErrorIs(t, err, wxrefund.ErrRefundConflict, name)
		var ce *wxrefund.RefundConflictError
		require.ErrorAs(t, err, &ce, name)
		assert.Equal(t, tc.field, ce.Field, name)
		assert.Equal(t, "RF-LOST-1", ce.Refund.Refund.OutRefundNo)
		assert.Contains(t, err.Error(), "nothing was sent")
		assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	}
	assert.Equal(t, sent, refunds(fake))

	// A lookup that fails sends nothing and can be retried.
	fake.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 1)
	_, err = c.ResolveRefund(ctx, req("RF-NEW", 100))
	require.Error(t, err)
	assert.True(t, wxrefund.IsRetryable(err))
	assert.Equal(t, sent, refunds(fake))

	// The sent refund's own failure is reported as Refund reports it.
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
	_, err = c.ResolveRefund(ctx, req("RF-NEW", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	res, err = c.ResolveRefund(ctx, req("RF-NEW", 100))
	require.NoError(t, err)
	assert.True(t, res.Sent)

	// An invalid request sends nothing.
	_, err = c.ResolveRefund(ctx, req("", 100))
	require.ErrorIs(t, err, wxrefund.ErrInvalidRequest)
	_, err = c.ResolveRefund(ctx, nil)
	require.ErrorIs(t, err, wxrefund.ErrInvalidRequest)
}

func TestLookupRefund(t *testing.T) {
	t.Parallel()
	fake, c := xtFake(t, []wxrefundtest.Order{{OutTradeNo: "ORD1", TotalFee: 10000, CouponFee: 1000}})
	ctx := context.Background()
	resp, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 10000, RefundFee: 3000})
	require.NoError(t, err)

	byNo, err := c.LookupRefund(ctx, &wxrefund.LookupRefundRequest{OutRefundNo: "RF1"})
	require.NoError(t, err)
	byID, err := c.LookupRefund(ctx, &wxrefund.LookupRefundRequest{RefundID: resp.RefundID})
	require.NoError(t, err)
	assert.Equal(t, byNo, byID)
	assert.Equal(t, resp.RefundID, byNo.Refund.RefundID)
	assert.EqualValues(t, 3000, byNo.Refund.RefundFee)
	assert.EqualValues(t, 300, byNo.Refund.CouponRefundFee)
	assert.EqualValues(t, 10000, byNo.TotalFee)
	assert.Equal(t, fake.Refunds("ORD1")[0].TransactionID, byNo.TransactionID)

	_, err = c.LookupRefund(ctx, &wxrefund.LookupRefundRequest{OutRefundNo: "RF-NONE"})
	require.ErrorIs(t, err, wxrefund.ErrRefundNotExist)
	var e *wxrefund.Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, wxrefund.CodeRefundNotExist, e.ErrCode)
	_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "RF-NONE"})
	assert.ErrorIs(t, err, wxrefund.ErrRefundNotExist, "QueryRefund's errors match too")

	for _, bad := range []*wxrefund.LookupRefundRequest{nil, {}, {OutRefundNo: "RF1", RefundID: resp.RefundID}, {OutRefundNo: "RF 1"}} {
		_, err := c.LookupRefund(ctx, bad)
		assert.ErrorIs(t, err, wxrefund.ErrInvalidRequest)
	}
}

// Service-provider mode: the lookup and the sweep name the sub-merchant.
func TestResolveRefundPartner(t *testing.T) {
	t.Parallel()
	fake, err := wxrefundtest.NewServer(wxrefundtest.WithPartner("1900000201", "1900000202"))
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 1000, SubMchID: "1900000201"}))
	appID, mchID, key := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, fake.ClientOptions()...)
	require.NoError(t, err)
	ctx := context.Background()
	req := &wxrefund.RefundRequest{SubMchID: "1900000201", OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 1000, RefundFee: 100}

	fake.LoseNext("", 1)
	_, err = c.Refund(ctx, req)
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	res, err := c.ResolveRefund(ctx, req)
	require.NoError(t, err)
	assert.False(t, res.Sent)
	assert.Equal(t, "1900000201", res.SubMchID)
	_, err = c.LookupRefund(ctx, &wxrefund.LookupRefundRequest{SubMchID: "1900000202", OutRefundNo: "RF1"})
	assert.ErrorIs(t, err, wxrefund.ErrRefundNotExist, "another sub-merchant's refund does not exist for it")
	assert.Len(t, fake.Refunds("ORD1"), 1)
}
