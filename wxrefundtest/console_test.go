package wxrefundtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// consoleGet fetches the console page (or another path under it) without a
// client certificate and returns its status and body.
func consoleGet(t testing.TB, s *wxrefundtest.Server, pathAndQuery string) (int, string) {
	t.Helper()
	return consoleGetURL(t, s, s.URL()+pathAndQuery)
}

// consoleGetURL is consoleGet of an absolute URL (on either domain).
func consoleGetURL(t testing.TB, s *wxrefundtest.Server, u string) (int, string) {
	t.Helper()
	resp, err := httpClient(t, s, false).Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(raw)
}

// consolePage fetches the console, requiring an HTML page.
func consolePage(t testing.TB, s *wxrefundtest.Server) string {
	t.Helper()
	status, body := consoleGet(t, s, wxrefundtest.PathConsole)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "test double")
	return body
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// consoleToken reads the form token from the console page.
func consoleToken(t testing.TB, s *wxrefundtest.Server) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(consolePage(t, s))
	require.NotNil(t, m, "no token in the console's forms")
	return m[1]
}

// consolePost posts form to the console action (with the page's token unless
// form has one, and the given headers, by default a same-origin Origin) and
// returns the status and Location, without following the redirect.
func consolePost(t testing.TB, s *wxrefundtest.Server, action string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	return consolePostAt(t, s, s.URL(), action, form, header)
}

// consolePostAt is consolePost to the console on the domain at base (URL
// or BackupURL).
func consolePostAt(t testing.TB, s *wxrefundtest.Server, base, action string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	if !form.Has("token") {
		form.Set("token", consoleToken(t, s))
	}
	req, err := http.NewRequest(http.MethodPost, base+wxrefundtest.PathConsole+"/"+action, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	for k, v := range header {
		req.Header[k] = v
	}
	hc := *httpClient(t, s, false)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// consoleDo is consolePost that requires the 303 back to the console and
// returns the outcome it reports (the ok or error query parameter).
func consoleDo(t testing.TB, s *wxrefundtest.Server, action string, form url.Values) (ok, problem string) {
	t.Helper()
	status, loc := consolePost(t, s, action, form, nil)
	require.Equal(t, http.StatusSeeOther, status)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	require.Equal(t, wxrefundtest.PathConsole, u.Path)
	return u.Query().Get("ok"), u.Query().Get("error")
}

func TestConsoleShowsLedger(t *testing.T) {
	clk := newClock()
	m := newMerchant(t, alwaysOK)
	s := newServer(t, wxrefundtest.WithClock(clk.Now), wxrefundtest.WithNotifySchedule(time.Hour))

	empty := consolePage(t, s)
	require.Contains(t, empty, "No orders yet")
	require.Contains(t, empty, "unlimited")
	require.NotContains(t, empty, "<script", "nothing pending, no refresh script")

	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORD-1", TotalFee: 5000, CouponFee: 500})
	f := mustRefund(t, s, "ORD-1", "RF-1", 5000, 2000)
	require.NoError(t, s.Complete("RF-1", wxrefund.RefundStatusSuccess))
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "ORD-1", "out_refund_no": "RF-2",
		"total_fee": "5000", "refund_fee": "1000", "notify_url": m.URL + "/notify"}))
	clk.Advance(90 * time.Second)
	require.NoError(t, s.Complete("RF-2", wxrefund.RefundStatusClosed))
	waitDeliveries(t, s, 1)
	s.FailNext(wxrefundtest.PathRefundQuery, "SYSTEMERROR", 2)
	s.LoseNext("", 1)
	require.NoError(t, s.SetBalance(123456))

	page := consolePage(t, s)
	for _, want := range []string{
		// The order.
		"ORD-1", o.TransactionID, o.CouponID,
		"5000 fen (50.00 CNY)", "500 fen (5.00 CNY)", "2024-06-03 10:15:42 CST",
		// RF-2 was closed: only RF-1 counts as refunded.
		"<td class=\"nowrap\">2000 fen (20.00 CNY)</td>\n<td class=\"nowrap\">3000 fen (30.00 CNY)</td>",
		// The refunds.
		"RF-1", f["refund_id"], "cash 1800 fen (18.00 CNY)", "coupon 200 fen (2.00 CNY)",
		`<span class="status st-SUCCESS">SUCCESS</span>`, `<span class="status st-REFUNDCLOSE">REFUNDCLOSE</span>`,
		"none: no notification", m.URL + "/notify", "2024-06-03 10:17:12 CST",
		// The delivery timeline of RF-2.
		"Notification deliveries of <code>RF-2</code>", "#1 at 2024-06-03 10:17:12 CST", "acknowledged", "HTTP 200",
		"return_code <code>SUCCESS</code>", `notify <span class="status st-DELIVERED">DELIVERED</span>`,
		// Merchant-wide state.
		"123456 fen (1234.56 CNY)", "<code>/pay/refundquery</code> answers <code>SYSTEMERROR</code> × 2",
		"connection dropped × 1",
		// Forms for the refund that can be redelivered.
		`action="/fake/console/redeliver"`,
	} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, `action="/fake/console/complete"`, "no refund is PROCESSING")
	require.NotContains(t, page, "sub_mch_id", "not in partner mode")
}

