package wxrefund

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Test identities. ntKey, ntAppID and ntMchID are the illustrative merchant
// of the committed vectors (testdata/vectors).
const (
	ntKey      = mtAPIKey // the vectors' merchant of helpers_test.go
	ntAESKey   = "9c2098c0ede6b2281449560ecbee1578"
	ntAppID    = mtAppID
	ntMchID    = mtMchID
	ntWPYKey   = "OF4Ne3znh8KqL0V4NqmALQa0uXMYKcEk"
	ntWPYAES   = "63dfc0c1f53d9bc83a8fdc365b8141da"
	ntWPYAppID = "wx4f4bc4dec97d474b"
	ntWPYMchID = "12345678"
	ntOKReply  = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
)

func ntReadVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	require.NoError(t, err)
	return b
}

func ntCopy(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	maps.Copy(c, m)
	return c
}

// ntAssertNoSecrets fails when err's text contains any of secrets, in any
// letter case.
func ntAssertNoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	msg := strings.ToLower(err.Error())
	for _, s := range secrets {
		if s == "" {
			continue
		}
		assert.NotContains(t, msg, strings.ToLower(s), "error %q leaks a secret", err.Error())
	}
}

// ntClient returns a certificate-less Client, enough for notifications.
func ntClient(t testing.TB, appID, mchID, apiKey string) *Client {
	t.Helper()
	c, err := NewClient(appID, mchID, apiKey)
	require.NoError(t, err)
	return c
}

// ntInnerXML encodes inner as the <root> document WeChat Pay encrypts.
func ntInnerXML(t testing.TB, inner map[string]string) []byte {
	t.Helper()
	x, err := encodeFlat("root", inner)
	require.NoError(t, err)
	return x
}

// ntReqInfo encrypts plaintext the way WeChat Pay does: AES-256-ECB with the
// hex MD5 of apiKey, PKCS#7, standard base64.
func ntReqInfo(apiKey string, plaintext []byte) string {
	return base64.StdEncoding.EncodeToString(mtEncryptECB(notifyKey(apiKey), plaintext))
}

// ntEnvelope wraps reqInfo in the outer notification document.
func ntEnvelope(t testing.TB, appid, mchid, reqInfo string) []byte {
	t.Helper()
	body, err := mtEncode(map[string]string{
		"return_code": "SUCCESS",
		"appid":       appid,
		"mch_id":      mchid,
		"nonce_str":   "0f2c6f1e8a9b4d3c9e7a5b1d2c3e4f5a",
		"req_info":    reqInfo,
	})
	require.NoError(t, err)
	return body
}

// ntEncryptNotify builds the body of a refund notification whose req_info
// holds inner.
func ntEncryptNotify(t testing.TB, apiKey, appid, mchid string, inner map[string]string) []byte {
	t.Helper()
	return ntEnvelope(t, appid, mchid, ntReqInfo(apiKey, ntInnerXML(t, inner)))
}

// ntInner is a complete decrypted notification (the content of testdata/vectors/notify_9_4_plaintext.xml).
func ntInner() map[string]string {
	return map[string]string{
		"out_refund_no":         "RF20240603000001",
		"out_trade_no":          "ORD20240601123456",
		"refund_account":        "REFUND_SOURCE_UNSETTLED_FUNDS",
		"refund_fee":            "2000",
		"refund_id":             "50300012345202406031234567890",
		"refund_recv_accout":    "支付用户零钱",
		"refund_request_source": "API",
		"refund_status":         "SUCCESS",
		"settlement_refund_fee": "1800",
		"settlement_total_fee":  "4500",
		"success_time":          "2024-06-03 10:15:42",
		"total_fee":             "5000",
		"transaction_id":        "4200001234202406011234567890",
	}
}

