package wxrefundtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// Sub-merchants and sub_appids of the partner tests.
const (
	subA     = "1900000110"
	subB     = "1900000111"
	appOfA   = "wxa000000000000001" // the sub_appid order PA1 was paid with
	appOfB   = "wxb000000000000001" // bound to subB by WithSubMerchant
	appOther = "wxc000000000000001" // bound to nobody
)

// newPartner starts a provider serving subA and subB (appOfB bound), with
// order PA1 of subA (paid with appOfA), PA2 of subA without a sub_appid and
// PB1 of subB.
func newPartner(t testing.TB, opts ...wxrefundtest.Option) *wxrefundtest.Server {
	t.Helper()
	s := newServer(t, append([]wxrefundtest.Option{
		wxrefundtest.WithPartner(subA),
		wxrefundtest.WithSubMerchant(subB, appOfB),
	}, opts...)...)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "PA1", TotalFee: 5000, CouponFee: 500, SubMchID: subA, SubAppID: appOfA})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "PA2", TotalFee: 1000, SubMchID: subA})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "PB1", TotalFee: 3000, SubMchID: subB})
	return s
}

// with returns p plus the given fields.
func with(p params, kv ...string) params {
	out := params{}
	for k, v := range p {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestPartnerRefundAndQuery(t *testing.T) {
	s := newPartner(t)
	require.Equal(t, []string{subA, subB}, s.SubMerchants())
	pa1, _ := s.Order("PA1")
	require.Equal(t, subA, pa1.SubMchID)

	req := params{"out_trade_no": "PA1", "out_refund_no": "RA1", "total_fee": "5000", "refund_fee": "2000"}
	f := call(t, s, wxrefundtest.PathRefund, with(req, "sub_mch_id", subA))
	requireOK(t, f)
	require.Equal(t, subA, f["sub_mch_id"], "the signed answer echoes sub_mch_id")
	require.NotContains(t, f, "sub_appid", "no sub_appid was sent")
	require.Equal(t, "200", f["coupon_refund_fee"])

	// The same refund again, now with the order's sub_appid: echoed too.
	again := call(t, s, wxrefundtest.PathRefund, with(req, "sub_mch_id", subA, "sub_appid", appOfA))
	requireOK(t, again)
	require.Equal(t, f["refund_id"], again["refund_id"])
	require.Equal(t, subA, again["sub_mch_id"])
	require.Equal(t, appOfA, again["sub_appid"])

	// HMAC-SHA256 signs the echoed fields as well.
	h := callType(t, s, wxrefundtest.PathRefundQuery, params{"out_refund_no": "RA1", "sub_mch_id": subA, "sub_appid": appOfA},
		wxrefund.SignTypeHMACSHA256)
	requireOK(t, h)
	require.Equal(t, subA, h["sub_mch_id"])
	require.Equal(t, appOfA, h["sub_appid"])
	require.Equal(t, "RA1", h["out_refund_no_0"])

	for _, by := range []params{
		{"out_refund_no": "RA1"}, {"refund_id": f["refund_id"]}, {"out_trade_no": "PA1"}, {"transaction_id": pa1.TransactionID},
	} {
		q := query(t, s, with(by, "sub_mch_id", subA))
		requireOK(t, q)
		require.Equal(t, "1", q["refund_count"])
		require.Equal(t, subA, q["sub_mch_id"])

		// Another sub-merchant of the same provider does not see it.
		q = query(t, s, with(by, "sub_mch_id", subB))
		requireErrCode(t, q, wxrefund.CodeRefundNotExist)
		require.Equal(t, subB, q["sub_mch_id"], "business failures echo sub_mch_id too")
	}

	// Nor can it refund it.
	for _, by := range []params{{"out_trade_no": "PA1"}, {"transaction_id": pa1.TransactionID}} {
		r := call(t, s, wxrefundtest.PathRefund, with(by, "sub_mch_id", subB, "out_refund_no", "RB9",
			"total_fee", "5000", "refund_fee", "1"))
		requireErrCode(t, r, wxrefund.CodeOrderNotExist)
		require.Equal(t, subB, r["sub_mch_id"])
	}
	_, ok := s.RefundState("RB9")
	require.False(t, ok)

	// subB refunds its own order, with the sub_appid bound to it.
	b := call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PB1", "out_refund_no": "RB1", "total_fee": "3000",
		"refund_fee": "3000", "sub_mch_id": subB, "sub_appid": appOfB})
	requireOK(t, b)
	require.Equal(t, appOfB, b["sub_appid"])

	st, _ := s.RefundState("RA1")
	require.Equal(t, subA, st.SubMchID)
	require.Equal(t, appOfA, st.SubAppID, "the order's sub_appid when the request had none")
	st, _ = s.RefundState("RB1")
	require.Equal(t, subB, st.SubMchID)
	require.Equal(t, appOfB, st.SubAppID)
}