func TestConsolePendingAndPartner(t *testing.T) {
	clk := newClock()
	m := newMerchant(t, func(int) (int, string) { return http.StatusInternalServerError, ackFail })
	s := newServer(t, wxrefundtest.WithClock(clk.Now), wxrefundtest.WithNotifySchedule(time.Hour),
		wxrefundtest.WithPartner("1900000110"), wxrefundtest.WithNotifyURL(m.URL))

	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "P1", TotalFee: 100, SubMchID: "1900000110", SubAppID: "wxsubapp"})
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"sub_mch_id": "1900000110", "out_trade_no": "P1",
		"out_refund_no": "PR1", "total_fee": "100", "refund_fee": "40"}))
	page := consolePage(t, s)
	require.Contains(t, page, `action="/fake/console/complete"`)
	require.Contains(t, page, `<span class="status st-PROCESSING">PROCESSING</span>`)
	require.Contains(t, page, "<th>sub_mch_id</th>")
	require.Contains(t, page, `<select name="sub_mch_id"><option>1900000110</option></select>`)

	require.NoError(t, s.Complete("PR1", wxrefund.RefundStatusSuccess))
	waitDeliveries(t, s, 1)
	page = consolePage(t, s)
	require.Contains(t, page, "HTTP 500")
	require.Contains(t, page, "return_msg <code>busy</code>")
	require.Contains(t, page, `<span class="status bad">failed</span>`)
	require.Contains(t, page, "next scheduled: attempt 2 about 2024-06-03 11:15:42 CST (1h0m0s after attempt 1)")
	require.Contains(t, page, "<script nonce=", "the optional refresh while a delivery is pending")
}

