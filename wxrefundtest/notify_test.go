package wxrefundtest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

const (
	ackOK   = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
	ackFail = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[busy]]></return_msg></xml>"
)

// merchant is a notify URL that records what it receives and answers the
// n-th delivery (from 1) with reply(n).
type merchant struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newMerchant(t testing.TB, reply func(n int) (status int, body string)) *merchant {
	t.Helper()
	m := &merchant{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.bodies = append(m.bodies, body)
		n := len(m.bodies)
		m.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "text/xml; charset=utf-8" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status, b := reply(n)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, b)
	}))
	t.Cleanup(m.Close)
	return m
}

func alwaysOK(int) (int, string) { return http.StatusOK, ackOK }

func (m *merchant) received() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.bodies...)
}

// decryptNotify opens a notification the way
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16 describes,
// with the fake's own codec rather than wxrefund.Client: outer <xml>,
// base64, AES-256-ECB with the MD5-hex key, PKCS#7, inner <root>.
func decryptNotify(t testing.TB, s *wxrefundtest.Server, body []byte) (outer, inner params) {
	t.Helper()
	outer, err := wxrefundtest.DecodeXML(body, "xml")
	require.NoError(t, err)
	appID, mchID, key := s.Credentials()
	require.Equal(t, "SUCCESS", outer["return_code"])
	require.Equal(t, appID, outer["appid"])
	require.Equal(t, mchID, outer["mch_id"])
	require.NotEmpty(t, outer["nonce_str"])
	require.NotContains(t, outer, "sign", "the outer notification is not signed")
	ct, err := base64.StdEncoding.DecodeString(outer["req_info"])
	require.NoError(t, err)
	pt, err := wxrefundtest.DecryptECB(key, ct)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(pt, []byte("<root>")), "inner root is <root>: %s", pt)
	inner, err = wxrefundtest.DecodeXML(pt, "root")
	require.NoError(t, err)
	return outer, inner
}

func waitDeliveries(t testing.TB, s *wxrefundtest.Server, n int) []wxrefundtest.Delivery {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.Deliveries()) >= n }, 10*time.Second, time.Millisecond,
		"waiting for %d deliveries", n)
	return s.Deliveries()
}

func waitNotify(t testing.TB, s *wxrefundtest.Server, outRefundNo string, want wxrefundtest.NotifyState) {
	t.Helper()
	require.Eventually(t, func() bool {
		st, _ := s.RefundState(outRefundNo)
		return st.Notify == want
	}, 10*time.Second, time.Millisecond, "waiting for %s to be %s", outRefundNo, want)
}

func TestCompleteDeliversNotification(t *testing.T) {
	clk := newClock()
	m := newMerchant(t, alwaysOK)
	s := newServer(t, wxrefundtest.WithClock(clk.Now))
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000, CouponFee: 500})
	f := call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "ORD1", "out_refund_no": "RF1",
		"total_fee": "5000", "refund_fee": "2000", "notify_url": m.URL + "/notify"})
	requireOK(t, f)
	require.Empty(t, m.received(), "no notification while PROCESSING")

	clk.Advance(time.Minute)
	require.NoError(t, s.Complete("RF1", wxrefund.RefundStatusSuccess))
	ds := waitDeliveries(t, s, 1)
	require.Len(t, ds, 1)
	require.Equal(t, wxrefundtest.Delivery{OutRefundNo: "RF1", URL: m.URL + "/notify", Attempt: 1, Time: clk.Now(),
		StatusCode: 200, ReturnCode: "SUCCESS", ReturnMsg: "OK"}, ds[0])
	require.True(t, ds[0].OK())
	waitNotify(t, s, "RF1", wxrefundtest.NotifyDelivered)

	got := m.received()
	require.Len(t, got, 1)
	_, inner := decryptNotify(t, s, got[0])
	require.Equal(t, params{
		"transaction_id": o.TransactionID, "out_trade_no": "ORD1", "refund_id": f["refund_id"],
		"out_refund_no": "RF1", "total_fee": "5000", "settlement_total_fee": "4500", "refund_fee": "2000",
		"settlement_refund_fee": "1800", "refund_status": "SUCCESS", "success_time": "2024-06-03 10:16:42",
		"refund_recv_accout": "支付用户零钱", "refund_account": wxrefund.RefundAccountUnsettledFunds,
		"refund_request_source": "API",
	}, inner)

	// wxrefund.Client reads the same body.
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key)
	require.NoError(t, err)
	n, err := c.DecryptNotify(got[0])
	require.NoError(t, err)
	require.Equal(t, "RF1", n.OutRefundNo)
	require.Equal(t, f["refund_id"], n.RefundID)
	require.Equal(t, wxrefund.RefundStatusSuccess, n.Status)
	require.EqualValues(t, 2000, n.RefundFee)
	require.EqualValues(t, 1800, n.SettlementRefundFee)
	require.True(t, n.SuccessTime.Equal(clk.Now()))

	st, _ := s.RefundState("RF1")
	require.Equal(t, wxrefund.RefundStatusSuccess, st.Status)
}