// ntNotifyVectors is testdata/vectors/notify_vectors.json.
type ntNotifyVectors struct {
	Vectors []struct {
		Name          string `json:"name"`
		File          string `json:"file"`
		PlaintextFile string `json:"plaintext_file"`
		Key           string `json:"key"`
		AESKey        string `json:"aes_key"`
		AppID         string `json:"appid"`
		MchID         string `json:"mch_id"`
		CiphertextLen int    `json:"ciphertext_len"`
		Pad           int    `json:"pad"`
		Want          struct {
			TransactionID       string `json:"transaction_id"`
			OutTradeNo          string `json:"out_trade_no"`
			RefundID            string `json:"refund_id"`
			OutRefundNo         string `json:"out_refund_no"`
			TotalFee            int64  `json:"total_fee"`
			SettlementTotalFee  int64  `json:"settlement_total_fee"`
			RefundFee           int64  `json:"refund_fee"`
			SettlementRefundFee int64  `json:"settlement_refund_fee"`
			RefundStatus        string `json:"refund_status"`
			SuccessTime         string `json:"success_time"`
			SuccessTimeUTC      string `json:"success_time_utc"`
			RecvAccount         string `json:"refund_recv_accout"`
			RefundAccount       string `json:"refund_account"`
			RequestSource       string `json:"refund_request_source"`
		} `json:"want"`
	} `json:"vectors"`
}

func ntLoadNotifyVectors(t testing.TB) ntNotifyVectors {
	t.Helper()
	var v ntNotifyVectors
	require.NoError(t, json.Unmarshal(ntReadVector(t, "notify_vectors.json"), &v))
	require.Len(t, v.Vectors, 2)
	return v
}

func TestNotifyVectors(t *testing.T) {
	t.Parallel()
	for _, v := range ntLoadNotifyVectors(t).Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			body := ntReadVector(t, v.File)
			c := ntClient(t, v.AppID, v.MchID, v.Key)
			n, err := c.DecryptNotify(body)
			require.NoError(t, err)

			w := v.Want
			assert.Equal(t, v.AppID, n.AppID)
			assert.Equal(t, v.MchID, n.MchID)
			assert.Equal(t, w.TransactionID, n.TransactionID)
			assert.Equal(t, w.OutTradeNo, n.OutTradeNo)
			assert.Equal(t, w.RefundID, n.RefundID)
			assert.Equal(t, w.OutRefundNo, n.OutRefundNo)
			assert.Equal(t, w.TotalFee, n.TotalFee)
			assert.Equal(t, w.SettlementTotalFee, n.SettlementTotalFee)
			assert.Equal(t, w.RefundFee, n.RefundFee)
			assert.Equal(t, w.SettlementRefundFee, n.SettlementRefundFee)
			assert.Equal(t, RefundStatus(w.RefundStatus), n.Status)
			assert.True(t, n.Status.Final())
			assert.Equal(t, w.RecvAccount, n.RecvAccount)
			assert.Equal(t, w.RefundAccount, n.RefundAccount)
			assert.Equal(t, w.RequestSource, n.RequestSource)

			// SuccessTime is the wall-clock time in China Standard Time.
			wantUTC, err := time.Parse(time.RFC3339, w.SuccessTimeUTC)
			require.NoError(t, err)
			assert.True(t, n.SuccessTime.Equal(wantUTC), "%v != %v", n.SuccessTime, wantUTC)
			_, off := n.SuccessTime.Zone()
			assert.Equal(t, 8*3600, off)
			assert.Equal(t, w.SuccessTime, n.SuccessTime.Format(TimeLayout))
			assert.Contains(t, n.SuccessTime.Format(time.RFC3339), "+08:00")

			// Raw keeps every decrypted field.
			assert.Len(t, n.Raw, 13)
			assert.Equal(t, w.OutRefundNo, n.Raw["out_refund_no"])
			if v.PlaintextFile != "" {
				want, err := mtDecode(ntReadVector(t, v.PlaintextFile), "root")
				require.NoError(t, err)
				assert.Equal(t, want, n.Raw)
			}

			// The key derivation matches the vector's AES key.
			sum := md5.Sum([]byte(v.Key))
			assert.Equal(t, v.AESKey, hex.EncodeToString(sum[:]))

			if v.CiphertextLen != 0 {
				outer, err := mtDecode(body, "xml")
				require.NoError(t, err)
				ct, err := base64.StdEncoding.DecodeString(outer["req_info"])
				require.NoError(t, err)
				assert.Len(t, ct, v.CiphertextLen)
				pt, err := decryptECB(notifyKey(v.Key), ct)
				require.NoError(t, err)
				assert.Len(t, pt, v.CiphertextLen-v.Pad)
			}
		})
	}
}

