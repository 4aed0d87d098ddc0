package wxrefundtest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// admin sends a JSON admin request without a client certificate and returns
// the status and body, requiring a JSON answer.
func admin(t testing.TB, s *wxrefundtest.Server, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	require.NoError(t, err)
	resp, err := httpClient(t, s, false).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	require.True(t, json.Valid(raw), "%s", raw)
	return resp.StatusCode, raw
}

func TestAdminAPI(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	s := newServer(t)

	status, raw := admin(t, s, http.MethodPost, "/fake/orders",
		`{"out_trade_no":"O1","total_fee":5000,"coupon_fee":500}`)
	require.Equal(t, http.StatusCreated, status, "%s", raw)
	var o wxrefundtest.Order
	require.NoError(t, json.Unmarshal(raw, &o))
	require.Equal(t, "O1", o.OutTradeNo)
	require.Len(t, o.TransactionID, 28, "generated")
	require.True(t, isDigits(o.TransactionID))
	require.NotEmpty(t, o.CouponID)
	stored, ok := s.Order("O1")
	require.True(t, ok)
	require.Equal(t, o.TransactionID, stored.TransactionID)

	status, _ = admin(t, s, http.MethodPost, "/fake/orders",
		`{"out_trade_no":"O2","transaction_id":"4200000000000000000000000002","total_fee":100,"paid_at":"2024-01-02T03:04:05Z"}`)
	require.Equal(t, http.StatusCreated, status)
	o2, _ := s.Order("O2")
	require.Equal(t, "4200000000000000000000000002", o2.TransactionID)
	require.Equal(t, 2024, o2.PaidAt.Year())

	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "5000", "refund_fee": "2000", "notify_url": m.URL}))

	status, raw = admin(t, s, http.MethodGet, "/fake/refunds?out_trade_no=O1", "")
	require.Equal(t, http.StatusOK, status)
	var refunds []wxrefundtest.RefundState
	require.NoError(t, json.Unmarshal(raw, &refunds))
	require.Len(t, refunds, 1)
	require.Equal(t, "R1", refunds[0].OutRefundNo)
	require.Equal(t, wxrefund.RefundStatusProcessing, refunds[0].Status)
	require.EqualValues(t, 200, refunds[0].CouponRefundFee)
	require.Contains(t, string(raw), `"out_refund_no":"R1"`)
	require.NotContains(t, string(raw), "success_time", "zero times are omitted")

	status, raw = admin(t, s, http.MethodGet, "/fake/refunds?out_trade_no=O2", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `[]`, string(raw))

	status, raw = admin(t, s, http.MethodPost, "/fake/refunds/complete", `{"out_refund_no":"R1","status":"SUCCESS"}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	var st wxrefundtest.RefundState
	require.NoError(t, json.Unmarshal(raw, &st))
	require.Equal(t, wxrefund.RefundStatusSuccess, st.Status)
	require.False(t, st.SuccessTime.IsZero())
	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)

	status, raw = admin(t, s, http.MethodGet, "/fake/deliveries", "")
	require.Equal(t, http.StatusOK, status)
	var ds []wxrefundtest.Delivery
	require.NoError(t, json.Unmarshal(raw, &ds))
	require.Len(t, ds, 1)
	require.Equal(t, "R1", ds[0].OutRefundNo)
	require.Equal(t, 200, ds[0].StatusCode)
	require.Equal(t, "SUCCESS", ds[0].ReturnCode)

	status, raw = admin(t, s, http.MethodPost, "/fake/refunds/redeliver", `{"out_refund_no":"R1"}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	var d wxrefundtest.Delivery
	require.NoError(t, json.Unmarshal(raw, &d))
	require.True(t, d.Duplicate)
	require.Equal(t, 2, d.Attempt)
	require.Len(t, m.received(), 2)

	status, _ = admin(t, s, http.MethodPost, "/fake/fail", `{"path":"/pay/refundquery","err_code":"SYSTEMERROR","times":1}`)
	require.Equal(t, http.StatusOK, status)
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeSystemError)
	requireOK(t, query(t, s, params{"out_refund_no": "R1"}))

	status, raw = admin(t, s, http.MethodPost, "/fake/balance", `{"balance":1000}`)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"balance":1000}`, string(raw))
	status, raw = admin(t, s, http.MethodGet, "/fake/balance", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"balance":1000}`, string(raw))
	require.EqualValues(t, 1000, s.Balance())
}

func TestAdminDeliveriesEmpty(t *testing.T) {
	s := newServer(t)
	status, raw := admin(t, s, http.MethodGet, "/fake/deliveries", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `[]`, string(raw))
}