func TestCompleteStatuses(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	s := newServer(t, wxrefundtest.WithBalance(10000), wxrefundtest.WithNotifyURL(m.URL))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000, CouponFee: 100})

	mustRefund(t, s, "O1", "CLOSED", 1000, 1000)
	require.EqualValues(t, 9100, s.Balance())
	require.NoError(t, s.Complete("CLOSED", wxrefund.RefundStatusClosed))
	// A closed refund gives the amount back to the order and the balance.
	require.EqualValues(t, 10000, s.Balance())
	mustRefund(t, s, "O1", "CHANGED", 1000, 600)
	require.NoError(t, s.Complete("CHANGED", wxrefund.RefundStatusChange))
	// CHANGE keeps the amount refunded: only 400 are left.
	requireErrCode(t, refund(t, s, "O1", "R3", 1000, 401), wxrefund.CodeInvalidRequest)

	ds := waitDeliveries(t, s, 2)
	statuses := map[string]string{}
	for _, b := range m.received() {
		_, inner := decryptNotify(t, s, b)
		statuses[inner["out_refund_no"]] = inner["refund_status"]
		require.NotContains(t, inner, "success_time", "only SUCCESS has a success time")
	}
	require.Equal(t, map[string]string{"CLOSED": "REFUNDCLOSE", "CHANGED": "CHANGE"}, statuses)
	require.Equal(t, m.URL, ds[0].URL, "WithNotifyURL is the default notify URL")

	require.ErrorIs(t, s.Complete("CLOSED", wxrefund.RefundStatusSuccess), wxrefundtest.ErrNotProcessing)
	require.ErrorIs(t, s.Complete("NOPE", wxrefund.RefundStatusSuccess), wxrefundtest.ErrUnknownRefund)
	mustRefund(t, s, "O1", "R4", 1000, 10)
	require.Error(t, s.Complete("R4", wxrefund.RefundStatusProcessing))
	require.Error(t, s.Complete("R4", "FAIL"))
	st, _ := s.RefundState("R4")
	require.Equal(t, wxrefund.RefundStatusProcessing, st.Status)
}

func TestNoNotifyURL(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	st, _ := s.RefundState("R1")
	require.Equal(t, wxrefundtest.NotifyState(""), st.Notify)
	require.Error(t, s.Redeliver("R1"))
	require.Empty(t, s.Deliveries())
}

func TestRedeliveryUntilSuccess(t *testing.T) {
	m := newMerchant(t, func(n int) (int, string) {
		if n == 1 {
			return http.StatusOK, ackFail
		}
		return http.StatusOK, ackOK
	})
	s := newServer(t, wxrefundtest.WithNotifySchedule(time.Millisecond, time.Millisecond, time.Millisecond))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "100", "refund_fee": "10", "notify_url": m.URL}))
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))

	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)
	ds := s.Deliveries()
	require.Len(t, ds, 2)
	require.Equal(t, 1, ds[0].Attempt)
	require.Equal(t, "FAIL", ds[0].ReturnCode)
	require.Equal(t, "busy", ds[0].ReturnMsg)
	require.False(t, ds[0].OK())
	require.Equal(t, 2, ds[1].Attempt)
	require.True(t, ds[1].OK())
	// Redeliveries are the same notification.
	got := m.received()
	require.Len(t, got, 2)
	_, a := decryptNotify(t, s, got[0])
	_, b := decryptNotify(t, s, got[1])
	require.Equal(t, a, b)
}