// A body built by ntEncryptNotify from the notify_9_4 content decrypts to the
// same notification as the notify_9_4 vector, and encrypts to the same req_info.
func TestNotifyEncryptHelperMatchesVector(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	fromVector, err := c.DecryptNotify(ntReadVector(t, "notify_9_4.xml"))
	require.NoError(t, err)
	built, err := c.DecryptNotify(ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner()))
	require.NoError(t, err)
	assert.Equal(t, fromVector, built)
}

func TestNotifyMinimalAndOptionalFields(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	inner := map[string]string{
		"out_refund_no":  "RF1",
		"refund_status":  "REFUNDCLOSE",
		"refund_fee":     "1",
		"total_fee":      "10",
		"a_future_field": "kept",
	}
	n, err := c.DecryptNotify(ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner))
	require.NoError(t, err)
	assert.Equal(t, RefundStatusClosed, n.Status)
	assert.True(t, n.SuccessTime.IsZero())
	assert.Zero(t, n.SettlementTotalFee)
	assert.Equal(t, "kept", n.Raw["a_future_field"])

	// Numbers with surrounding white space (CDATA-wrapped in the wild) parse.
	inner["refund_fee"] = " 7 "
	n, err = c.DecryptNotify(ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner))
	require.NoError(t, err)
	assert.Equal(t, int64(7), n.RefundFee)

	// An inner <xml> root is tolerated as well as <root>.
	x, err := mtEncode(inner)
	require.NoError(t, err)
	n, err = c.DecryptNotify(ntEnvelope(t, ntAppID, ntMchID, ntReqInfo(ntKey, x)))
	require.NoError(t, err)
	assert.Equal(t, "RF1", n.OutRefundNo)

	// Unknown statuses are kept as received.
	inner["refund_status"] = "SOMETHING_NEW"
	n, err = c.DecryptNotify(ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner))
	require.NoError(t, err)
	assert.Equal(t, RefundStatus("SOMETHING_NEW"), n.Status)
	assert.False(t, n.Status.Final())
}

// ntRawReqInfo encrypts raw blocks (no padding added) and wraps them as a
// notification, to produce each bad-padding shape.
func ntRawReqInfo(apiKey string, pt []byte) string {
	b := notifyKey(apiKey)
	ct := make([]byte, len(pt))
	for i := 0; i+16 <= len(pt); i += 16 {
		b.Encrypt(ct[i:i+16], pt[i:i+16])
	}
	return base64.StdEncoding.EncodeToString(ct)
}

