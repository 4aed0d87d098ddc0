package wxrefundtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func newClient(t testing.TB, s *wxrefundtest.Server, opts ...wxrefund.Option) *wxrefund.Client {
	t.Helper()
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key, append(s.ClientOptions(), opts...)...)
	require.NoError(t, err)
	return c
}

// TestWithClient runs a refund, its queries and its notification through
// wxrefund.Client, with both signature algorithms.
func TestWithClient(t *testing.T) {
	for _, st := range []wxrefund.SignType{wxrefund.SignTypeMD5, wxrefund.SignTypeHMACSHA256} {
		t.Run(string(st), func(t *testing.T) {
			ctx := context.Background()
			s := newServer(t, wxrefundtest.WithNotifySchedule(time.Millisecond))
			c := newClient(t, s, wxrefund.WithSignType(st))

			notified := make(chan *wxrefund.RefundNotification, 1)
			ms := httptest.NewServer(c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
				notified <- n
				return nil
			}))
			t.Cleanup(ms.Close)

			o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000, CouponFee: 500})
			req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 2000,
				RefundDesc: "商品缺货", NotifyURL: ms.URL + "/notify"}
			r, err := c.Refund(ctx, req)
			require.NoError(t, err)
			require.Equal(t, o.TransactionID, r.TransactionID)
			require.Len(t, r.RefundID, 29)
			require.EqualValues(t, 2000, r.RefundFee)
			require.EqualValues(t, 1800, r.CashRefundFee)
			require.EqualValues(t, 200, r.CouponRefundFee)
			require.Equal(t, []wxrefund.Coupon{{ID: o.CouponID, Type: "NO_CASH", Fee: 200}}, r.Coupons)

			again, err := c.Refund(ctx, req)
			require.NoError(t, err)
			require.Equal(t, r.RefundID, again.RefundID, "the same OutRefundNo is the same refund")

			q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "RF1"})
			require.NoError(t, err)
			require.Len(t, q.Refunds, 1)
			require.Equal(t, wxrefund.RefundStatusProcessing, q.Refunds[0].Status)
			require.True(t, q.Refunds[0].SuccessTime.IsZero())

			require.NoError(t, s.Complete("RF1", wxrefund.RefundStatusSuccess))
			n := <-notified
			require.Equal(t, r.RefundID, n.RefundID)
			require.Equal(t, wxrefund.RefundStatusSuccess, n.Status)
			waitNotify(t, s, "RF1", wxrefundtest.NotifyDelivered)

			q, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{TransactionID: o.TransactionID})
			require.NoError(t, err)
			require.Len(t, q.Refunds, 1)
			rec := q.Refunds[0]
			require.Equal(t, wxrefund.RefundStatusSuccess, rec.Status)
			require.True(t, rec.SuccessTime.Equal(n.SuccessTime))
			require.EqualValues(t, 1800, rec.SettlementRefundFee)
			require.Equal(t, "支付用户零钱", rec.RecvAccount)
			require.EqualValues(t, 4500, q.CashFee)

			_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD1", Offset: 1})
			require.Equal(t, wxrefund.CodeParamError, wxrefund.ErrorCode(err))
		})
	}
}

func TestWithClientErrors(t *testing.T) {
	ctx := context.Background()
	s := newServer(t, wxrefundtest.WithBalance(100))
	c := newClient(t, s)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	req := &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: "R1", TotalFee: 1000, RefundFee: 500}

	_, err := c.Refund(ctx, req)
	require.ErrorIs(t, err, &wxrefund.Error{ErrCode: wxrefund.CodeNotEnough})

	s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
	_, err = c.Refund(ctx, req)
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	require.True(t, wxrefund.IsRetryable(err))

	_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	require.Equal(t, wxrefund.CodeRefundNotExist, wxrefund.ErrorCode(err))

	// A client of another merchant (same key) is told so. It cannot use
	// this merchant's certificate (its CN names 1900000109)...
	_, _, key := s.Credentials()
	_, err = wxrefund.NewClient("wx8888888888888888", "1230000109", key, s.ClientOptions()...)
	require.ErrorIs(t, err, wxrefund.ErrCertificate)
	// ...and needs none to query.
	other, err := wxrefund.NewClient("wx8888888888888888", "1230000109", key,
		wxrefund.WithBaseURL(s.URL()), wxrefund.WithRootCAs(s.RootCAs()))
	require.NoError(t, err)
	_, err = other.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	require.Equal(t, wxrefund.CodeMchIDNotExist, wxrefund.ErrorCode(err))

	// A client with another key gets the unsigned signature error.
	appID, mchID, _ := s.Credentials()
	wrong, err := wxrefund.NewClient(appID, mchID, "00000000000000000000000000000000", s.ClientOptions()...)
	require.NoError(t, err)
	_, err = wrong.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	var we *wxrefund.Error
	require.True(t, errors.As(err, &we))
	require.Equal(t, "FAIL", we.ReturnCode)
	require.Equal(t, "签名错误", we.ReturnMsg)
}