func TestAdminErrors(t *testing.T) {
	m := newMerchant(t, func(int) (int, string) { return http.StatusInternalServerError, ackFail })
	s := newServer(t, wxrefundtest.WithNotifySchedule())
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "PROC", 100, 10)
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "DONE",
		"total_fee": "100", "refund_fee": "10", "notify_url": m.URL}))
	require.NoError(t, s.Complete("DONE", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "DONE", wxrefundtest.NotifyAbandoned)

	for _, c := range []struct {
		name, method, path, body string
		status                   int
	}{
		{"not JSON", "POST", "/fake/orders", `out_trade_no=O9`, 400},
		{"empty body", "POST", "/fake/orders", ``, 400},
		{"unknown field", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":1,"amount":1}`, 400},
		{"two objects", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":1}{}`, 400},
		{"fee as string", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":"100"}`, 400},
		{"no out_trade_no", "POST", "/fake/orders", `{"total_fee":100}`, 400},
		{"zero total", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":0}`, 400},
		{"coupon over total", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":10,"coupon_fee":11}`, 400},
		{"negative coupon", "POST", "/fake/orders", `{"out_trade_no":"O9","total_fee":10,"coupon_fee":-1}`, 400},
		{"duplicate order", "POST", "/fake/orders", `{"out_trade_no":"O1","total_fee":100}`, 400},
		{"bad out_trade_no", "POST", "/fake/orders", `{"out_trade_no":"O 9","total_fee":100}`, 400},
		{"null", "POST", "/fake/orders", `null`, 400},
		{"huge body", "POST", "/fake/orders", `{"out_trade_no":"` + strings.Repeat("x", 70<<10) + `"}`, 400},
		{"refunds without order", "GET", "/fake/refunds", ``, 400},
		{"refunds unknown order", "GET", "/fake/refunds?out_trade_no=NOPE", ``, 400},
		{"complete unknown", "POST", "/fake/refunds/complete", `{"out_refund_no":"NOPE","status":"SUCCESS"}`, 400},
		{"complete bad status", "POST", "/fake/refunds/complete", `{"out_refund_no":"PROC","status":"DONE"}`, 400},
		{"complete no status", "POST", "/fake/refunds/complete", `{"out_refund_no":"PROC"}`, 400},
		{"complete twice", "POST", "/fake/refunds/complete", `{"out_refund_no":"DONE","status":"SUCCESS"}`, 400},
		{"redeliver unknown", "POST", "/fake/refunds/redeliver", `{"out_refund_no":"NOPE"}`, 400},
		{"redeliver processing", "POST", "/fake/refunds/redeliver", `{"out_refund_no":"PROC"}`, 400},
		{"redeliver refused", "POST", "/fake/refunds/redeliver", `{"out_refund_no":"DONE"}`, 502},
		{"fail bad path", "POST", "/fake/fail", `{"path":"/pay/unifiedorder","err_code":"SYSTEMERROR","times":1}`, 400},
		{"fail bad code", "POST", "/fake/fail", `{"path":"/pay/refundquery","err_code":"<x>","times":1}`, 400},
		{"balance missing", "POST", "/fake/balance", `{}`, 400},
		{"balance negative", "POST", "/fake/balance", `{"balance":-1}`, 400},
		{"unknown path", "GET", "/fake/nope", ``, 404},
		{"unknown subpath", "POST", "/fake/orders/O1", `{}`, 404},
		{"wrong method", "GET", "/fake/orders", ``, 405},
		{"wrong method 2", "DELETE", "/fake/balance", ``, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, raw := admin(t, s, c.method, c.path, c.body)
			require.Equal(t, c.status, status, "%s", raw)
			var e struct {
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(raw, &e))
			require.NotEmpty(t, e.Error)
		})
	}
	// Nothing changed.
	require.Len(t, s.Refunds("O1"), 2)
	st, _ := s.RefundState("PROC")
	require.Equal(t, wxrefund.RefundStatusProcessing, st.Status)
	_, ok := s.Order("O9")
	require.False(t, ok)
}

func TestAdminAllowHeader(t *testing.T) {
	s := newServer(t)
	req, err := http.NewRequest(http.MethodPut, s.URL()+"/fake/balance", nil)
	require.NoError(t, err)
	resp, err := httpClient(t, s, false).Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	require.Equal(t, "GET, POST", resp.Header.Get("Allow"))
}

// A page on another site must not drive the admin API from the developer's
// browser; curl, Go clients and the fake's own origin may.
func TestAdminRefusesCrossSite(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.SetBalance(500))
	post := func(header http.Header) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, s.URL()+"/fake/balance", strings.NewReader(`{"balance":7}`))
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := httpClient(t, s, false).Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, header := range map[string]http.Header{
		"other origin":     {"Origin": {"https://evil.example"}},
		"other port":       {"Origin": {"https://127.0.0.1:1"}},
		"null origin":      {"Origin": {"null"}},
		"plain http":       {"Origin": {strings.Replace(s.URL(), "https:", "http:", 1)}},
		"cross-site fetch": {"Sec-Fetch-Site": {"cross-site"}},
		"same-site fetch":  {"Sec-Fetch-Site": {"same-site"}},
	} {
		require.Equal(t, http.StatusForbidden, post(header), name)
		require.EqualValues(t, 500, s.Balance(), name)
	}
	// Reading stays open to any origin.
	status, _ := admin(t, s, http.MethodGet, "/fake/balance", "")
	require.Equal(t, http.StatusOK, status)

	require.Equal(t, http.StatusOK, post(http.Header{"Origin": {s.URL()}, "Sec-Fetch-Site": {"same-origin"}}))
	require.EqualValues(t, 7, s.Balance())
	require.Equal(t, http.StatusOK, post(nil), "curl sends neither header")
	require.EqualValues(t, 7, s.Balance())
}