func TestNotifyMalformed(t *testing.T) {
	t.Parallel()
	secretValue := "RF20240603000001" // the out_refund_no inside; must never leak
	good := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	goodInfo := ntReqInfo(ntKey, ntInnerXML(t, ntInner()))
	goodCT, err := base64.StdEncoding.DecodeString(goodInfo)
	require.NoError(t, err)
	plain := ntInnerXML(t, ntInner())

	env := func(reqInfo string) []byte { return ntEnvelope(t, ntAppID, ntMchID, reqInfo) }
	// padShape returns req_info whose plaintext is the real inner document
	// followed by a final block ending in tail.
	padShape := func(tail ...byte) []byte {
		pt := append([]byte{}, plain...)
		for len(pt)%16 != 0 {
			pt = append(pt, ' ')
		}
		blk := bytes.Repeat([]byte{' '}, 16)
		copy(blk[16-len(tail):], tail)
		return env(ntRawReqInfo(ntKey, append(pt, blk...)))
	}
	innerWith := func(edit func(m map[string]string)) []byte {
		m := ntInner()
		edit(m)
		return ntEncryptNotify(t, ntKey, ntAppID, ntMchID, m)
	}
	encryptPlain := func(pt string) []byte { return env(ntReqInfo(ntKey, []byte(pt))) }
	outer := func(m map[string]string) []byte {
		b, err := mtEncode(m)
		require.NoError(t, err)
		return b
	}

	// Controls: the shape builder makes valid notifications when the padding
	// is valid, so the cases below fail for their padding alone.
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	for _, tail := range [][]byte{{1}, {2, 2}, bytes.Repeat([]byte{16}, 16)} {
		n, err := c.DecryptNotify(padShape(tail...))
		require.NoError(t, err, "pad %v", tail)
		assert.Equal(t, secretValue, n.OutRefundNo)
	}

	tests := []struct {
		name   string
		body   []byte
		target error // sentinel for errors.Is; nil means *Error via errors.As
	}{
		{"bad base64", env("!!!not base64!!!"), ErrDecrypt},
		{"URL-safe base64", env(strings.NewReplacer("+", "-", "/", "_").Replace(goodInfo)), ErrDecrypt},
		{"base64 without padding", env(strings.TrimRight(goodInfo, "=") + "A"), ErrDecrypt},
		{"base64 with embedded space", env(goodInfo[:8] + " " + goodInfo[8:]), ErrDecrypt},
		{"wrong API key", ntEncryptNotify(t, "Illustr8tiveApiV2Key0123456789AB", ntAppID, ntMchID, ntInner()), ErrDecrypt},
		{"wrong API key (wechatpy vector)", ntReadVectorWithMerchant(t, "notify_wechatpy.xml", ntAppID, ntMchID), ErrDecrypt},
		{"truncated: last base64 quantum dropped", env(goodInfo[:len(goodInfo)-4]), ErrDecrypt},
		{"truncated: last 16 bytes dropped", env(base64.StdEncoding.EncodeToString(goodCT[:len(goodCT)-16])), ErrDecrypt},
		{"truncated: one byte dropped", env(base64.StdEncoding.EncodeToString(goodCT[:len(goodCT)-1])), ErrDecrypt},
		{"one extra byte", env(base64.StdEncoding.EncodeToString(append(append([]byte{}, goodCT...), 0))), ErrDecrypt},
		{"15 bytes", env(base64.StdEncoding.EncodeToString(goodCT[:15])), ErrDecrypt},
		{"pad byte 0", padShape(0), ErrDecrypt},
		{"pad byte 17", padShape(17), ErrDecrypt},
		{"pad byte 255", padShape(255), ErrDecrypt},
		{"pad bytes differ 03 03 02", padShape(3, 3, 2), ErrDecrypt},
		{"pad bytes differ 02 03 03", padShape(2, 3, 3), ErrDecrypt},
		{"pad 16 without 16 pad bytes", padShape(16, 16, 16), ErrDecrypt},
		{"empty req_info", env(""), ErrDecrypt},
		{"missing req_info", outer(map[string]string{"return_code": "SUCCESS", "appid": ntAppID, "mch_id": ntMchID}), ErrDecrypt},
		{"return_code FAIL", outer(map[string]string{"return_code": "FAIL", "return_msg": "system busy"}), nil},
		{"return_code missing", outer(map[string]string{"appid": ntAppID, "mch_id": ntMchID, "req_info": goodInfo}), ErrMalformed},
		{"return_code not WeChat's", outer(map[string]string{"return_code": "BUSY", "appid": ntAppID, "mch_id": ntMchID, "req_info": goodInfo}), ErrMalformed},
		{"foreign mch_id", ntEncryptNotify(t, ntKey, ntAppID, "1900000110", ntInner()), ErrMerchantMismatch},
		{"foreign appid", ntEncryptNotify(t, ntKey, "wx0000000000000000", ntMchID, ntInner()), ErrMerchantMismatch},
		{"missing appid", outer(map[string]string{"return_code": "SUCCESS", "mch_id": ntMchID, "req_info": goodInfo}), ErrMerchantMismatch},
		{"outer DOCTYPE", append([]byte(`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>`), good...), ErrMalformed},
		{"outer not XML", []byte("return_code=SUCCESS"), ErrMalformed},
		{"outer empty", nil, ErrMalformed},
		{"outer nested", []byte("<xml><return_code><a>SUCCESS</a></return_code></xml>"), ErrMalformed},
		{"outer wrong root", bytes.Replace(bytes.Replace(good, []byte("<xml>"), []byte("<root>"), 1), []byte("</xml>"), []byte("</root>"), 1), ErrMalformed},
		{"inner not XML", encryptPlain("out_refund_no=" + secretValue), ErrMalformed},
		{"inner empty", encryptPlain(""), ErrMalformed},
		{"inner with nesting", encryptPlain("<root><out_refund_no><x>" + secretValue + "</x></out_refund_no></root>"), ErrMalformed},
		{"inner DOCTYPE", encryptPlain("<!DOCTYPE root><root><out_refund_no>" + secretValue + "</out_refund_no></root>"), ErrMalformed},
		{"inner wrong root", encryptPlain("<data><out_refund_no>" + secretValue + "</out_refund_no></data>"), ErrMalformed},
		{"inner duplicate field", encryptPlain("<root><out_refund_no>" + secretValue + "</out_refund_no><out_refund_no>x</out_refund_no></root>"), ErrMalformed},
		{"inner missing out_refund_no", innerWith(func(m map[string]string) { delete(m, "out_refund_no") }), ErrMalformed},
		{"inner empty out_refund_no", innerWith(func(m map[string]string) { m["out_refund_no"] = "" }), ErrMalformed},
		{"inner missing refund_status", innerWith(func(m map[string]string) { delete(m, "refund_status") }), ErrMalformed},
		{"inner missing refund_fee", innerWith(func(m map[string]string) { delete(m, "refund_fee") }), ErrMalformed},
		{"inner missing total_fee", innerWith(func(m map[string]string) { delete(m, "total_fee") }), ErrMalformed},
		{"inner non-integer refund_fee", innerWith(func(m map[string]string) { m["refund_fee"] = "20.00" }), ErrMalformed},
		{"inner refund_fee holding the secret", innerWith(func(m map[string]string) { m["refund_fee"] = secretValue }), ErrMalformed},
		{"inner non-integer total_fee", innerWith(func(m map[string]string) { m["total_fee"] = "5e3" }), ErrMalformed},
		{"inner overflowing settlement_refund_fee", innerWith(func(m map[string]string) { m["settlement_refund_fee"] = "99999999999999999999" }), ErrMalformed},
		{"inner bad success_time", innerWith(func(m map[string]string) { m["success_time"] = "2024/06/03 10:15:42" }), ErrMalformed},
		{"body over 64 KiB", append(bytes.Clone(good), bytes.Repeat([]byte(" "), maxBody)...), ErrBodyTooLarge},
		{"body of 64 KiB + 1", append(bytes.Repeat([]byte(" "), maxBody+1-len(good)), good...), ErrBodyTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n, err := c.DecryptNotify(tc.body)
			require.Error(t, err)
			assert.Nil(t, n)
			if tc.target == nil {
				var errType *Error // per subtest: they run in parallel
				require.ErrorAs(t, err, &errType)
			} else {
				require.ErrorIs(t, err, tc.target)
			}
			// Errors do not say what the key, its derived AES key or the
			// plaintext are.
			ntAssertNoSecrets(t, err, ntKey, ntAESKey, secretValue, "4200001234202406011234567890", "支付用户零钱")
		})
	}
}

