package wxrefund

// Benchmarks of the hot paths, each beside its floor: the cryptography that
// no implementation can skip, run on the same bytes with its buffers reused.
// Compare the two within one run (the machine may be noisy; ratios hold
// better than absolute times). BENCHMARKS.md has the command and the
// figures.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// bnCanonical is the string-to-sign of fields (sign excluded, empty values
// skipped), with the key appended.
func bnCanonical(fields map[string]string, apiKey string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "sign" || fields[k] == "" {
			continue
		}
		b.WriteString(k + "=" + fields[k] + "&")
	}
	return b.String() + "key=" + apiKey
}

// bnHashFloor runs the floor: h over s, reused, into a reused buffer.
func bnHashFloor(b *testing.B, h hash.Hash, s string) {
	buf := make([]byte, 0, 64)
	data := []byte(s)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(data)
		buf = h.Sum(buf[:0])
	}
}

// bnQueryAnswer is a signed refund query answer with ten refunds of two
// coupons each: about 9 KB, the largest answer WeChat Pay sends.
func bnQueryAnswer(tb testing.TB) (body []byte, fields map[string]string) {
	f := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": ntAppID, "mch_id": ntMchID,
		"nonce_str": "Lp2vX9sQ4kT7dWmA", "result_code": "SUCCESS",
		"transaction_id": "4200001234202406011234567890", "out_trade_no": "ORD20240601123456",
		"total_fee": "100000", "settlement_total_fee": "99000", "fee_type": "CNY", "cash_fee": "99000",
		"refund_count": "10", "refund_fee": "10000", "coupon_refund_fee": "1000", "cash_refund_fee": "9000",
	}
	for n := range 10 {
		s := strconv.Itoa(n)
		f["out_refund_no_"+s] = "RF2024060300000" + s
		f["refund_id_"+s] = "5030001234520240603123456789" + s
		f["refund_channel_"+s] = "ORIGINAL"
		f["refund_fee_"+s] = "1000"
		f["settlement_refund_fee_"+s] = "900"
		f["coupon_refund_fee_"+s] = "100"
		f["coupon_refund_count_"+s] = "2"
		for m := range 2 {
			sm := s + "_" + strconv.Itoa(m)
			f["coupon_type_"+sm] = "NO_CASH"
			f["coupon_refund_id_"+sm] = "2000000012" + strconv.Itoa(m)
			f["coupon_refund_fee_"+sm] = "50"
		}
		f["refund_status_"+s] = "SUCCESS"
		f["refund_account_"+s] = "REFUND_SOURCE_UNSETTLED_FUNDS"
		f["refund_recv_accout_"+s] = "支付用户零钱"
		f["refund_success_time_"+s] = "2024-06-03 10:15:42"
	}
	f["sign"] = Sign(f, ntKey, SignTypeMD5)
	body, err := mtEncode(f)
	if err != nil {
		tb.Fatal(err)
	}
	return body, f
}

// BenchmarkRefundAnswer: a refund answer of 25 fields decoded, checked,
// verified and parsed, beside MD5 of its string-to-sign.
func BenchmarkRefundAnswer(b *testing.B) {
	body := ntReadVector(b, "refund_response_9_2.xml")
	fields, err := mtDecode(body, "xml")
	if err != nil {
		b.Fatal(err)
	}
	c := ntClient(b, ntAppID, ntMchID, ntKey)
	req := ntRefundRequest()
	b.Run("sdk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			bnAnswer(b, c, opRefund, body, func(f map[string]string) error {
				_, err := parseRefundResponse(f, req)
				return err
			})
		}
	})
	b.Run("floor", func(b *testing.B) { bnHashFloor(b, md5.New(), bnCanonical(fields, ntKey)) })
}

// bnAnswer runs the Client's path for an answer body.
func bnAnswer(b *testing.B, c *Client, op string, body []byte, parse func(map[string]string) error) {
	list, err := readAnswer(op, http.StatusOK, body)
	if err != nil {
		b.Fatal(err)
	}
	f, err := c.checkAnswer(op, list)
	if err != nil {
		b.Fatal(err)
	}
	if err := parse(f); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkQueryAnswer: a ten-refund query answer, the same path.
func BenchmarkQueryAnswer(b *testing.B) {
	body, fields := bnQueryAnswer(b)
	c := ntClient(b, ntAppID, ntMchID, ntKey)
	q := &QueryRefundRequest{OutTradeNo: "ORD20240601123456"}
	b.Run("sdk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			bnAnswer(b, c, opRefundQuery, body, func(f map[string]string) error {
				_, err := parseQueryResponse(f, q)
				return err
			})
		}
	})
	b.Run("floor", func(b *testing.B) { bnHashFloor(b, md5.New(), bnCanonical(fields, ntKey)) })
}

