package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func fakeClient(t *testing.T) (*wxrefundtest.Server, *wxrefund.Client) {
	retryPause = time.Millisecond
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000}))
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	require.NoError(t, err)
	return fake, c
}

// A SYSTEMERROR is retried with the same out_refund_no, and only one refund
// exists afterwards.
func TestRunRetriesWithTheSameNumber(t *testing.T) {
	fake, c := fakeClient(t)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 2)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 2000}
	require.NoError(t, run(io.Discard, c, req))
	refunds := fake.Refunds("ORD1")
	require.Len(t, refunds, 1)
	assert.Equal(t, "RF1", refunds[0].OutRefundNo)
	assert.EqualValues(t, 2000, refunds[0].RefundFee)
}

// When every attempt is unknown, it falls back to the query, which proves
// the refund was never created.
func TestRunQueriesWhenStillUnknown(t *testing.T) {
	fake, c := fakeClient(t)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 3)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF2", TotalFee: 5000, RefundFee: 100}
	var out strings.Builder
	err := run(&out, c, req)
	require.Error(t, err)
	assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown, "the query settled it")
	assert.Equal(t, wxrefund.CodeSystemError, wxrefund.ErrorCode(err))
	assert.Contains(t, err.Error(), "not created; send the same request again")
	assert.Contains(t, out.String(), "querying by out_refund_no")
	assert.Empty(t, fake.Refunds("ORD1"))
}

// An unknown first attempt is not forgotten when a later attempt fails for
// good: the refund is still looked up before a failure is reported.
func TestRunQueriesAfterAnEarlierUnknown(t *testing.T) {
	fake, c := fakeClient(t)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeTradeOverdue, 1)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF4", TotalFee: 5000, RefundFee: 100}
	var out strings.Builder
	err := run(&out, c, req)
	assert.Contains(t, out.String(), "querying by out_refund_no")
	assert.Equal(t, wxrefund.CodeTradeOverdue, wxrefund.ErrorCode(err))
	assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown, "the query settled it")
	assert.Contains(t, err.Error(), "not created")
	assert.NotContains(t, err.Error(), "again", "TRADE_OVERDUE is final")
}

func TestRunStopsOnFinalErrors(t *testing.T) {
	_, c := fakeClient(t)
	err := run(io.Discard, c, &wxrefund.RefundRequest{OutTradeNo: "NO-SUCH-ORDER", OutRefundNo: "RF3", TotalFee: 5000, RefundFee: 100})
	assert.Equal(t, wxrefund.CodeOrderNotExist, wxrefund.ErrorCode(err))
}