// ntReadVectorWithMerchant returns a vector body with its appid and mch_id
// replaced, so that the merchant check passes and decryption is reached.
func ntReadVectorWithMerchant(t testing.TB, file, appid, mchid string) []byte {
	t.Helper()
	f, err := mtDecode(ntReadVector(t, file), "xml")
	require.NoError(t, err)
	f["appid"], f["mch_id"] = appid, mchid
	b, err := mtEncode(f)
	require.NoError(t, err)
	return b
}

func TestNotifyReturnCodeFail(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body := []byte("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[signature error]]></return_msg></xml>")
	_, err := c.DecryptNotify(body)
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "FAIL", e.ReturnCode)
	assert.Equal(t, "signature error", e.ReturnMsg)
	assert.ErrorIs(t, err, &Error{ReturnCode: "FAIL"})
}

func TestNotifyExactlyMaxBody(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	good := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	// Trailing white space after the root is allowed: pad to exactly 64 KiB.
	body := append(bytes.Clone(good), bytes.Repeat([]byte("\n"), maxBody-len(good))...)
	require.Len(t, body, maxBody)
	n, err := c.DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, "RF20240603000001", n.OutRefundNo)

	req := httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body))
	n, err = c.ParseNotifyRequest(req)
	require.NoError(t, err)
	assert.Equal(t, "RF20240603000001", n.OutRefundNo)

	req = httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(append(body, '\n')))
	_, err = c.ParseNotifyRequest(req)
	require.ErrorIs(t, err, ErrBodyTooLarge)
}