func TestPartnerErrors(t *testing.T) {
	s := newPartner(t)
	direct := newServer(t)
	addOrder(t, direct, wxrefundtest.Order{OutTradeNo: "PA1", TotalFee: 5000})

	refundReq := params{"out_trade_no": "PA1", "out_refund_no": "E1", "total_fee": "5000", "refund_fee": "1"}
	queryReq := params{"out_trade_no": "PA1"}
	for _, tc := range []struct {
		name   string
		server *wxrefundtest.Server
		extra  []string
		msg    string
	}{
		{"partner without sub_mch_id", s, nil, "受理机构必须传入sub_mch_id"},
		{"partner with an empty sub_mch_id", s, []string{"sub_mch_id", ""}, "受理机构必须传入sub_mch_id"},
		{"partner with only sub_appid", s, []string{"sub_appid", appOfA}, "受理机构必须传入sub_mch_id"},
		{"unknown sub_mch_id", s, []string{"sub_mch_id", "1900000199"}, "受理关系不存在"},
		{"the provider's own mch_id", s, []string{"sub_mch_id", wxrefundtest.DefaultMchID}, "受理关系不存在"},
		{"sub_appid of another sub-merchant", s, []string{"sub_mch_id", subB, "sub_appid", appOfA}, "sub_mch_id与sub_appid不匹配"},
		{"sub_appid bound to nobody", s, []string{"sub_mch_id", subA, "sub_appid", appOther}, "sub_mch_id与sub_appid不匹配"},
		{"direct merchant with sub_mch_id", direct, []string{"sub_mch_id", subA}, "普通商户不允许传sub_mch_id"},
		{"direct merchant with sub_appid", direct, []string{"sub_appid", appOfA}, "普通商户不允许传sub_appid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for path, p := range map[string]params{wxrefundtest.PathRefund: refundReq, wxrefundtest.PathRefundQuery: queryReq} {
				f := call(t, tc.server, path, with(p, tc.extra...)) // decode requires FAIL answers to be unsigned
				requireReturnFail(t, f, tc.msg)
				require.NotContains(t, f, "sub_mch_id")
			}
			_, ok := tc.server.RefundState("E1")
			require.False(t, ok, "nothing was refunded")
		})
	}

	// A sub-merchant may send any sub_appid bound to it: its orders' and
	// WithSubMerchant's.
	requireOK(t, call(t, s, wxrefundtest.PathRefund, with(refundReq, "out_trade_no", "PA2", "total_fee", "1000",
		"sub_mch_id", subA, "sub_appid", appOfA)))
	requireErrCode(t, query(t, s, params{"out_trade_no": "PB1", "sub_mch_id": subB, "sub_appid": appOfB}),
		wxrefund.CodeRefundNotExist)
}