// TestConsoleActionsMatchAdmin drives two identical Servers, one through the
// JSON admin API and one through the console's forms, and requires the same
// ledger after each step.
func TestConsoleActionsMatchAdmin(t *testing.T) {
	clk := newClock()
	m := newMerchant(t, alwaysOK)
	opts := []wxrefundtest.Option{wxrefundtest.WithClock(clk.Now), wxrefundtest.WithNotifySchedule(time.Hour)}
	a, c := newServer(t, opts...), newServer(t, opts...)

	adminOK := func(path, body string) {
		t.Helper()
		status, raw := admin(t, a, http.MethodPost, path, body)
		require.Less(t, status, 300, "%s", raw)
	}
	// same requires the same refunds of O1 (refund ids and coupon ids are
	// random), the same deliveries and the same balance.
	same := func() {
		t.Helper()
		norm := func(s *wxrefundtest.Server) (wxrefundtest.Order, []wxrefundtest.RefundState, []wxrefundtest.Delivery, int64) {
			o, ok := s.Order("O1")
			require.True(t, ok)
			o.CouponID = ""
			rs := s.Refunds("O1")
			for i := range rs {
				rs[i].RefundID = ""
			}
			return o, rs, s.Deliveries(), s.Balance()
		}
		ao, ar, ad, ab := norm(a)
		co, cr, cd, cb := norm(c)
		require.Equal(t, ao, co)
		require.Equal(t, ar, cr)
		require.Equal(t, ad, cd)
		require.Equal(t, ab, cb)
		require.Equal(t, a.Requests(), c.Requests())
		for _, d := range []wxrefundtest.Domain{wxrefundtest.DomainPrimary, wxrefundtest.DomainBackup} {
			require.Equal(t, a.Down(d), c.Down(d), d)
		}
	}
	both := func(f func(s *wxrefundtest.Server)) { f(a); f(c) }

	adminOK("/fake/orders", `{"out_trade_no":"O1","transaction_id":"4200000000000000000000000001","total_fee":5000,"coupon_fee":500}`)
	ok, problem := consoleDo(t, c, "orders", url.Values{"out_trade_no": {"O1"},
		"transaction_id": {"4200000000000000000000000001"}, "total_fee": {"5000"}, "coupon_fee": {"500"}})
	require.Empty(t, problem)
	require.Contains(t, ok, "added order O1")
	same()

	both(func(s *wxrefundtest.Server) {
		requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
			"total_fee": "5000", "refund_fee": "2000", "notify_url": m.URL}))
	})
	adminOK("/fake/refunds/complete", `{"out_refund_no":"R1","status":"SUCCESS"}`)
	_, problem = consoleDo(t, c, "complete", url.Values{"out_refund_no": {"R1"}, "status": {"SUCCESS"}})
	require.Empty(t, problem)
	waitDeliveries(t, a, 1)
	waitDeliveries(t, c, 1)
	same()

	adminOK("/fake/refunds/redeliver", `{"out_refund_no":"R1"}`)
	ok, problem = consoleDo(t, c, "redeliver", url.Values{"out_refund_no": {"R1"}})
	require.Empty(t, problem)
	require.Contains(t, ok, "acknowledged")
	same()

	// CHANGE and REFUNDCLOSE.
	both(func(s *wxrefundtest.Server) {
		mustRefund(t, s, "O1", "R2", 5000, 100)
		mustRefund(t, s, "O1", "R3", 5000, 100)
	})
	adminOK("/fake/refunds/complete", `{"out_refund_no":"R2","status":"CHANGE"}`)
	adminOK("/fake/refunds/complete", `{"out_refund_no":"R3","status":"REFUNDCLOSE"}`)
	consoleDo(t, c, "complete", url.Values{"out_refund_no": {"R2"}, "status": {"CHANGE"}})
	consoleDo(t, c, "complete", url.Values{"out_refund_no": {"R3"}, "status": {"REFUNDCLOSE"}})
	same()

	// FailNext: the next refund fails on both, the one after succeeds.
	adminOK("/fake/fail", `{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":1}`)
	_, problem = consoleDo(t, c, "fail", url.Values{"path": {wxrefundtest.PathRefund}, "err_code": {"SYSTEMERROR"}, "times": {"1"}})
	require.Empty(t, problem)
	both(func(s *wxrefundtest.Server) {
		requireErrCode(t, refund(t, s, "O1", "R4", 5000, 100), "SYSTEMERROR")
		mustRefund(t, s, "O1", "R4", 5000, 100)
	})
	same()

	// LoseNext: the refund is applied but answered with an error.
	adminOK("/fake/lose", `{"err_code":"SYSTEMERROR","times":1}`)
	consoleDo(t, c, "lose", url.Values{"err_code": {"SYSTEMERROR"}, "times": {"1"}})
	both(func(s *wxrefundtest.Server) {
		requireErrCode(t, refund(t, s, "O1", "R5", 5000, 100), "SYSTEMERROR")
		_, applied := s.RefundState("R5")
		require.True(t, applied)
	})
	same()

	// FaultNext: the next refund on the primary meets a 502 on both and
	// is not applied.
	adminOK("/fake/faults", `{"domain":"api","path":"/secapi/pay/refund","fault":"502","times":1}`)
	ok, problem = consoleDo(t, c, "fault", url.Values{"domain": {"api"}, "path": {wxrefundtest.PathRefund},
		"fault": {"502"}, "delay_ms": {"3000"}, "times": {"1"}})
	require.Empty(t, problem)
	require.Equal(t, "the next 1 requests to /secapi/pay/refund on api meet 502", ok)
	r6 := func(s *wxrefundtest.Server) []byte {
		return encode(t, sign(s, params{"out_trade_no": "O1", "out_refund_no": "R6", "total_fee": "5000", "refund_fee": "100"},
			wxrefund.SignTypeMD5))
	}
	both(func(s *wxrefundtest.Server) {
		status, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, r6(s))
		require.Equal(t, http.StatusBadGateway, status, "%s", raw)
		_, applied := s.RefundState("R6")
		require.False(t, applied)
	})
	same()

	// ClearFaults empties what was queued: the next refund goes through.
	adminOK("/fake/fail", `{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":2}`)
	adminOK("/fake/faults", `{"path":"/secapi/pay/refund","fault":"reset","times":2}`)
	consoleDo(t, c, "fail", url.Values{"path": {wxrefundtest.PathRefund}, "err_code": {"SYSTEMERROR"}, "times": {"2"}})
	consoleDo(t, c, "fault", url.Values{"path": {wxrefundtest.PathRefund}, "fault": {"reset"}, "times": {"2"}})
	adminOK("/fake/faults/clear", `{}`)
	ok, problem = consoleDo(t, c, "clear", url.Values{})
	require.Empty(t, problem)
	require.Equal(t, "cleared every queued failure", ok)
	both(func(s *wxrefundtest.Server) { mustRefund(t, s, "O1", "R6", 5000, 100) })
	same()

	// A domain down, then up again.
	for _, state := range []string{"down", "up"} {
		adminOK("/fake/domains", `{"domain":"api2","down":`+strconv.FormatBool(state == "down")+`}`)
		_, problem = consoleDo(t, c, "domain", url.Values{"domain": {"api2"}, "state": {state}})
		require.Empty(t, problem)
		both(func(s *wxrefundtest.Server) {
			require.Eventually(t, func() bool { return s.Down(wxrefundtest.DomainBackup) == (state == "down") },
				5*time.Second, time.Millisecond, state)
		})
		same()
	}

	adminOK("/fake/balance", `{"balance":12345}`)
	ok, _ = consoleDo(t, c, "balance", url.Values{"balance": {"12345"}})
	require.Equal(t, "set the balance to 12345 fen (123.45 CNY)", ok)
	require.EqualValues(t, 12345, c.Balance())
	same()

	// Bad input: the admin API answers 400, the console redirects with the
	// same error, and neither changes anything.
	for _, tc := range []struct{ path, body, action string }{
		{"/fake/refunds/complete", `{"out_refund_no":"R1","status":"SUCCESS"}`, "complete?out_refund_no=R1&status=SUCCESS"},
		{"/fake/refunds/complete", `{"out_refund_no":"NOPE","status":"SUCCESS"}`, "complete?out_refund_no=NOPE&status=SUCCESS"},
		{"/fake/refunds/complete", `{"out_refund_no":"R1","status":"PROCESSING"}`, "complete?out_refund_no=R1&status=PROCESSING"},
		{"/fake/orders", `{"out_trade_no":"O1","total_fee":5000}`, "orders?out_trade_no=O1&total_fee=5000"},
		{"/fake/orders", `{"out_trade_no":"O2","total_fee":0}`, "orders?out_trade_no=O2&total_fee=0"},
		{"/fake/fail", `{"path":"/nope","err_code":"X","times":1}`, "fail?path=/nope&err_code=X&times=1"},
		{"/fake/fail", `{"path":"/pay/refundquery","err_code":"a b","times":1}`, "fail?path=/pay/refundquery&err_code=a+b&times=1"},
		{"/fake/lose", `{"err_code":"a b","times":1}`, "lose?err_code=a+b&times=1"},
		{"/fake/fail", `{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":0}`, "fail?path=/secapi/pay/refund&err_code=SYSTEMERROR&times=0"},
		{"/fake/lose", `{"err_code":"","times":0}`, "lose?err_code=&times=0"},
		{"/fake/faults", `{"path":"/secapi/pay/refund","fault":"418","times":1}`, "fault?path=/secapi/pay/refund&fault=418&times=1"},
		{"/fake/faults", `{"path":"/secapi/pay/refund","fault":"delay","times":1}`, "fault?path=/secapi/pay/refund&fault=delay&times=1"},
		{"/fake/faults", `{"path":"/secapi/pay/refund","fault":"delay","delay_ms":3600001,"times":1}`, "fault?path=/secapi/pay/refund&fault=delay&delay_ms=3600001&times=1"},
		{"/fake/faults", `{"domain":"api3","path":"/secapi/pay/refund","fault":"502","times":1}`, "fault?domain=api3&path=/secapi/pay/refund&fault=502&times=1"},
		{"/fake/faults", `{"path":"/nope","fault":"502","times":1}`, "fault?path=/nope&fault=502&times=1"},
		{"/fake/faults", `{"path":"/pay/downloadbill","fault":"502","times":0}`, "fault?path=/pay/downloadbill&fault=502&times=0"},
		{"/fake/domains", `{"domain":"api3","down":true}`, "domain?domain=api3&state=down"},
		{"/fake/domains", `{"domain":"","down":false}`, "domain?domain=&state=up"},
		{"/fake/balance", `{"balance":-1}`, "balance?balance=-1"},
	} {
		status, raw := admin(t, a, http.MethodPost, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, status, "%s", raw)
		var e struct{ Error string }
		require.NoError(t, json.Unmarshal(raw, &e))
		action, query, _ := strings.Cut(tc.action, "?")
		form, err := url.ParseQuery(query)
		require.NoError(t, err)
		ok, problem := consoleDo(t, c, action, form)
		require.Empty(t, ok, tc.action)
		require.Equal(t, e.Error, problem, tc.action)
		same()
	}
	_, found := c.Order("O2")
	require.False(t, found)
}