func TestNotifyDecryptKeepsInputIntact(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	orig := bytes.Clone(body)
	_, err := c.DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, orig, body)
	// Decrypting twice (WeChat Pay redelivers) gives the same result.
	a, err := c.DecryptNotify(body)
	require.NoError(t, err)
	b, err := c.DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, a, b)
}

func TestParseNotifyRequestMethod(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodHead} {
		req := httptest.NewRequest(m, "/notify", bytes.NewReader(body))
		n, err := c.ParseNotifyRequest(req)
		require.Error(t, err, m)
		assert.Nil(t, n)
		assert.ErrorIs(t, err, ErrMalformed)
	}
	n, err := c.ParseNotifyRequest(httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body)))
	require.NoError(t, err)
	assert.Equal(t, "RF20240603000001", n.OutRefundNo)
}

// A body that cannot be read, or a hand-built request without one, is an
// ErrMalformed error, never a panic; the read error stays in the chain.
func TestParseNotifyRequestUnreadableBody(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	cut := errors.New("connection cut")
	req := httptest.NewRequest(http.MethodPost, "/notify", io.MultiReader(bytes.NewReader(body[:40]), iotest.ErrReader(cut)))
	n, err := c.ParseNotifyRequest(req)
	assert.Nil(t, n)
	require.ErrorIs(t, err, ErrMalformed)
	assert.ErrorIs(t, err, cut)

	req, err = http.NewRequest(http.MethodPost, "/notify", nil)
	require.NoError(t, err)
	require.Nil(t, req.Body)
	n, err = c.ParseNotifyRequest(req)
	assert.Nil(t, n)
	assert.ErrorIs(t, err, ErrMalformed)
}

// ---------------------------------------------------------------- handler

type ntCall struct {
	ctx context.Context
	n   *RefundNotification
}

func ntServe(h http.Handler, method string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/wxpay/refund-notify", bytes.NewReader(body))
	req.Header.Set("Content-Type", "text/xml")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

type ntCtxKey struct{}

func TestNotifyHandlerSuccess(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	var calls []ntCall
	h := c.NotifyHandler(func(ctx context.Context, n *RefundNotification) error {
		calls = append(calls, ntCall{ctx, n})
		return nil
	})
	body := ntReadVector(t, "notify_9_4.xml")
	req := httptest.NewRequest(http.MethodPost, "/wxpay/refund-notify", bytes.NewReader(body))
	ctx := context.WithValue(req.Context(), ntCtxKey{}, "marker")
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, ntOKReply, rec.Body.String())
	assert.Contains(t, rec.Header().Get("Content-Type"), "xml")
	require.Len(t, calls, 1)
	assert.Equal(t, "marker", calls[0].ctx.Value(ntCtxKey{}), "fn gets the request's context")
	want, err := c.DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, want, calls[0].n)
}

func TestNotifyHandlerRejectsOtherMethods(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	called := false
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error { called = true; return nil })
	body := ntReadVector(t, "notify_9_4.xml")
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete, http.MethodHead} {
		rec := ntServe(h, m, body)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, m)
		assert.Equal(t, http.MethodPost, rec.Header().Get("Allow"), m)
		if m != http.MethodHead {
			ntAssertFailReply(t, rec.Body.Bytes())
		}
	}
	assert.False(t, called)
}

// ntAssertFailReply checks a FAIL reply: a flat <xml> with return_code FAIL
// and a return_msg.
func ntAssertFailReply(t testing.TB, body []byte) map[string]string {
	t.Helper()
	f, err := mtDecode(body, "xml")
	require.NoError(t, err, "%q", body)
	assert.Equal(t, "FAIL", f["return_code"])
	assert.NotEmpty(t, f["return_msg"])
	return f
}

func TestNotifyHandlerFnError(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	const secretErr = "db password is hunter2"
	var calls atomic.Int32
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error {
		calls.Add(1)
		return errors.New(secretErr)
	})
	rec := ntServe(h, http.MethodPost, ntReadVector(t, "notify_9_4.xml"))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	ntAssertFailReply(t, rec.Body.Bytes())
	assert.NotContains(t, rec.Body.String(), secretErr)
	assert.NotContains(t, rec.Body.String(), "hunter2")
	assert.NotContains(t, rec.Body.String(), "SUCCESS")
	assert.Equal(t, int32(1), calls.Load())
}