func TestPartnerOrdersAndOptions(t *testing.T) {
	s := newPartner(t)
	require.ErrorContains(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "X1", TotalFee: 1}), "SubMchID is required")
	require.ErrorContains(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "X1", TotalFee: 1, SubMchID: "1900000199"}),
		"not a sub-merchant")
	require.Error(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "X1", TotalFee: 1, SubMchID: subA, SubAppID: "wx 1"}))
	require.ErrorContains(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "PA1", TotalFee: 1, SubMchID: subB}), "exists",
		"out_trade_no is unique across sub-merchants")

	direct := newServer(t)
	require.Nil(t, direct.SubMerchants())
	require.ErrorContains(t, direct.AddOrder(wxrefundtest.Order{OutTradeNo: "X1", TotalFee: 1, SubMchID: subA}), "partner mode")
	require.ErrorContains(t, direct.AddOrder(wxrefundtest.Order{OutTradeNo: "X1", TotalFee: 1, SubAppID: appOfA}), "partner mode")

	for _, o := range []wxrefundtest.Option{
		wxrefundtest.WithPartner(),
		wxrefundtest.WithPartner(subA, ""),
		wxrefundtest.WithPartner("1900 0110"),
		wxrefundtest.WithSubMerchant(""),
		wxrefundtest.WithSubMerchant(subA, "wx?"),
	} {
		_, err := wxrefundtest.NewServer(o)
		require.Error(t, err)
	}
	// Options add up; a repeated sub-merchant is one.
	both := newServer(t, wxrefundtest.WithPartner(subB, subA), wxrefundtest.WithSubMerchant(subA, appOfA),
		wxrefundtest.WithSubMerchant(subA))
	require.Equal(t, []string{subA, subB}, both.SubMerchants())
}

func TestPartnerNotification(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	s := newPartner(t, wxrefundtest.WithNotifyURL(m.URL), wxrefundtest.WithNotifySchedule(time.Millisecond))
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA1", "out_refund_no": "RA1",
		"total_fee": "5000", "refund_fee": "2000", "sub_mch_id": subA}))
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA2", "out_refund_no": "RA2",
		"total_fee": "1000", "refund_fee": "1000", "sub_mch_id": subA}))
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PB1", "out_refund_no": "RB1",
		"total_fee": "3000", "refund_fee": "10", "sub_mch_id": subB, "sub_appid": appOfB}))
	for _, no := range []string{"RA1", "RA2", "RB1"} {
		require.NoError(t, s.Complete(no, wxrefund.RefundStatusSuccess))
		waitNotify(t, s, no, wxrefundtest.NotifyDelivered)
	}

	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key) // the provider's credentials
	require.NoError(t, err)
	got := map[string]params{}
	for _, body := range m.received() {
		outer, inner := decryptNotify(t, s, body) // requires the provider's appid and mch_id, no sign
		got[inner["out_refund_no"]] = outer
		for k := range inner {
			require.NotContains(t, []string{"sub_mch_id", "sub_appid", "appid", "mch_id"}, k, "req_info is as for a direct merchant")
		}
		// wxrefund.Client reads partner notifications with the provider's key.
		n, err := c.DecryptNotify(body)
		require.NoError(t, err)
		require.Equal(t, inner["out_refund_no"], n.OutRefundNo)
		require.Equal(t, wxrefund.RefundStatusSuccess, n.Status)
	}
	require.Len(t, got, 3)
	require.Equal(t, subA, got["RA1"]["sub_mch_id"])
	require.Equal(t, appOfA, got["RA1"]["sub_appid"], "the order's sub_appid")
	require.Equal(t, subA, got["RA2"]["sub_mch_id"])
	require.NotContains(t, got["RA2"], "sub_appid", "unknown for an order paid without one")
	require.Equal(t, subB, got["RB1"]["sub_mch_id"])
	require.Equal(t, appOfB, got["RB1"]["sub_appid"], "the request's sub_appid")
	for no, outer := range got {
		want := []string{"return_code", "appid", "mch_id", "sub_mch_id", "nonce_str", "req_info"}
		if no != "RA2" {
			want = append(want, "sub_appid")
		}
		require.ElementsMatch(t, want, keys(outer), "outer fields of %s", no)
	}
}