func TestConsoleEscapes(t *testing.T) {
	const evil = `<script>alert("x")</script>`
	m := newMerchant(t, func(int) (int, string) {
		return http.StatusOK, "<xml><return_code>FAIL</return_code><return_msg><![CDATA[" + evil + "]]></return_msg></xml>"
	})
	s := newServer(t, wxrefundtest.WithNotifySchedule())
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "100", "refund_fee": "10", "notify_url": m.URL + "/<script>alert(1)</script>",
		"refund_desc": evil}))
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitDeliveries(t, s, 1)

	status, page := consoleGet(t, s, wxrefundtest.PathConsole+"?ok="+url.QueryEscape(evil)+"&error="+url.QueryEscape(evil))
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, page, "<script>")
	require.NotContains(t, page, "<script", "nothing pending: the only script would be the refresh")
	require.Contains(t, page, "/&lt;script&gt;alert(1)&lt;/script&gt;", "the notify URL")
	require.Contains(t, page, "return_msg <code>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</code>", "the merchant's reply")
	require.Contains(t, page, "“&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;”", "the refund_desc")
	require.Contains(t, page, `<p class="flash notice" role="status">&lt;script&gt;`, "the redirect's message")
}

func TestConsoleRefusesCrossSite(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.SetBalance(500))
	token := consoleToken(t, s)
	form := func(tok string) url.Values {
		v := url.Values{"balance": {"7"}}
		if tok != "" {
			v.Set("token", tok)
		}
		return v
	}
	for name, tc := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"other origin":     {form(token), http.Header{"Origin": {"https://evil.example"}}},
		"other port":       {form(token), http.Header{"Origin": {"https://127.0.0.1:1"}}},
		"null origin":      {form(token), http.Header{"Origin": {"null"}}},
		"plain http":       {form(token), http.Header{"Origin": {strings.Replace(s.URL(), "https:", "http:", 1)}}},
		"cross-site fetch": {form(token), http.Header{"Origin": nil, "Sec-Fetch-Site": {"cross-site"}}},
		"same-site fetch":  {form(token), http.Header{"Origin": nil, "Sec-Fetch-Site": {"same-site"}}},
		"missing token":    {url.Values{"balance": {"7"}, "token": {""}}, nil},
		"wrong token":      {form(token[1:] + "x"), nil},
		"another server":   {form(consoleToken(t, newServer(t))), nil},
	} {
		status, _ := consolePost(t, s, "balance", tc.form, tc.header)
		require.Equal(t, http.StatusForbidden, status, name)
		require.EqualValues(t, 500, s.Balance(), name)
	}

	// Without Origin (curl, say) the token alone decides.
	status, _ := consolePost(t, s, "balance", form(token), http.Header{"Origin": nil})
	require.Equal(t, http.StatusSeeOther, status)
	require.EqualValues(t, 7, s.Balance())
}