func TestNotifyHandlerInvalid(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	var calls atomic.Int32
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error { calls.Add(1); return nil })
	for name, body := range map[string][]byte{
		"wrong key":      ntEncryptNotify(t, "Illustr8tiveApiV2Key0123456789AB", ntAppID, ntMchID, ntInner()),
		"foreign mch_id": ntEncryptNotify(t, ntKey, ntAppID, "1", ntInner()),
		"not XML":        []byte("hello"),
		"empty":          nil,
		"DOCTYPE":        []byte(`<!DOCTYPE xml><xml><return_code>SUCCESS</return_code></xml>`),
		"FAIL":           []byte("<xml><return_code>FAIL</return_code></xml>"),
		"bad inner":      ntEncryptNotify(t, ntKey, ntAppID, ntMchID, map[string]string{"out_refund_no": "RF20240603000001"}),
	} {
		rec := ntServe(h, http.MethodPost, body)
		assert.Equal(t, http.StatusBadRequest, rec.Code, name)
		f := ntAssertFailReply(t, rec.Body.Bytes())
		for _, s := range []string{ntKey, ntAESKey, "RF20240603000001"} {
			assert.NotContains(t, f["return_msg"], s, name)
		}
	}
	assert.Zero(t, calls.Load(), "fn must not be called for invalid notifications")
}

func TestNotifyHandlerOversized(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	var calls atomic.Int32
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error { calls.Add(1); return nil })
	good := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	body := append(bytes.Clone(good), bytes.Repeat([]byte(" "), maxBody)...)
	rec := ntServe(h, http.MethodPost, body)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	ntAssertFailReply(t, rec.Body.Bytes())

	// An endless body is cut off after the limit rather than read to the end.
	r := &ntEndless{}
	req := httptest.NewRequest(http.MethodPost, "/", r)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.LessOrEqual(t, r.n, int64(maxBody+1+32*1024))
	assert.Zero(t, calls.Load())
}

type ntEndless struct{ n int64 }

func (r *ntEndless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestNotifyHandlerNilFn(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	h := c.NotifyHandler(nil)
	rec := ntServe(h, http.MethodPost, ntReadVector(t, "notify_9_4.xml"))
	assert.NotEqual(t, http.StatusOK, rec.Code)
	ntAssertFailReply(t, rec.Body.Bytes())
	assert.NotContains(t, rec.Body.String(), "SUCCESS")
}

// Over real HTTP: WeChat Pay POSTs, the handler answers the documented SUCCESS reply.
func TestNotifyHandlerOverHTTP(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntWPYAppID, ntWPYMchID, ntWPYKey)
	got := make(chan *RefundNotification, 4)
	fail := atomic.Bool{}
	srv := httptest.NewServer(c.NotifyHandler(func(ctx context.Context, n *RefundNotification) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		got <- n
		if fail.Load() {
			return errors.New("not stored")
		}
		return nil
	}))
	t.Cleanup(srv.Close)

	post := func(body []byte) (int, string) {
		// srv.Client() rather than http.DefaultClient: same real HTTP round
		// trip, without touching the process-wide default transport.
		resp, err := srv.Client().Post(srv.URL+"/wxpay/refund-notify", "text/xml", bytes.NewReader(body))
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}

	body := ntReadVector(t, "notify_wechatpy.xml")
	code, reply := post(body)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, ntOKReply, reply)
	require.Len(t, got, 1)
	n := <-got
	assert.Equal(t, "1234", n.OutRefundNo)
	assert.Equal(t, "招商银行信用卡8915", n.RecvAccount)
	assert.Equal(t, int64(1), n.RefundFee)

	fail.Store(true)
	code, reply = post(body)
	assert.Equal(t, http.StatusInternalServerError, code)
	assert.NotContains(t, reply, "not stored")
	ntAssertFailReply(t, []byte(reply))
	require.Len(t, got, 1)
	<-got

	resp, err := srv.Client().Get(srv.URL + "/wxpay/refund-notify")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))
	assert.Empty(t, got)
}