func TestRedeliveryGivesUp(t *testing.T) {
	var calls atomic.Int32
	m := newMerchant(t, func(n int) (int, string) {
		calls.Add(1)
		switch n % 3 {
		case 1:
			return http.StatusInternalServerError, ackOK // SUCCESS needs HTTP 200 too
		case 2:
			return http.StatusOK, "not xml"
		}
		return http.StatusOK, ackFail
	})
	s := newServer(t, wxrefundtest.WithNotifySchedule(time.Millisecond, 2*time.Millisecond, time.Millisecond))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "100", "refund_fee": "10", "notify_url": m.URL}))
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))

	waitNotify(t, s, "R1", wxrefundtest.NotifyAbandoned)
	ds := s.Deliveries()
	require.Len(t, ds, 4, "one delivery and three redeliveries")
	require.EqualValues(t, 4, calls.Load())
	require.Equal(t, 500, ds[0].StatusCode)
	require.Equal(t, "SUCCESS", ds[0].ReturnCode)
	require.False(t, ds[0].OK())
	require.Contains(t, ds[1].Err, "reply")
	require.Equal(t, "FAIL", ds[2].ReturnCode)
	for i, d := range ds {
		require.Equal(t, i+1, d.Attempt)
	}

	// A transport failure is recorded too.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R2",
		"total_fee": "100", "refund_fee": "10", "notify_url": deadURL}))
	require.NoError(t, s.Complete("R2", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R2", wxrefundtest.NotifyAbandoned)
	ds = s.Deliveries()
	require.Len(t, ds, 8)
	require.NotEmpty(t, ds[7].Err)
	require.Zero(t, ds[7].StatusCode)
}

// TestRedeliverDuplicate sends a duplicate on purpose and checks a merchant
// handler written with wxrefund.Client.NotifyHandler stays idempotent.
func TestRedeliverDuplicate(t *testing.T) {
	s := newServer(t)
	appID, mchID, key := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, key)
	require.NoError(t, err)
	var mu sync.Mutex
	calls, credited := 0, map[string]int64{}
	h := c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if _, done := credited[n.OutRefundNo]; !done { // idempotent transition
			credited[n.OutRefundNo] = n.RefundFee
		}
		return nil
	})
	ms := httptest.NewServer(h)
	t.Cleanup(ms.Close)

	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "100", "refund_fee": "10", "notify_url": ms.URL}))
	require.Error(t, s.Redeliver("R1"), "nothing to redeliver while PROCESSING")
	require.ErrorIs(t, s.Redeliver("NOPE"), wxrefundtest.ErrUnknownRefund)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)

	require.NoError(t, s.Redeliver("R1"))
	require.NoError(t, s.Redeliver("R1"))
	ds := s.Deliveries()
	require.Len(t, ds, 3)
	require.False(t, ds[0].Duplicate)
	require.True(t, ds[1].Duplicate)
	require.Equal(t, 3, ds[2].Attempt)
	mu.Lock()
	require.Equal(t, 3, calls)
	require.Equal(t, map[string]int64{"R1": 10}, credited)
	mu.Unlock()
}

func TestRedeliverReportsFailure(t *testing.T) {
	m := newMerchant(t, func(n int) (int, string) {
		if n == 1 {
			return http.StatusOK, ackOK
		}
		return http.StatusServiceUnavailable, ackFail
	})
	s := newServer(t, wxrefundtest.WithNotifyURL(m.URL))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)
	require.ErrorIs(t, s.Redeliver("R1"), wxrefundtest.ErrDeliveryFailed)
	waitDeliveries(t, s, 2)
	st, _ := s.RefundState("R1")
	require.Equal(t, wxrefundtest.NotifyDelivered, st.Notify, "a failed duplicate changes nothing")
}

func TestAutoComplete(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	s := newServer(t, wxrefundtest.WithAutoComplete(0), wxrefundtest.WithNotifyURL(m.URL))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	mustRefund(t, s, "O1", "R2", 100, 20)
	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)
	waitNotify(t, s, "R2", wxrefundtest.NotifyDelivered)
	for _, st := range s.Refunds("O1") {
		require.Equal(t, wxrefund.RefundStatusSuccess, st.Status)
	}
	f := query(t, s, params{"out_refund_no": "R2"})
	require.Equal(t, "SUCCESS", f["refund_status_0"])
	require.NotEmpty(t, f["refund_success_time_0"])
	require.Len(t, m.received(), 2)
}