func TestConsoleGetChangesNothing(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	token := url.QueryEscape(consoleToken(t, s))
	for _, p := range []string{
		"/fake/console/balance?balance=1&token=" + token,
		"/fake/console/complete?out_refund_no=R1&status=SUCCESS&token=" + token,
		"/fake/console/orders?out_trade_no=O2&total_fee=5&token=" + token,
		"/fake/console?balance=1&token=" + token,
		"/fake/console/",
		"/fake/console/nope",
	} {
		status, _ := consoleGet(t, s, p)
		require.Contains(t, []int{http.StatusOK, http.StatusMethodNotAllowed, http.StatusNotFound}, status, p)
	}
	status, _ := consoleGet(t, s, "/fake/console/balance")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Greater(t, s.Balance(), int64(1))
	r, _ := s.RefundState("R1")
	require.Equal(t, wxrefund.RefundStatusProcessing, r.Status)
	_, found := s.Order("O2")
	require.False(t, found)

	// The page itself is GET only.
	resp, err := httpClient(t, s, false).Post(s.ConsoleURL(), "application/x-www-form-urlencoded", strings.NewReader("balance=1"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	status, _ = consolePost(t, s, "nope", url.Values{}, nil)
	require.Equal(t, http.StatusNotFound, status)

	// Served by Handler too, with the protective headers.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, wxrefundtest.PathConsole, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'none'")
	require.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
	require.NotContains(t, rec.Body.String(), "http://", "no external assets")
}

// TestConsoleInBrowser renders the console in headless Chromium after a
// refund through wxrefund.Client and a notification round trip. Set
// WXREFUNDTEST_CONSOLE_PNG to a path to keep the screenshot.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel() // a browser process: seconds, mostly waiting
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		t.Skip("chromium is not installed (apt-get install chromium): skipping the real-browser test of the console")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	s := newServer(t, wxrefundtest.WithNotifySchedule(time.Hour))
	c := newClient(t, s)
	notified := make(chan string, 4)
	ms := httptest.NewServer(c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		notified <- n.OutRefundNo
		return nil
	}))
	t.Cleanup(ms.Close)
	busy := newMerchant(t, func(n int) (int, string) {
		if n == 1 {
			return http.StatusServiceUnavailable, "busy"
		}
		return http.StatusOK, ackOK
	})

	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORDER-2024-0001", TotalFee: 5000, CouponFee: 500})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORDER-2024-0002", TotalFee: 1990})
	_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORDER-2024-0001", OutRefundNo: "REFUND-0001",
		TotalFee: 5000, RefundFee: 2000, RefundDesc: "<b>out of stock</b>", NotifyURL: ms.URL + "/notify"})
	require.NoError(t, err)
	_, err = c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORDER-2024-0001", OutRefundNo: "REFUND-0002",
		TotalFee: 5000, RefundFee: 500, NotifyURL: busy.URL + "/wxpay/notify"})
	require.NoError(t, err)
	_, err = c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORDER-2024-0002", OutRefundNo: "REFUND-0003",
		TotalFee: 1990, RefundFee: 990, NotifyURL: ms.URL + "/notify"})
	require.NoError(t, err)
	require.NoError(t, s.Complete("REFUND-0001", wxrefund.RefundStatusSuccess))
	select {
	case no := <-notified:
		require.Equal(t, "REFUND-0001", no)
	case <-ctx.Done():
		t.Fatal("no notification")
	}
	require.NoError(t, s.Complete("REFUND-0002", wxrefund.RefundStatusSuccess))
	waitDeliveries(t, s, 2)
	require.NoError(t, s.Redeliver("REFUND-0002"))
	s.FailNext(wxrefundtest.PathRefundQuery, "SYSTEMERROR", 1)

	run := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--ignore-certificate-errors", "--user-data-dir=" + t.TempDir()}, args...)
		cmd := exec.CommandContext(ctx, browser, args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("chromium did not finish in time\nstderr:\n%s", stderr.Bytes())
		}
		require.NoError(t, err, "chromium %q\nstderr:\n%s", args, stderr.Bytes())
		return stdout.Bytes()
	}

	dom := string(run("--dump-dom", s.ConsoleURL()))
	for _, want := range []string{"Fake WeChat Pay console", "ORDER-2024-0001", "REFUND-0001", "REFUND-0002",
		"2000 fen (20.00 CNY)", "Notification deliveries of <code>REFUND-0001</code>", "acknowledged", "HTTP 200",
		"HTTP 503", "(redelivered)", "test double", "Requests (3)", s.BackupURL(), `action="/fake/console/fault"`} {
		require.Contains(t, dom, want)
	}

	shot := filepath.Join(t.TempDir(), "console.png")
	run("--screenshot="+shot, "--window-size=1280,900", "--hide-scrollbars", s.ConsoleURL())
	raw, err := os.ReadFile(shot)
	require.NoError(t, err)
	img, err := png.Decode(bytes.NewReader(raw))
	require.NoError(t, err)
	b := img.Bounds()
	require.Equal(t, 1280, b.Dx())
	first, colours := img.At(b.Min.X, b.Min.Y), 1
	for y := b.Min.Y; y < b.Max.Y && colours == 1; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			if img.At(x, y) != first {
				colours++
				break
			}
		}
	}
	require.Greater(t, colours, 1, "the screenshot is blank")
	if keep := os.Getenv("WXREFUNDTEST_CONSOLE_PNG"); keep != "" {
		require.NoError(t, os.WriteFile(keep, raw, 0o644))
	}
}

// consoleSection returns the part of page from the first occurrence of
// start up to the next end (inclusive), failing when either is missing.
func consoleSection(t testing.TB, page, start, end string) string {
	t.Helper()
	i := strings.Index(page, start)
	require.GreaterOrEqual(t, i, 0, "no %q in the page", start)
	j := strings.Index(page[i:], end)
	require.GreaterOrEqual(t, j, 0, "no %q after %q", end, start)
	return page[i : i+j+len(end)]
}

// consoleDomainRow returns the row of domain d in the console's Domains
// table.
func consoleDomainRow(t testing.TB, page string, d wxrefundtest.Domain) string {
	t.Helper()
	return consoleSection(t, page, `<tr class="domain" id="domain-`+string(d)+`">`, "</tr>")
}

// consoleQueues returns the console's queued failures: the Merchant
// section's lines up to the clear button.
func consoleQueues(t testing.TB, page string) string {
	t.Helper()
	return consoleSection(t, page, "Queued failures (FailNext):", `action="/fake/console/clear"`)
}

