package wxrefundtest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// offByOne changes the last character of a hex signature.
func offByOne(sig string) string {
	last := sig[len(sig)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return sig[:len(sig)-1] + string(repl)
}

// TestKnownAnswerVectors checks that the fake accepts requests signed with
// published signatures and refuses a sign one character off: the example of
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3 (codec_test.go
// checks the fake's signing against it) and
// testdata/vectors/refund_request_9_1.xml.
func TestKnownAnswerVectors(t *testing.T) {
	t.Run("official", func(t *testing.T) {
		p := params{
			"appid":       "wxd930ea5d5a258f4f",
			"mch_id":      "10000100",
			"device_info": "1000",
			"body":        "test",
			"nonce_str":   "ibuaiVcKdpRxkhJA",
		}
		const key = "192006250b4c09247ec02edce69f6a2d"

		s := newServer(t, wxrefundtest.WithCredentials("wxd930ea5d5a258f4f", "10000100", key))
		p["sign"] = "9A0A8659F005D6984697E2CA0A9CF3B7"
		status, raw := postRaw(t, httpClient(t, s, false), s.URL()+wxrefundtest.PathRefundQuery, encode(t, p))
		require.Equal(t, http.StatusOK, status)
		// The sign verified: the answer is a signed business failure (the
		// vector names no refund to query).
		requireErrCode(t, decode(t, s, raw, wxrefund.SignTypeMD5), wxrefund.CodeParamError)

		p["sign"] = offByOne(p["sign"])
		_, raw = postRaw(t, httpClient(t, s, false), s.URL()+wxrefundtest.PathRefundQuery, encode(t, p))
		requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "签名错误")
	})

	// The request of testdata/vectors/refund_request_9_1.xml, byte for byte,
	// with its MD5 sign; then the same parameters with sign_type HMAC-SHA256
	// and the HMAC sign of testdata/vectors/sign_vectors.json.
	const req91 = `<xml>
  <appid><![CDATA[wx8888888888888888]]></appid>
  <mch_id><![CDATA[1900000109]]></mch_id>
  <nonce_str><![CDATA[5K8264ILTKCH16CQ2502SI8ZNMTM67VS]]></nonce_str>
  <out_trade_no><![CDATA[ORD20240601123456]]></out_trade_no>
  <out_refund_no><![CDATA[RF20240603000001]]></out_refund_no>
  <total_fee>5000</total_fee>
  <refund_fee>2000</refund_fee>
  <refund_desc><![CDATA[商品缺货]]></refund_desc>
  <notify_url><![CDATA[https://merchant.example.com/wxpay/refund-notify]]></notify_url>
  %s
</xml>`
	t.Run("refund_request_9_1", func(t *testing.T) {
		s := newServer(t, wxrefundtest.WithCredentials("wx8888888888888888", "1900000109", "Illustr8tiveApiV2Key0123456789Ab"),
			wxrefundtest.WithNotifySchedule())
		addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TransactionID: "4200001234202406011234567890",
			TotalFee: 5000, CouponFee: 500, CouponID: "20000000123"})
		hc := httpClient(t, s, true)
		url := s.URL() + wxrefundtest.PathRefund

		md5 := strings.Replace(req91, "%s", "<sign><![CDATA[F6D21A6A2156D461B557F665B8D98017]]></sign>", 1)
		_, raw := postRaw(t, hc, url, []byte(strings.Replace(md5, "F6D21A6A", "F6D21A6B", 1)))
		requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "签名错误")

		_, raw = postRaw(t, hc, url, []byte(md5))
		f := decode(t, s, raw, wxrefund.SignTypeMD5)
		requireOK(t, f)
		// The amounts of testdata/vectors/refund_response_9_2.xml: 2000 refunded, 200 of it from the coupon.
		for k, v := range map[string]string{
			"transaction_id": "4200001234202406011234567890", "out_trade_no": "ORD20240601123456",
			"out_refund_no": "RF20240603000001", "refund_fee": "2000", "settlement_refund_fee": "1800",
			"total_fee": "5000", "settlement_total_fee": "4500", "fee_type": "CNY", "cash_fee": "4500",
			"cash_refund_fee": "1800", "coupon_refund_fee": "200", "coupon_refund_count": "1",
			"coupon_type_0": "NO_CASH", "coupon_refund_id_0": "20000000123", "coupon_refund_fee_0": "200",
		} {
			require.Equal(t, v, f[k], k)
		}

		hmac := strings.Replace(req91, "%s", "<sign_type>HMAC-SHA256</sign_type>"+
			"<sign>534EB7CFF8C0F5B47BC65754CF5106A7F6B18DFD7EC17F1454E20C49B73E3AD7</sign>", 1)
		_, raw = postRaw(t, hc, url, []byte(strings.Replace(hmac, "3AD7<", "3AD8<", 1)))
		requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeHMACSHA256), "签名错误")

		_, raw = postRaw(t, hc, url, []byte(hmac))
		g := decode(t, s, raw, wxrefund.SignTypeHMACSHA256)
		requireOK(t, g)
		require.Len(t, g["sign"], 64)
		// Same out_refund_no and amounts: the same refund, not a second one.
		require.Equal(t, f["refund_id"], g["refund_id"])
		require.Len(t, s.Refunds("ORD20240601123456"), 1)
	})
}