// BenchmarkDecryptNotify: a whole notification body (816 bytes of req_info
// ciphertext), beside base64 and AES-ECB of its req_info.
func BenchmarkDecryptNotify(b *testing.B) {
	body := ntReadVector(b, "notify_9_4.xml")
	outer, err := mtDecode(body, "xml")
	if err != nil {
		b.Fatal(err)
	}
	c := ntClient(b, ntAppID, ntMchID, ntKey)
	b.Run("sdk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.DecryptNotify(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor", func(b *testing.B) {
		block, err := aes.NewCipher([]byte(ntAESKey))
		if err != nil {
			b.Fatal(err)
		}
		src := []byte(outer["req_info"])
		buf := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			n, err := base64.StdEncoding.Decode(buf, src)
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < n; i += aes.BlockSize {
				block.Decrypt(buf[i:i+aes.BlockSize], buf[i:i+aes.BlockSize])
			}
		}
	})
}

// BenchmarkNotifyHandler: NotifyHandler through httptest, request to reply.
func BenchmarkNotifyHandler(b *testing.B) {
	body := ntReadVector(b, "notify_9_4.xml")
	c := ntClient(b, ntAppID, ntMchID, ntKey)
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error { return nil })
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body)))
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkRefundRequest: a refund request validated, signed and encoded
// (MD5/sdk), and only signed by the Client (sign-MD5/sdk), beside MD5 of its
// string-to-sign; and the same with HMAC-SHA256 beside a reused keyed HMAC.
func BenchmarkRefundRequest(b *testing.B) {
	req := mtRefundReq()
	req.RefundFeeType, req.RefundAccount = "CNY", RefundAccountUnsettledFunds
	for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
		c, err := NewClient(ntAppID, ntMchID, ntKey, WithSignType(st))
		if err != nil {
			b.Fatal(err)
		}
		fields, err := mtDecode(mtRefundBody(b, c, req), "xml")
		if err != nil {
			b.Fatal(err)
		}
		b.Run("sign-"+string(st)+"/sdk", func(b *testing.B) {
			params := c.refundParams(req)
			var dst [64]byte
			b.ReportAllocs()
			for b.Loop() {
				c.keys().signParams(dst[:0], params[:], st)
			}
		})
		b.Run(string(st)+"/sdk", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := req.validate(); err != nil {
					b.Fatal(err)
				}
				params := c.refundParams(req)
				if len(c.encodeRequest(params[:])) == 0 {
					b.Fatal("empty body")
				}
			}
		})
		floor := md5.New()
		if st == SignTypeHMACSHA256 {
			floor = hmac.New(sha256.New, []byte(ntKey))
		}
		b.Run(string(st)+"/floor", func(b *testing.B) { bnHashFloor(b, floor, bnCanonical(fields, ntKey)) })
		b.Run("sign-"+string(st)+"/floor", func(b *testing.B) { bnHashFloor(b, floor, bnCanonical(fields, ntKey)) })
	}
}

// mtRefundBody is the body c sends for req.
func mtRefundBody(tb testing.TB, c *Client, req *RefundRequest) []byte {
	tb.Helper()
	params := c.refundParams(req)
	return c.encodeRequest(params[:])
}

// BenchmarkSign: the exported Sign over a 12-field map, beside MD5 and a
// reused keyed HMAC of its string-to-sign.
func BenchmarkSign(b *testing.B) {
	p := map[string]string{
		"appid": ntAppID, "mch_id": ntMchID, "nonce_str": "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"out_trade_no": "ORD20240601123456", "out_refund_no": "RF20240603000001", "total_fee": "5000",
		"refund_fee": "2000", "refund_fee_type": "CNY", "refund_desc": "商品缺货",
		"refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
		"notify_url":     "https://merchant.example.com/wxpay/refund-notify", "sign_type": "MD5",
	}
	canonical := bnCanonical(p, ntKey)
	b.Run("MD5/sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Sign(p, ntKey, SignTypeMD5)
		}
	})
	b.Run("MD5/floor", func(b *testing.B) { bnHashFloor(b, md5.New(), canonical) })
	b.Run("HMAC-SHA256/sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Sign(p, ntKey, SignTypeHMACSHA256)
		}
	})
	b.Run("HMAC-SHA256/floor", func(b *testing.B) { bnHashFloor(b, hmac.New(sha256.New, []byte(ntKey)), canonical) })
}
