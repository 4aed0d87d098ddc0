package wxrefundtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	resp, err := httpClient(t, s, false).Get(s.URL() + pathAndQuery)
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
	if !form.Has("token") {
		form.Set("token", consoleToken(t, s))
	}
	req, err := http.NewRequest(http.MethodPost, s.ConsoleURL()+"/"+action, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.URL())
	for k, v := range header {
		req.Header[k] = v
	}
	hc := *httpClient(t, s, false)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
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
		_, applied := s.Refund("R5")
		require.True(t, applied)
	})
	same()

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
	r, _ := s.Refund("R1")
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
		"HTTP 503", "(redelivered)", "test double"} {
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