func TestConsoleShowsDomainsAndRequests(t *testing.T) {
	clk := newClock()
	s := newServer(t, wxrefundtest.WithClock(clk.Now))

	page := consolePage(t, s)
	require.Contains(t, page, "Requests (0)")
	require.Contains(t, page, "No requests to the protocol paths yet.")
	for _, d := range []struct {
		name wxrefundtest.Domain
		url  string
	}{{wxrefundtest.DomainPrimary, s.URL()}, {wxrefundtest.DomainBackup, s.BackupURL()}} {
		row := consoleDomainRow(t, page, d.name)
		require.Contains(t, row, `<td class="id">`+d.url+`</td>`)
		require.Contains(t, row, `<span class="status ok">up</span>`)
		require.Contains(t, row, `<button name="state" value="down">Take down</button>`)
		require.Contains(t, row, `<input type="hidden" name="domain" value="`+string(d.name)+`">`)
	}
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainPrimary), "this page")
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainPrimary), "(this console moves to api2)")
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainBackup), `<a href="`+s.BackupURL()+`/fake/console">open</a>`)
	require.NotContains(t, page, "clears", "times 0 no longer clears")
	for _, want := range []string{
		`action="/fake/console/fault"`, `<option value="">either</option>`, `<option>/pay/downloadbill</option>`,
		`<option value="no_certificate">`, `<option value="delay">`, `name="delay_ms"`,
		`action="/fake/console/clear"`, "Clear every queued failure",
		"Failed bill downloads (FailNextBill):\n<span class=\"muted\">none</span>",
		"HTTP faults (FaultNext):\n<span class=\"muted\">none</span>",
	} {
		require.Contains(t, page, want)
	}

	// Every kind of queue, as the page words it.
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefundQuery, wxrefundtest.StatusFault(http.StatusBadGateway), 2)
	s.FaultNext(wxrefundtest.DomainBackup, wxrefundtest.PathRefund, wxrefundtest.DelayFault(1500*time.Millisecond), 1)
	s.FaultNext(wxrefundtest.DomainBackup, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 3)
	s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathDownloadBill, wxrefundtest.NoCertificateFault(), 1)
	s.FailNextBill("Bill Creating", "20003", 2)
	queues := consoleQueues(t, consolePage(t, s))
	for _, want := range []string{
		`<span class="fault"><code>/pay/refundquery</code> on either domain meets <code>502</code> × 2</span>`,
		`<span class="fault"><code>/secapi/pay/refund</code> on api2 meets <code>delay 1.5s</code> × 1</span>`,
		`<span class="fault"><code>/secapi/pay/refund</code> on api2 meets <code>reset</code> × 3</span>`,
		`<span class="fault"><code>/pay/downloadbill</code> on api meets <code>no_certificate</code> × 1</span>`,
		`<span class="bill-failure">return_msg <code>Bill Creating</code> error_code <code>20003</code> × 2</span>`,
	} {
		require.Contains(t, queues, want)
	}
	s.ClearFaults()

	// The latest 20 requests, newest first, in China time.
	for i := range 23 {
		clk.Advance(time.Second)
		if i == 22 {
			s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefundQuery, wxrefundtest.DelayFault(time.Millisecond), 1)
		}
		query(t, s, params{"out_refund_no": "R" + strconv.Itoa(i)})
	}
	page = consolePage(t, s)
	require.Contains(t, page, "Requests (23)")
	require.Contains(t, page, "Requests to the protocol paths, newest first: the latest 20; GET /fake/requests lists all 23.")
	require.Equal(t, 20, strings.Count(page, `<tr class="request">`))
	require.Contains(t, page, `<tr class="request"><td class="nowrap">2024-06-03 10:16:05 CST</td><td><code>api</code></td>`+
		`<td><code>/pay/refundquery</code></td><td><span class="status bad">delay 1ms</span></td></tr>`)
	require.Less(t, strings.Index(page, "10:16:05 CST"), strings.Index(page, "10:16:04 CST"), "newest first")
	require.Contains(t, page, `<td class="nowrap">2024-06-03 10:15:46 CST</td><td><code>api</code></td>`+
		`<td><code>/pay/refundquery</code></td><td><span class="muted">none</span></td></tr>`)
	require.NotContains(t, page, "10:15:45 CST", "the oldest requests are left off")
}