// TestWithClientPaging pages through 25 refunds of a coupon order with
// wxrefund.Client, offset by offset as refund query documents for orders
// with more than ten refunds.
func TestWithClientPaging(t *testing.T) {
	ctx := context.Background()
	s := newServer(t)
	c := newClient(t, s)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000, CouponFee: 1000})
	for i := range 25 {
		_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: fmt.Sprintf("R%02d", i),
			TotalFee: 10000, RefundFee: 400})
		require.NoError(t, err)
	}
	require.NoError(t, s.Complete("R03", wxrefund.RefundStatusSuccess))

	var got []wxrefund.RefundRecord
	for offset := 0; ; {
		q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "O1", Offset: offset})
		if wxrefund.ErrorCode(err) == wxrefund.CodeParamError {
			break // past the end
		}
		require.NoError(t, err)
		require.Equal(t, 25, q.TotalRefundCount)
		got = append(got, q.Refunds...)
		offset += len(q.Refunds)
	}
	require.Len(t, got, 25)
	var coupon int64
	for i, r := range got {
		require.Equal(t, fmt.Sprintf("R%02d", i), r.OutRefundNo)
		require.Equal(t, r.RefundFee-r.CouponRefundFee, r.SettlementRefundFee)
		if r.CouponRefundFee > 0 {
			require.Len(t, r.Coupons, 1)
			require.Equal(t, r.CouponRefundFee, r.Coupons[0].Fee)
		}
		require.Equal(t, i == 3, !r.SuccessTime.IsZero())
		coupon += r.CouponRefundFee
	}
	require.EqualValues(t, 1000, coupon, "the whole order was refunded, so the whole coupon was")
}

// One calendar: the same time.Time given to SetBill and to
// DownloadRefundBill names the same bill, whatever its location.
func TestBillDayIsChinaTime(t *testing.T) {
	s := newServer(t)
	c := newClient(t, s)
	yesterday := time.Now().In(wxrefund.ChinaTime).AddDate(0, 0, -1)
	for name, date := range map[string]time.Time{
		"00:30 China time":    time.Date(yesterday.Year(), yesterday.Month(), yesterday.Day(), 0, 30, 0, 0, wxrefund.ChinaTime),
		"the same, in UTC":    time.Date(yesterday.Year(), yesterday.Month(), yesterday.Day(), 0, 30, 0, 0, wxrefund.ChinaTime).UTC(),
		"23:30 China time":    time.Date(yesterday.Year(), yesterday.Month(), yesterday.Day(), 23, 30, 0, 0, wxrefund.ChinaTime),
		"the same, in UTC-10": time.Date(yesterday.Year(), yesterday.Month(), yesterday.Day(), 23, 30, 0, 0, wxrefund.ChinaTime).In(time.FixedZone("HST", -10*3600)),
	} {
		s.SetBill(date, s.SyntheticRefundBill(date, 3))
		sum, err := c.DownloadRefundBill(context.Background(), &wxrefund.RefundBillRequest{Date: date}, func(r *wxrefund.RefundBillRecord) error {
			if got := r.TradeTime.In(wxrefund.ChinaTime).Format("20060102"); got != yesterday.Format("20060102") {
				return fmt.Errorf("a row of %s in the bill of %s", got, yesterday.Format("20060102"))
			}
			return nil
		})
		require.NoError(t, err, name)
		require.EqualValues(t, 3, sum.Count, name)
		s.SetBill(date, nil)
	}
}
