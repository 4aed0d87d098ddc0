package wxrefundtest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// refuse is a notify transport that fails at once, so fuzzed notify URLs
// never reach the network.
type refuse struct{}

func (refuse) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("fuzz: no network")
}

var fuzzPaths = []string{
	wxrefundtest.PathRefund,
	wxrefundtest.PathRefundQuery,
	"/fake/orders",
	"/fake/refunds/complete",
	"/fake/refunds/redeliver",
	"/fake/fail",
	"/fake/balance",
	"/fake/refunds?out_trade_no=O1",
	"/fake/deliveries",
	"/pay/unifiedorder",
	"/fake/lose",
	wxrefundtest.PathDownloadBill,
	"/fake/bills/fail",
	"/fake/bills/synthetic",
}

// FuzzServerRequest posts arbitrary bytes to the handler, with or without a
// client certificate, and checks that it never panics and always answers:
// protocol paths with XML (or an nginx page), signed whenever return_code is
// SUCCESS; the bill with a bill or an unsigned FAIL; admin paths with JSON. The one exception is an accepted refund
// whose answer LoseNext drops: the handler aborts with http.ErrAbortHandler
// before writing anything. With resign set, a body that parses is
// signed with the server's key first, so the fuzzer reaches the business
// rules instead of stopping at the signature check.
func FuzzServerRequest(f *testing.F) {
	s, err := wxrefundtest.NewServer(
		wxrefundtest.WithNotifyClient(&http.Client{Transport: refuse{}}),
		wxrefundtest.WithNotifySchedule(),
		wxrefundtest.WithAutoComplete(0),
		wxrefundtest.WithBalance(1_000_000),
	)
	require.NoError(f, err)
	f.Cleanup(s.Close)
	require.NoError(f, s.AddOrder(wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000, CouponFee: 300}))
	appID, mchID, key := s.Credentials()
	certPEM, _ := s.MerchantCertPEM()
	block, _ := pemDecode(certPEM)
	cert, err := x509.ParseCertificate(block)
	require.NoError(f, err)

	seed := func(p params) []byte {
		p["appid"], p["mch_id"], p["nonce_str"] = appID, mchID, "n0nce"
		p["sign"] = wxrefundtest.Sign(p, key, wxrefund.SignType(p["sign_type"]))
		b, err := wxrefundtest.EncodeXML("xml", p)
		require.NoError(f, err)
		return b
	}
	f.Add(uint8(0), true, false, seed(params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "10000", "refund_fee": "100", "notify_url": "http://x/n"}))
	f.Add(uint8(0), true, true, seed(params{"out_trade_no": "O1", "out_refund_no": "R2", "total_fee": "10000", "refund_fee": "9999", "sign_type": "HMAC-SHA256"}))
	f.Add(uint8(0), false, false, seed(params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "10000", "refund_fee": "100"}))
	f.Add(uint8(1), false, false, seed(params{"out_trade_no": "O1", "offset": "0"}))
	f.Add(uint8(1), false, true, seed(params{"out_refund_no": "R1"}))
	f.Add(uint8(1), false, true, []byte("<xml><offset>99999999999999999999</offset><out_trade_no>O1</out_trade_no></xml>"))
	f.Add(uint8(0), true, false, []byte("<xml><a>]]></a></xml>"))
	f.Add(uint8(0), true, false, []byte(`<!DOCTYPE x><xml/>`))
	f.Add(uint8(0), true, false, []byte{})
	f.Add(uint8(2), false, false, []byte(`{"out_trade_no":"O2","total_fee":100,"coupon_fee":1}`))
	f.Add(uint8(3), false, false, []byte(`{"out_refund_no":"R1","status":"REFUNDCLOSE"}`))
	f.Add(uint8(4), false, false, []byte(`{"out_refund_no":"R1"}`))
	f.Add(uint8(5), false, false, []byte(`{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":1}`))
	f.Add(uint8(6), false, false, []byte(`{"balance":0}`))
	f.Add(uint8(7+128), false, false, []byte(nil))
	f.Add(uint8(8+128), false, false, []byte(nil))
	f.Add(uint8(9), false, false, []byte("x"))
	f.Add(uint8(10), false, false, []byte(`{"err_code":"SYSTEMERROR","times":1}`))
	f.Add(uint8(10), false, false, []byte(`{"err_code":"","times":1}`))
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	f.Add(uint8(11), false, false, seed(params{"bill_date": today, "bill_type": "REFUND"}))
	f.Add(uint8(11), false, true, seed(params{"bill_date": today, "bill_type": "REFUND", "tar_type": "GZIP", "sign_type": "HMAC-SHA256"}))
	f.Add(uint8(11), false, true, seed(params{"bill_date": "20240230", "bill_type": "ALL"}))
	f.Add(uint8(12), false, false, []byte(`{"return_msg":"Bill Creating","times":1}`))
	f.Add(uint8(13), false, false, []byte(`{"bill_date":"20240603","rows":2}`))

	h := s.Handler()
	f.Fuzz(func(t *testing.T, sel uint8, withCert, resign bool, body []byte) {
		path := fuzzPaths[int(sel&127)%len(fuzzPaths)]
		method := http.MethodPost
		if sel&128 != 0 {
			method = http.MethodGet
		}
		signType := wxrefund.SignTypeMD5
		if fields, err := wxrefundtest.DecodeXML(body, "xml"); err == nil {
			if fields["sign_type"] == string(wxrefund.SignTypeHMACSHA256) {
				signType = wxrefund.SignTypeHMACSHA256
			}
			if resign {
				fields["sign"] = wxrefundtest.Sign(fields, key, signType)
				if b, err := wxrefundtest.EncodeXML("xml", fields); err == nil {
					body = b
				}
			}
		}
		if path == "/fake/bills/synthetic" {
			// A bill of up to 100 million rows is allowed, but would take
			// hours (and all memory) to serve into a ResponseRecorder.
			var in struct{ Rows int }
			if json.Unmarshal(body, &in) == nil && in.Rows > 1000 {
				return
			}
		}
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		if withCert {
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		}
		rec := httptest.NewRecorder()
		if serveAborts(h, rec, req) {
			// LoseNext("", n) drops the answer of an accepted refund; a
			// recorder cannot be hijacked, so the handler aborts instead.
			if path != wxrefundtest.PathRefund || rec.Body.Len() != 0 {
				t.Fatalf("%s %s: handler aborted after %d bytes", method, path, rec.Body.Len())
			}
			return
		}

		out := rec.Body.Bytes()
		if len(out) == 0 {
			t.Fatalf("%s %s: empty answer (status %d)", method, path, rec.Code)
		}
		switch {
		case path == wxrefundtest.PathRefund || path == wxrefundtest.PathRefundQuery:
			if rec.Code != http.StatusOK {
				if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
					t.Fatalf("%s: status %d", path, rec.Code)
				}
				return
			}
			if method == http.MethodGet {
				signType = wxrefund.SignTypeMD5
			}
			ans, err := wxrefundtest.DecodeXML(out, "xml")
			if err != nil {
				t.Fatalf("%s: answer is not XML: %v", path, err)
			}
			switch ans["return_code"] {
			case "FAIL":
				if ans["return_msg"] == "" || ans["sign"] != "" {
					t.Fatalf("%s: bad FAIL answer %q", path, out)
				}
			case "SUCCESS":
				if ans["sign"] != wxrefundtest.Sign(ans, key, signType) {
					t.Fatalf("%s: answer sign does not verify (%s): %q", path, signType, out)
				}
				if ans["result_code"] != "SUCCESS" && (ans["result_code"] != "FAIL" || ans["err_code"] == "") {
					t.Fatalf("%s: bad result in %q", path, out)
				}
			default:
				t.Fatalf("%s: bad return_code in %q", path, out)
			}
		case path == wxrefundtest.PathDownloadBill:
			switch {
			case rec.Code == http.StatusRequestEntityTooLarge:
			case rec.Code != http.StatusOK:
				t.Fatalf("%s: status %d", path, rec.Code)
			case bytes.HasPrefix(out, []byte("<xml>")):
				ans, err := wxrefundtest.DecodeXML(out, "xml")
				if err != nil || ans["return_code"] != "FAIL" || ans["return_msg"] == "" || ans["sign"] != "" {
					t.Fatalf("%s: bad FAIL answer %q (%v)", path, out, err)
				}
			case bytes.HasPrefix(out, []byte("\x1f\x8b")), bytes.HasPrefix(out, []byte("交易时间,")):
			default:
				t.Fatalf("%s: neither a bill nor a FAIL: %q", path, out)
			}
		case path[:6] == "/fake/":
			if !json.Valid(out) {
				t.Fatalf("%s: answer is not JSON: %q", path, out)
			}
		}
	})
}

// serveAborts serves req and reports whether the handler aborted with
// http.ErrAbortHandler; any other panic goes on.
func serveAborts(h http.Handler, w http.ResponseWriter, req *http.Request) (aborted bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				panic(v)
			}
			aborted = true
		}
	}()
	h.ServeHTTP(w, req)
	return false
}