func TestConsoleFaultForm(t *testing.T) {
	clk := newClock()
	s := newServer(t, wxrefundtest.WithClock(clk.Now))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	hc := httpClient(t, s, true)
	body := func(path, no string) []byte {
		p := params{"out_refund_no": no}
		if path == wxrefundtest.PathRefund {
			p = params{"out_trade_no": "O1", "out_refund_no": no, "total_fee": "1000", "refund_fee": "100"}
		}
		return encode(t, sign(s, p, wxrefund.SignTypeMD5))
	}

	for _, tc := range []struct {
		form url.Values
		ok   string
	}{
		{url.Values{"domain": {"api"}, "path": {wxrefundtest.PathRefund}, "fault": {"503"}, "delay_ms": {"3000"}, "times": {"2"}},
			"the next 2 requests to /secapi/pay/refund on api meet 503"},
		{url.Values{"domain": {"api2"}, "path": {wxrefundtest.PathRefund}, "fault": {"delay"}, "delay_ms": {"50"}, "times": {"1"}},
			"the next 1 requests to /secapi/pay/refund on api2 meet delay 50ms"},
		{url.Values{"domain": {""}, "path": {wxrefundtest.PathRefundQuery}, "fault": {"reset"}, "delay_ms": {"3000"}, "times": {"1"}},
			"the next 1 requests to /pay/refundquery on either domain meet reset"},
	} {
		ok, problem := consoleDo(t, s, "fault", tc.form)
		require.Empty(t, problem)
		require.Equal(t, tc.ok, ok)
	}
	queues := consoleQueues(t, consolePage(t, s))
	require.Contains(t, queues, "<code>/secapi/pay/refund</code> on api meets <code>503</code> × 2")
	require.Contains(t, queues, "<code>/secapi/pay/refund</code> on api2 meets <code>delay 50ms</code> × 1")
	require.Contains(t, queues, "<code>/pay/refundquery</code> on either domain meets <code>reset</code> × 1")

	// The 503 page twice on the primary, the refund not applied; then the
	// answer.
	for range 2 {
		status, raw := postRaw(t, hc, s.URL()+wxrefundtest.PathRefund, body(wxrefundtest.PathRefund, "R1"))
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Contains(t, string(raw), "<h1>503 Service Unavailable</h1>")
		_, applied := s.RefundState("R1")
		require.False(t, applied)
	}
	status, raw := postRaw(t, hc, s.URL()+wxrefundtest.PathRefund, body(wxrefundtest.PathRefund, "R1"))
	require.Equal(t, http.StatusOK, status)
	requireOK(t, decode(t, s, raw, wxrefund.SignTypeMD5))
	// The delay on the backup: applied, answered late.
	start := time.Now()
	status, raw = postRaw(t, hc, s.BackupURL()+wxrefundtest.PathRefund, body(wxrefundtest.PathRefund, "R2"))
	require.Equal(t, http.StatusOK, status)
	requireOK(t, decode(t, s, raw, wxrefund.SignTypeMD5))
	require.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)
	// The reset, for either domain, on the backup: no answer.
	resp, err := hc.Post(s.BackupURL()+wxrefundtest.PathRefundQuery, "text/xml", bytes.NewReader(body(wxrefundtest.PathRefundQuery, "R1")))
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the connection is reset")

	page := consolePage(t, s)
	require.Contains(t, consoleQueues(t, page), "HTTP faults (FaultNext):\n<span class=\"muted\">none</span>")
	var got []string
	for _, r := range s.Requests() {
		got = append(got, string(r.Domain)+" "+r.Path+" "+r.Fault)
	}
	require.Equal(t, []string{"api /secapi/pay/refund 503", "api /secapi/pay/refund 503", "api /secapi/pay/refund ",
		"api2 /secapi/pay/refund delay 50ms", "api2 /pay/refundquery reset"}, got)
	rows := consoleSection(t, page, `<h2 id="requests">Requests (5)</h2>`, "</table>")
	require.Contains(t, rows, `<tr class="request"><td class="nowrap">2024-06-03 10:15:42 CST</td><td><code>api2</code></td>`+
		`<td><code>/pay/refundquery</code></td><td><span class="status bad">reset</span></td></tr>`)
	require.Equal(t, 2, strings.Count(rows, `<span class="status bad">503</span>`))
	require.Less(t, strings.Index(rows, ">reset<"), strings.Index(rows, ">delay 50ms<"), "newest first")
	require.Less(t, strings.Index(rows, ">delay 50ms<"), strings.Index(rows, ">503<"), "newest first")
}

func TestConsoleFaultFormErrors(t *testing.T) {
	s := newServer(t)
	form := func(kv ...string) url.Values {
		f := url.Values{"domain": {""}, "path": {wxrefundtest.PathRefund}, "fault": {"502"}, "delay_ms": {"3000"}, "times": {"1"}}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{form("fault", "418"), `fault "418": want 500, 502, 503, 504, no_certificate, certificate_error, reset or delay`},
		{form("fault", ""), `fault "": want 500`},
		{form("fault", "delay", "delay_ms", ""), "delay_ms: want 1 to 3600000 with fault delay"},
		{form("fault", "delay", "delay_ms", "0"), "delay_ms: want 1 to 3600000 with fault delay"},
		{form("fault", "delay", "delay_ms", "3600001"), "delay_ms: want 1 to 3600000 with fault delay"},
		{form("fault", "delay", "delay_ms", "18446744073710"), "delay_ms: want 1 to 3600000 with fault delay"}, // wraps to 448µs as a Duration
		{form("fault", "delay", "delay_ms", "1.5"), `delay_ms must be a whole number, got "1.5"`},
		{form("domain", "api3"), `domain "api3": want "api" (DomainPrimary) or "api2" (DomainBackup)`},
		{form("path", "/nope"), `path "/nope": want /secapi/pay/refund, /pay/refundquery or /pay/downloadbill`},
		{form("times", "0"), "times 0: want 1 or more (ClearFaults empties the queues)"},
		{form("times", "-3"), "times -3: want 1 or more"},
		{form("times", "x"), `times must be a whole number, got "x"`},
	} {
		status, loc := consolePost(t, s, "fault", tc.form, nil)
		require.Equal(t, http.StatusSeeOther, status)
		u, err := url.Parse(loc)
		require.NoError(t, err)
		require.Empty(t, u.Query().Get("ok"), tc.form)
		require.Contains(t, u.Query().Get("error"), tc.want, tc.form)

		// The page it redirects to says so.
		status, page := consoleGet(t, s, loc)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, page, `<p class="flash problem" role="alert">`+template.HTMLEscapeString(u.Query().Get("error"))+"</p>", tc.form)
		require.Contains(t, consoleQueues(t, page), "HTTP faults (FaultNext):\n<span class=\"muted\">none</span>", "nothing queued")
	}
}