func TestNotifyHTTPS(t *testing.T) {
	var got atomic.Int32
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, _ = io.WriteString(w, ackOK)
	}))
	t.Cleanup(ts.Close)

	// The default client does not trust httptest's certificate.
	s := newServer(t, wxrefundtest.WithNotifyURL(ts.URL), wxrefundtest.WithNotifySchedule())
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R1", wxrefundtest.NotifyAbandoned)
	require.Contains(t, s.Deliveries()[0].Err, "certificate")

	// WithNotifyClient makes it trust it.
	s2 := newServer(t, wxrefundtest.WithNotifyURL(ts.URL), wxrefundtest.WithNotifyClient(ts.Client()))
	addOrder(t, s2, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s2, "O1", "R1", 100, 10)
	require.NoError(t, s2.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s2, "R1", wxrefundtest.NotifyDelivered)
	require.EqualValues(t, 1, got.Load())
}

func TestNotifyRedirectIsFailure(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	redirect := httptest.NewServer(http.RedirectHandler(m.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	s := newServer(t, wxrefundtest.WithNotifyURL(redirect.URL), wxrefundtest.WithNotifySchedule())
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R1", wxrefundtest.NotifyAbandoned)
	require.Equal(t, http.StatusFound, s.Deliveries()[0].StatusCode)
	require.Empty(t, m.received())
}

// TestCloseStopsDeliveries checks that Close cancels a delivery in flight and
// the schedule behind it, and that the Server refuses new work afterwards.
func TestCloseStopsDeliveries(t *testing.T) {
	arrived := make(chan struct{}, 1)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the server notices the client leaving only once the body is read
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	}))
	t.Cleanup(hang.Close)

	s, err := wxrefundtest.NewServer(wxrefundtest.WithNotifyURL(hang.URL), wxrefundtest.WithAutoComplete(time.Hour))
	require.NoError(t, err)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10) // its automatic completion is pending
	mustRefund(t, s, "O1", "R2", 100, 10)
	require.NoError(t, s.Complete("R2", wxrefund.RefundStatusSuccess))
	<-arrived

	s.Close() // returns although the merchant never answers
	s.Close()
	ds := s.Deliveries()
	require.Len(t, ds, 1)
	require.NotEmpty(t, ds[0].Err)
	require.ErrorIs(t, s.Complete("R1", wxrefund.RefundStatusSuccess), wxrefundtest.ErrClosed)
	require.ErrorIs(t, s.Redeliver("R2"), wxrefundtest.ErrClosed)
	st, _ := s.RefundState("R1")
	require.Equal(t, wxrefund.RefundStatusProcessing, st.Status)
}