func keys(p params) []string {
	out := make([]string, 0, len(p))
	for k := range p {
		out = append(out, k)
	}
	return out
}

func TestEncryptPartnerNotify(t *testing.T) {
	const key = wxrefundtest.DefaultAPIKey
	inner := params{"out_refund_no": "R1", "refund_status": "SUCCESS"}
	body, err := wxrefundtest.EncryptPartnerNotify(key, inner, "wxprovider", "1900000109", "wxsub", subA)
	require.NoError(t, err)
	outer, err := wxrefundtest.DecodeXML(body, "xml")
	require.NoError(t, err)
	require.Equal(t, "wxprovider", outer["appid"])
	require.Equal(t, "1900000109", outer["mch_id"])
	require.Equal(t, "wxsub", outer["sub_appid"])
	require.Equal(t, subA, outer["sub_mch_id"])

	body, err = wxrefundtest.EncryptPartnerNotify(key, inner, "wxprovider", "1900000109", "", subA)
	require.NoError(t, err)
	outer, err = wxrefundtest.DecodeXML(body, "xml")
	require.NoError(t, err)
	require.NotContains(t, outer, "sub_appid")

	_, err = wxrefundtest.EncryptPartnerNotify("short", inner, "a", "m", "", subA)
	require.ErrorContains(t, err, "EncryptPartnerNotify")
}

// TestPartnerWithClient: wxrefund.Client, which sends no sub_mch_id, gets
// WeChat Pay's answer from a provider, while a direct merchant is
// unaffected.
func TestPartnerWithClient(t *testing.T) {
	ctx := context.Background()
	s := newPartner(t)
	c := newClient(t, s)
	_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "PA1", OutRefundNo: "R1", TotalFee: 5000, RefundFee: 1})
	var we *wxrefund.Error
	require.True(t, errors.As(err, &we), "%v", err)
	require.Equal(t, "FAIL", we.ReturnCode)
	require.Equal(t, "受理机构必须传入sub_mch_id", we.ReturnMsg)
	_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	require.True(t, errors.As(err, &we), "%v", err)
	require.Equal(t, "受理机构必须传入sub_mch_id", we.ReturnMsg)
}

func TestPartnerAdmin(t *testing.T) {
	s := newPartner(t)
	status, raw := admin(t, s, http.MethodPost, "/fake/orders",
		`{"out_trade_no":"PA9","total_fee":100,"sub_mch_id":"1900000111","sub_appid":"wxd000000000000001"}`)
	require.Equal(t, http.StatusCreated, status, "%s", raw)
	var o wxrefundtest.Order
	require.NoError(t, json.Unmarshal(raw, &o))
	require.Equal(t, subB, o.SubMchID)
	require.Equal(t, "wxd000000000000001", o.SubAppID)

	status, raw = admin(t, s, http.MethodPost, "/fake/orders", `{"out_trade_no":"PA8","total_fee":100}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(raw), "SubMchID is required")

	// The order's sub_appid is now bound to subB.
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA9", "out_refund_no": "R9", "total_fee": "100",
		"refund_fee": "100", "sub_mch_id": subB, "sub_appid": "wxd000000000000001"}))
	status, raw = admin(t, s, http.MethodGet, "/fake/refunds?out_trade_no=PA9", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(raw), `"sub_mch_id":"1900000111"`)
	require.Contains(t, string(raw), `"sub_appid":"wxd000000000000001"`)

	direct := newServer(t)
	status, raw = admin(t, direct, http.MethodPost, "/fake/orders", `{"out_trade_no":"D1","total_fee":100,"sub_mch_id":"1900000110"}`)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(raw), "partner mode")
	status, raw = admin(t, direct, http.MethodPost, "/fake/orders", `{"out_trade_no":"D1","total_fee":100}`)
	require.Equal(t, http.StatusCreated, status)
	require.NotContains(t, string(raw), "sub_mch_id", "direct orders have no sub-merchant fields")
}