func TestMalformedXML(t *testing.T) {
	s := newServer(t)
	hc := httpClient(t, s, true)
	for name, body := range map[string]string{
		"empty":      "",
		"not XML":    "refund please",
		"wrong root": "<root><a>1</a></root>",
		"nested":     "<xml><a><b>1</b></a></xml>",
		"DOCTYPE":    `<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`,
		"unclosed":   "<xml><appid>wx</appid>",
		"duplicate":  "<xml><a>1</a><a>2</a></xml>",
	} {
		for _, path := range []string{wxrefundtest.PathRefund, wxrefundtest.PathRefundQuery} {
			status, raw := postRaw(t, hc, s.URL()+path, []byte(body))
			require.Equal(t, http.StatusOK, status, name)
			requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "XML格式错误")
		}
	}
}

func TestBodyLimit(t *testing.T) {
	s := newServer(t)
	body := "<xml><refund_desc>" + strings.Repeat("x", 64<<10) + "</refund_desc></xml>"
	status, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, []byte(body))
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, string(raw), "413 Request Entity Too Large")
}

func TestBadSign(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	key := apiKey(s)
	good := sign(s, params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"}, wxrefund.SignTypeMD5)

	cases := map[string]func(p params){
		"missing sign":      func(p params) { delete(p, "sign") },
		"empty sign":        func(p params) { p["sign"] = "" },
		"one char off":      func(p params) { p["sign"] = offByOne(p["sign"]) },
		"lowercase":         func(p params) { p["sign"] = strings.ToLower(p["sign"]) },
		"field changed":     func(p params) { p["refund_fee"] = "11" },
		"field added":       func(p params) { p["refund_desc"] = "extra" },
		"other key":         func(p params) { p["sign"] = wxrefundtest.Sign(p, strings.Repeat("k", 32), wxrefund.SignTypeMD5) },
		"HMAC without type": func(p params) { p["sign"] = wxrefundtest.Sign(p, key, wxrefund.SignTypeHMACSHA256) },
		"MD5 with HMAC type": func(p params) {
			p["sign_type"] = "HMAC-SHA256"
			p["sign"] = wxrefundtest.Sign(p, key, wxrefund.SignTypeMD5)
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			p := params{}
			for k, v := range good {
				p[k] = v
			}
			mutate(p)
			for _, path := range []string{wxrefundtest.PathRefund, wxrefundtest.PathRefundQuery} {
				_, raw := postRaw(t, httpClient(t, s, true), s.URL()+path, encode(t, p))
				requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "签名错误")
			}
		})
	}
	t.Run("unknown sign_type", func(t *testing.T) {
		p := params{"out_refund_no": "R1", "sign_type": "SHA1"}
		p = sign(s, p, wxrefund.SignTypeMD5)
		_, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefundQuery, encode(t, p))
		requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "sign_type参数错误")
	})
	require.Empty(t, s.Refunds("O1"), "no refund from a request that did not verify")

	// Both algorithms are accepted, and the answer uses the request's.
	for _, st := range []wxrefund.SignType{wxrefund.SignTypeMD5, wxrefund.SignTypeHMACSHA256} {
		f := callType(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R" + string(st),
			"total_fee": "100", "refund_fee": "10"}, st)
		requireOK(t, f)
	}
}

func TestMerchantMismatch(t *testing.T) {
	s := newServer(t)
	f := query(t, s, params{"mch_id": "1234567890", "out_refund_no": "R1"})
	requireErrCode(t, f, wxrefund.CodeMchIDNotExist)
	require.Equal(t, "1234567890", f["mch_id"], "the answer echoes the request's mch_id")

	f = query(t, s, params{"appid": "wx0000000000000000", "out_refund_no": "R1"})
	requireErrCode(t, f, wxrefund.CodeAppIDNotExist)
	require.Equal(t, "wx0000000000000000", f["appid"])

	f = call(t, s, wxrefundtest.PathRefund, params{"appid": "", "out_refund_no": "R1"})
	requireErrCode(t, f, wxrefund.CodeAppIDNotExist)
}

func TestRefundNeedsClientCertificate(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	body := encode(t, sign(s, params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"},
		wxrefund.SignTypeMD5))

	resp, err := httpClient(t, s, false).Post(s.URL()+wxrefundtest.PathRefund, "text/xml", strings.NewReader(string(body)))
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "text/html", resp.Header.Get("Content-Type"))
	page := make([]byte, 4096)
	n, _ := resp.Body.Read(page)
	require.Contains(t, string(page[:n]), "<title>400 No required SSL certificate was sent</title>")
	require.Empty(t, s.Refunds("O1"))

	// A GET without a certificate is refused the same way: nginx looks first.
	resp2, err := httpClient(t, s, false).Get(s.URL() + wxrefundtest.PathRefund)
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp2.StatusCode)

	// With the certificate the same body is accepted.
	status, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, body)
	require.Equal(t, http.StatusOK, status)
	requireOK(t, decode(t, s, raw, wxrefund.SignTypeMD5))
}