func TestEncryptNotify(t *testing.T) {
	const key = "Illustr8tiveApiV2Key0123456789Ab"
	fields := params{
		"out_refund_no": "RF20240603000001", "out_trade_no": "ORD20240601123456",
		"refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS", "refund_fee": "2000",
		"refund_id": "50300012345202406031234567890", "refund_recv_accout": "支付用户零钱",
		"refund_request_source": "API", "refund_status": "SUCCESS", "settlement_refund_fee": "1800",
		"settlement_total_fee": "4500", "success_time": "2024-06-03 10:15:42", "total_fee": "5000",
		"transaction_id": "4200001234202406011234567890",
	}
	body, err := wxrefundtest.EncryptNotify(key, fields, "wx8888888888888888", "1900000109")
	require.NoError(t, err)

	// Decrypted by the fake's codec, it holds exactly the fields.
	outer, err := wxrefundtest.DecodeXML(body, "xml")
	require.NoError(t, err)
	require.Equal(t, "SUCCESS", outer["return_code"])
	ct, err := base64.StdEncoding.DecodeString(outer["req_info"])
	require.NoError(t, err)
	pt, err := wxrefundtest.DecryptECB(key, ct)
	require.NoError(t, err)
	inner, err := wxrefundtest.DecodeXML(pt, "root")
	require.NoError(t, err)
	require.Equal(t, fields, inner)

	// The req_info of testdata/vectors/notify_9_4.xml decrypts with the same
	// key derivation to the same fields (its plaintext has line breaks, so
	// its bytes differ).
	const sample = "sEjsQrpoAzx9vdtBadNoafY53LmUnRd8lnXNKA1qHG+EHWUHGlS/gD+o/CHh+IYEgQWl4rJPh8x3AnMoG/TRLTNIqHfVIFKet4eLLQ9KUu2V83vqd5usLMFw0LWz8Wzly2e3VWOs1L9pHNiewoN+Y1dccGMnL77yjSv7L7Pjc6AXPfxmpkqxjdLkA0QCXU9Y0JB8HH6bMDBpPt3QH4waJEnMMJT8qYX+j8j3IUyqIj1WTNgpqIl1dVpca+CZzQq5QEyjsj7f0JbOJzl0/eQM6OsXAekYJAUSd7DLjAbBVMh7jD+ld6crCnRoKV2UXM+f2CkvpnzqNS9k7QJ4s9JciO6VWYpUB6A7uhAc6cNsmv1YLw+VYaP/SMjGlxzrsTL10A+7NhwKoSy5ZY21aXcoLRW2oOJYSYnj7WszmnuVTbuDzyqKsJzQSA0MWaNUHD2WsXW1GiElECySRtWnFCw5plIMSxyYhWZyvk++317poJgzldI64Y2H//KKqQ3z3N62MDzx3Ccz5Bws6FLsw6v5sQrUx6U8NzhoqV6kiWhVBsmNS44cLf2ipt+GclO7Mf6mA/eM5Jl0ZLshzjivWgNg/GpIVBI3sdgQ3AQXlH0ttR9KrzhRUVJM7qW8QYQz66L302v+DLgSy1pVE7veLJlMXnqEcnhYSbBooEzmHANAs3UUZpvOELI7xACdnMxsinkXOdk2BoKXB9CXmla7M/YwrpO9W0tBB9/Zv79yWiMRobt71MvwJwJlci8M0g/wvn6PhuECSm9c3C5F2J9h4zUDgw5sY4Lmxjt7O/DLEHppzRHst9gghWEGgdXSFXYDiC9dZUt8XGj5K2/sompVi2joTTPzR+RwhLL9KspGnCy67AsWKHWg+a8Q0NXvsfwBPFjSRzGZWJ+1ppAxjsYejg3ywFYOlxl6Nj4Q/HwLGH55MzVoQ/JKqBS6D+oG9U0NfwNSIZ8Dt8IgwA7yvXOoAXMb+KcyfEuJQfVtiMO/rYsZCVbMJeGiSdPJoI4kDIXe3ougs4hAx7HDq4V+VxKd7Po+zBzoPlvmvPIfv6PBxE/AJ/x6+XPI4Gm1hFDIJvcFT2H4"
	ct, err = base64.StdEncoding.DecodeString(sample)
	require.NoError(t, err)
	pt, err = wxrefundtest.DecryptECB(key, ct)
	require.NoError(t, err)
	want, err := wxrefundtest.DecodeXML(pt, "root")
	require.NoError(t, err)
	require.Equal(t, want, inner)

	// And wxrefund.Client, with the SDK's own codec, reads it.
	c, err := wxrefund.NewClient("wx8888888888888888", "1900000109", key)
	require.NoError(t, err)
	n, err := c.DecryptNotify(body)
	require.NoError(t, err)
	require.Equal(t, "RF20240603000001", n.OutRefundNo)
	require.EqualValues(t, 4500, n.SettlementTotalFee)

	// Another key cannot read it.
	other, err := wxrefund.NewClient("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ac")
	require.NoError(t, err)
	_, err = other.DecryptNotify(body)
	require.ErrorIs(t, err, wxrefund.ErrDecrypt)

	_, err = wxrefundtest.EncryptNotify("short", fields, "wx", "1")
	require.Error(t, err)
	_, err = wxrefundtest.EncryptNotify(key, params{"bad name": "x"}, "wx", "1")
	require.Error(t, err)
	_, err = wxrefundtest.EncryptNotify(key, fields, "wx\x00", "1")
	require.Error(t, err)
}
