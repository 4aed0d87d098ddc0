package wxrefundtest_test

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// These tests drive the fake with hand-written XML over plain net/http,
// signed and parsed with the fake's own codec (export_test.go), so that the
// fake is tested independently of package wxrefund (withclient_test.go adds
// round trips through wxrefund.Client).

// newServer starts a Server that is closed when the test ends.
func newServer(t testing.TB, opts ...wxrefundtest.Option) *wxrefundtest.Server {
	t.Helper()
	s, err := wxrefundtest.NewServer(opts...)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// clients caches httpClient's clients, so that a test's calls reuse
// connections instead of shaking hands each time.
var clients sync.Map // clientKey -> *http.Client

type clientKey struct {
	s    *wxrefundtest.Server
	cert bool
}

// httpClient returns a client that trusts the fake CA and, with cert,
// presents the merchant certificate.
func httpClient(t testing.TB, s *wxrefundtest.Server, cert bool) *http.Client {
	t.Helper()
	key := clientKey{s, cert}
	if hc, ok := clients.Load(key); ok {
		return hc.(*http.Client)
	}
	cfg := &tls.Config{RootCAs: s.RootCAs(), MinVersion: tls.VersionTLS12}
	if cert {
		c, k := s.MerchantCertPEM()
		pair, err := tls.X509KeyPair(c, k)
		require.NoError(t, err)
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 64}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	clients.Store(key, hc)
	t.Cleanup(func() {
		clients.Delete(key)
		tr.CloseIdleConnections()
	})
	return hc
}

// params is a request's or response's fields.
type params = map[string]string

// sign completes p with the server's appid, mch_id, a nonce_str (each unless
// present) and sign, for sign type st.
func sign(s *wxrefundtest.Server, p params, st wxrefund.SignType) params {
	appID, mchID, key := s.Credentials()
	out := params{"appid": appID, "mch_id": mchID, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"}
	if st == wxrefund.SignTypeHMACSHA256 {
		out["sign_type"] = string(st)
	}
	for k, v := range p {
		out[k] = v
	}
	out["sign"] = wxrefundtest.Sign(out, key, st)
	return out
}

func encode(t testing.TB, p params) []byte {
	t.Helper()
	b, err := wxrefundtest.EncodeXML("xml", p)
	require.NoError(t, err)
	return b
}

// postRaw POSTs body to the server's path and returns the status and body.
func postRaw(t testing.TB, hc *http.Client, url string, body []byte) (int, []byte) {
	t.Helper()
	resp, err := hc.Post(url, "text/xml", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, raw
}

// decode parses an XML answer and, when return_code is SUCCESS, requires a
// sign that verifies with the server's key and sign type st, plus the
// request's appid and mch_id echoed and a nonce_str.
func decode(t testing.TB, s *wxrefundtest.Server, raw []byte, st wxrefund.SignType) params {
	t.Helper()
	f, err := wxrefundtest.DecodeXML(raw, "xml")
	require.NoError(t, err, "answer: %s", raw)
	if f["return_code"] == "SUCCESS" {
		_, _, key := s.Credentials()
		require.NotEmpty(t, f["sign"], "a return_code SUCCESS answer must be signed")
		require.Equal(t, wxrefundtest.Sign(f, key, st), f["sign"], "answer sign (%s)", st)
		require.NotEmpty(t, f["nonce_str"])
		require.NotContains(t, f, "sign_type", "WeChat Pay does not echo sign_type")
	} else {
		require.Equal(t, "FAIL", f["return_code"])
		require.NotContains(t, f, "sign", "return_code FAIL answers are unsigned")
		require.NotEmpty(t, f["return_msg"])
	}
	return f
}

// call signs p (MD5), posts it to path with the merchant certificate and
// returns the verified answer.
func call(t testing.TB, s *wxrefundtest.Server, path string, p params) params {
	t.Helper()
	return callType(t, s, path, p, wxrefund.SignTypeMD5)
}

func callType(t testing.TB, s *wxrefundtest.Server, path string, p params, st wxrefund.SignType) params {
	t.Helper()
	status, raw := postRaw(t, httpClient(t, s, true), s.URL()+path, encode(t, sign(s, p, st)))
	require.Equal(t, http.StatusOK, status, "%s", raw)
	f := decode(t, s, raw, st)
	if f["return_code"] == "SUCCESS" {
		appID, mchID, _ := s.Credentials()
		if _, ok := p["appid"]; !ok {
			require.Equal(t, appID, f["appid"])
		}
		if _, ok := p["mch_id"]; !ok {
			require.Equal(t, mchID, f["mch_id"])
		}
	}
	return f
}

// refund applies a refund of fee against order outTradeNo (total fee
// total) as out_refund_no no, and returns the answer.
func refund(t testing.TB, s *wxrefundtest.Server, outTradeNo, no string, total, fee int64) params {
	t.Helper()
	return call(t, s, wxrefundtest.PathRefund, params{
		"out_trade_no":  outTradeNo,
		"out_refund_no": no,
		"total_fee":     itoa(total),
		"refund_fee":    itoa(fee),
	})
}

// mustRefund is refund that requires success.
func mustRefund(t testing.TB, s *wxrefundtest.Server, outTradeNo, no string, total, fee int64) params {
	t.Helper()
	f := refund(t, s, outTradeNo, no, total, fee)
	requireOK(t, f)
	return f
}

func query(t testing.TB, s *wxrefundtest.Server, p params) params {
	t.Helper()
	return call(t, s, wxrefundtest.PathRefundQuery, p)
}

func requireOK(t testing.TB, f params) {
	t.Helper()
	require.Equal(t, "SUCCESS", f["return_code"], "return_msg %q", f["return_msg"])
	require.Equal(t, "SUCCESS", f["result_code"], "err_code %s: %s", f["err_code"], f["err_code_des"])
}

// requireErrCode requires a signed result_code FAIL with err_code code and
// no business fields.
func requireErrCode(t testing.TB, f params, code string) {
	t.Helper()
	require.Equal(t, "SUCCESS", f["return_code"], "return_msg %q", f["return_msg"])
	require.Equal(t, "FAIL", f["result_code"])
	require.Equal(t, code, f["err_code"], "err_code_des %q", f["err_code_des"])
	require.NotEmpty(t, f["err_code_des"])
	require.NotContains(t, f, "refund_id")
}

// requireReturnFail requires an unsigned return_code FAIL with msg.
func requireReturnFail(t testing.TB, f params, msg string) {
	t.Helper()
	require.Equal(t, "FAIL", f["return_code"])
	require.Equal(t, msg, f["return_msg"])
}

func addOrder(t testing.TB, s *wxrefundtest.Server, o wxrefundtest.Order) wxrefundtest.Order {
	t.Helper()
	require.NoError(t, s.AddOrder(o))
	got, ok := s.Order(o.OutTradeNo)
	require.True(t, ok)
	return got
}

func apiKey(s *wxrefundtest.Server) string {
	_, _, key := s.Credentials()
	return key
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(t testing.TB, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err, "%q is not an integer", s)
	return n
}

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2024, 6, 3, 2, 15, 42, 0, time.UTC)} // 10:15:42 in China
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sum(states []wxrefundtest.RefundState) (fee, cash, coupon int64) {
	for _, r := range states {
		if r.Status != wxrefund.RefundStatusClosed {
			fee += r.RefundFee
			cash += r.CashRefundFee
			coupon += r.CouponRefundFee
		}
	}
	return fee, cash, coupon
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pemDecode returns the DER of the first PEM block.
func pemDecode(b []byte) ([]byte, bool) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, false
	}
	return block.Bytes, true
}