func TestQueryNeedsNoCertificate(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	body := encode(t, sign(s, params{"out_refund_no": "R1"}, wxrefund.SignTypeMD5))
	status, raw := postRaw(t, httpClient(t, s, false), s.URL()+wxrefundtest.PathRefundQuery, body)
	require.Equal(t, http.StatusOK, status)
	f := decode(t, s, raw, wxrefund.SignTypeMD5)
	requireOK(t, f)
	require.Equal(t, "R1", f["out_refund_no_0"])
}

func TestRequirePost(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{wxrefundtest.PathRefund, wxrefundtest.PathRefundQuery} {
		for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			req, err := http.NewRequest(method, s.URL()+path, nil)
			require.NoError(t, err)
			resp, err := httpClient(t, s, true).Do(req)
			require.NoError(t, err)
			raw := make([]byte, 4096)
			n, _ := resp.Body.Read(raw)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			f := decode(t, s, raw[:n], wxrefund.SignTypeMD5)
			requireErrCode(t, f, wxrefund.CodeRequirePostMethod)
		}
	}
}

// TestRefundFieldValidation covers requests whose fields are missing or
// malformed (unsigned return_code FAIL) or do not fit together (PARAM_ERROR).
func TestRefundFieldValidation(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	base := params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"}
	cases := []struct {
		name    string
		change  params // "" deletes
		msg     string // return_msg of a return_code FAIL, or
		errCode string // err_code of a result_code FAIL
	}{
		{"no out_refund_no", params{"out_refund_no": ""}, "缺少参数out_refund_no", ""},
		{"bad out_refund_no", params{"out_refund_no": "R 1"}, "invalid out_refund_no", ""},
		{"long out_refund_no", params{"out_refund_no": strings.Repeat("1", 65)}, "invalid out_refund_no", ""},
		{"bad out_trade_no", params{"out_trade_no": "O#1"}, "invalid out_trade_no", ""},
		{"bad transaction_id", params{"transaction_id": strings.Repeat("4", 33)}, "invalid transaction_id", ""},
		{"no total_fee", params{"total_fee": ""}, "缺少参数total_fee", ""},
		{"no refund_fee", params{"refund_fee": ""}, "缺少参数refund_fee", ""},
		{"total_fee text", params{"total_fee": "1.00"}, "invalid total_fee", ""},
		{"refund_fee zero", params{"refund_fee": "0"}, "invalid refund_fee", ""},
		{"refund_fee negative", params{"refund_fee": "-5"}, "invalid refund_fee", ""},
		{"refund_fee plus", params{"refund_fee": "+5"}, "invalid refund_fee", ""},
		{"refund_fee huge", params{"refund_fee": "99999999999999999999"}, "invalid refund_fee", ""},
		{"refund_fee over total_fee", params{"refund_fee": "101"}, "invalid refund_fee", ""},
		{"bad refund_account", params{"refund_account": "MY_POCKET"}, "invalid refund_account", ""},
		{"notify_url with query", params{"notify_url": "https://m.example.com/n?x=1"}, "invalid notify_url", ""},
		{"notify_url relative", params{"notify_url": "/notify"}, "invalid notify_url", ""},
		{"long refund_desc", params{"refund_desc": strings.Repeat("退", 81)}, "invalid refund_desc", ""},
		{"no order id", params{"out_trade_no": ""}, "", wxrefund.CodeParamError},
		{"other currency", params{"refund_fee_type": "USD"}, "", wxrefund.CodeParamError},
		{"no nonce_str", params{"nonce_str": ""}, "invalid nonce_str", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := sign(s, base, wxrefund.SignTypeMD5)
			for k, v := range c.change {
				if v == "" {
					delete(p, k)
				} else {
					p[k] = v
				}
			}
			p["sign"] = wxrefundtest.Sign(p, apiKey(s), wxrefund.SignTypeMD5)
			_, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, encode(t, p))
			f := decode(t, s, raw, wxrefund.SignTypeMD5)
			if c.msg != "" {
				requireReturnFail(t, f, c.msg)
			} else {
				requireErrCode(t, f, c.errCode)
			}
		})
	}
	require.Empty(t, s.Refunds("O1"))

	// The valid variants of the same request are accepted.
	f := call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R_-|*@1",
		"total_fee": "100", "refund_fee": "100", "refund_fee_type": "CNY", "refund_desc": strings.Repeat("退", 80),
		"refund_account": wxrefund.RefundAccountRechargeFunds, "notify_url": "http://127.0.0.1:1/notify"})
	requireOK(t, f)
	require.Equal(t, wxrefund.RefundAccountRechargeFunds, s.Refunds("O1")[0].RefundAccount)
}

func TestUnknownPath(t *testing.T) {
	s := newServer(t)
	resp, err := httpClient(t, s, true).Post(s.URL()+"/pay/unifiedorder", "text/xml", strings.NewReader("<xml/>"))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