func TestConsoleDomainForm(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	token := consoleToken(t, s)
	queryOn := func(base string) error {
		hc := httpClient(t, s, true)
		hc.CloseIdleConnections() // none from before a domain went down and up
		resp, err := hc.Post(base+wxrefundtest.PathRefundQuery, "text/xml",
			bytes.NewReader(encode(t, sign(s, params{"out_trade_no": "O1"}, wxrefund.SignTypeMD5))))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		return err
	}
	waitDown := func(d wxrefundtest.Domain, down bool) {
		t.Helper()
		require.Eventually(t, func() bool { return s.Down(d) == down }, 5*time.Second, time.Millisecond, "%s down: %v", d, down)
	}

	// The backup, from the console on the primary: the page stays here.
	ok, problem := consoleDo(t, s, "domain", url.Values{"domain": {"api2"}, "state": {"down"}})
	require.Empty(t, problem)
	require.Equal(t, "took api2 down: its connections are reset", ok)
	waitDown(wxrefundtest.DomainBackup, true)
	require.Error(t, queryOn(s.BackupURL()), "connection refused")
	require.NoError(t, queryOn(s.URL()))
	page := consolePage(t, s)
	row := consoleDomainRow(t, page, wxrefundtest.DomainBackup)
	require.Contains(t, row, `<span class="status bad">down</span>`)
	require.Contains(t, row, `<button name="state" value="up">Bring up</button>`)
	require.NotContains(t, row, "<a href=", "no link to a console that is down")
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainPrimary), `<span class="status ok">up</span>`)
	ok, problem = consoleDo(t, s, "domain", url.Values{"domain": {"api2"}, "state": {"up"}})
	require.Empty(t, problem)
	require.Equal(t, "brought api2 up", ok)
	require.False(t, s.Down(wxrefundtest.DomainBackup))
	require.NoError(t, queryOn(s.BackupURL()))

	// The primary, from the console it serves: the answer is delivered
	// and sends the browser to the console on the backup.
	status, loc := consolePostAt(t, s, s.URL(), "domain", url.Values{"token": {token}, "domain": {"api"}, "state": {"down"}}, nil)
	require.Equal(t, http.StatusSeeOther, status)
	u, err := url.Parse(loc)
	require.NoError(t, err)
	require.Equal(t, s.BackupURL()+wxrefundtest.PathConsole, u.Scheme+"://"+u.Host+u.Path)
	require.Equal(t, "took api down: its connections are reset; this console is now served by api2", u.Query().Get("ok"))
	waitDown(wxrefundtest.DomainPrimary, true)
	require.Error(t, queryOn(s.URL()), "connection refused")
	_, err = httpClient(t, s, false).Get(s.ConsoleURL())
	require.Error(t, err, "the console on the primary is down too")
	status, page = consoleGetURL(t, s, loc)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "this console is now served by api2")
	row = consoleDomainRow(t, page, wxrefundtest.DomainPrimary)
	require.Contains(t, row, `<span class="status bad">down</span>`)
	require.Contains(t, row, `<button name="state" value="up">Bring up</button>`)
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainBackup), "this page")
	require.NotContains(t, page, "this console moves", "the primary is down")
	require.NoError(t, queryOn(s.BackupURL()), "the backup serves the same ledger")

	// Up again, from the console on the backup.
	status, loc = consolePostAt(t, s, s.BackupURL(), "domain", url.Values{"token": {token}, "domain": {"api"}, "state": {"up"}}, nil)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, wxrefundtest.PathConsole+"?ok=brought+api+up", loc)
	require.False(t, s.Down(wxrefundtest.DomainPrimary))
	require.NoError(t, queryOn(s.URL()))
	require.Contains(t, consoleDomainRow(t, consolePage(t, s), wxrefundtest.DomainPrimary), `<span class="status ok">up</span>`)

	// With the backup down, taking down the primary from its console
	// still answers, with nowhere else to go.
	s.TakeDown(wxrefundtest.DomainBackup)
	require.NotContains(t, consoleDomainRow(t, consolePage(t, s), wxrefundtest.DomainPrimary), "this console moves")
	ok, problem = consoleDo(t, s, "domain", url.Values{"domain": {"api"}, "state": {"down"}})
	require.Empty(t, problem)
	require.Equal(t, "took api down: its connections are reset", ok)
	waitDown(wxrefundtest.DomainPrimary, true)
	require.NoError(t, s.BringUp(wxrefundtest.DomainPrimary))
	require.NoError(t, s.BringUp(wxrefundtest.DomainBackup))

	// Bad forms change nothing.
	for _, tc := range []struct{ domain, state, want string }{
		{"api3", "down", `domain "api3": want "api" (DomainPrimary) or "api2" (DomainBackup)`},
		{"", "down", `domain "": want "api"`},
		{"api", "sideways", `state must be "down" or "up"`},
		{"api", "", `state must be "down" or "up"`},
	} {
		ok, problem := consoleDo(t, s, "domain", url.Values{"domain": {tc.domain}, "state": {tc.state}})
		require.Empty(t, ok)
		require.Contains(t, problem, tc.want)
	}
	require.False(t, s.Down(wxrefundtest.DomainPrimary))
	require.False(t, s.Down(wxrefundtest.DomainBackup))
}

func TestConsoleClearForm(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 3)
	s.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 1)
	s.LoseNext("", 2)
	s.FailNextBill("Bill Creating", "", 1)
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 5)
	s.TakeDown(wxrefundtest.DomainBackup)
	queues := consoleQueues(t, consolePage(t, s))
	for _, class := range []string{"failure", "loss", "bill-failure", "fault"} {
		require.Contains(t, queues, `<span class="`+class+`">`)
	}

	ok, problem := consoleDo(t, s, "clear", url.Values{})
	require.Empty(t, problem)
	require.Equal(t, "cleared every queued failure", ok)
	page := consolePage(t, s)
	queues = consoleQueues(t, page)
	require.Equal(t, 4, strings.Count(queues, `<span class="muted">none</span>`), queues)
	require.Contains(t, consoleDomainRow(t, page, wxrefundtest.DomainBackup), `<span class="status bad">down</span>`,
		"clearing leaves domains down")
	mustRefund(t, s, "O1", "R1", 1000, 100)
	requireOK(t, query(t, s, params{"out_refund_no": "R1"}))
}
