package wxrefund

import (
	"bytes"
	"errors"
	"maps"
	"sort"
	"strings"
	"testing"

	"github.com/go-wxpay/wxrefund/internal/wire"
)

// ntFuzzEnvelope wraps reqInfo in a valid outer notification, or returns nil
// when reqInfo is not text XML can carry.
func ntFuzzEnvelope(reqInfo string) []byte {
	b, err := wire.Encode(map[string]string{
		"return_code": "SUCCESS", "appid": ntAppID, "mch_id": ntMchID, "req_info": reqInfo,
	})
	if err != nil {
		return nil
	}
	return b
}

// ntFuzzFields turns fuzz input into a field map: a flat XML document when
// it is one, else "key=value" lines (which lets the fuzzer reach field
// parsing without having to write XML).
func ntFuzzFields(data []byte) map[string]string {
	if f, err := wire.Decode(data, "xml"); err == nil {
		return f
	}
	f := map[string]string{}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, _ := strings.Cut(line, "=")
		f[k] = v
	}
	return f
}

// ntFieldLines is the inverse of ntFuzzFields' line form, for seeds.
func ntFieldLines(f map[string]string) []byte {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + f[k])
	}
	return b.Bytes()
}

func ntFuzzSecrets(t *testing.T, err error) {
	t.Helper()
	msg := strings.ToLower(err.Error())
	for _, s := range []string{ntKey, ntAESKey} {
		if strings.Contains(msg, strings.ToLower(s)) {
			t.Fatalf("error leaks key material: %v", err)
		}
	}
}

// FuzzDecryptNotify: DecryptNotify never panics, and what it accepts is
// complete and belongs to the Client; its errors match a documented sentinel
// and carry no key material. mode selects what data is:
//
//	0: the whole request body;
//	1: the req_info string, in a valid outer envelope;
//	2: the plaintext, encrypted with the right key, in a valid envelope
//	   (this reaches the inner XML and field parsing).
//
// One input and a mode byte (rather than three inputs checked on every run)
// keep each execution and the minimization of new inputs cheap.
func FuzzDecryptNotify(f *testing.F) {
	plain := ntReadVector(f, "notify_9_4_plaintext.xml")
	for _, file := range []string{"notify_9_4.xml", "notify_wechatpy.xml"} {
		body := ntReadVector(f, file)
		outer, err := wire.Decode(body, "xml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, byte(0))
		f.Add([]byte(outer["req_info"]), byte(1))
	}
	good := ntReqInfo(ntKey, plain)
	f.Add(plain, byte(2))
	f.Add([]byte("<xml><return_code>FAIL</return_code></xml>"), byte(0))
	f.Add([]byte("<!DOCTYPE xml><xml/>"), byte(0))
	f.Add([]byte("<xml><return_code>SUCCESS</return_code><appid>"+ntAppID+"</appid><mch_id>"+ntMchID+"</mch_id></xml>"), byte(0))
	f.Add([]byte(""), byte(1))
	f.Add([]byte("!!!"), byte(1))
	f.Add([]byte(good[:len(good)-4]), byte(1))
	f.Add([]byte("AAAAAAAAAAAAAAAAAAAAAA=="), byte(1))
	f.Add([]byte(""), byte(2))
	f.Add([]byte("<root><out_refund_no><a/></out_refund_no></root>"), byte(2))
	f.Add([]byte("<root><out_refund_no>1</out_refund_no><refund_status>SUCCESS</refund_status><refund_fee>1</refund_fee><total_fee>x</total_fee></root>"), byte(2))
	f.Add(bytes.Replace(plain, []byte("2024-06-03 10:15:42"), []byte("2024-06-03"), 1), byte(2))

	c, err := NewClient(ntAppID, ntMchID, ntKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, mode byte) {
		body := data
		switch mode % 3 {
		case 1:
			if body = ntFuzzEnvelope(string(data)); body == nil {
				return
			}
		case 2:
			body = ntFuzzEnvelope(ntReqInfo(ntKey, data))
		}
		n, err := c.DecryptNotify(body)
		if err != nil {
			if n != nil {
				t.Fatalf("notification and error both returned")
			}
			var e *Error
			if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMerchantMismatch) &&
				!errors.Is(err, ErrBodyTooLarge) && !errors.As(err, &e) {
				t.Fatalf("undocumented error: %v", err)
			}
			ntFuzzSecrets(t, err)
			return
		}
		if n.AppID != ntAppID || n.MchID != ntMchID {
			t.Fatalf("accepted a foreign notification")
		}
		if n.OutRefundNo == "" || n.Status == "" || n.Raw == nil {
			t.Fatalf("accepted an incomplete notification: %+v", n)
		}
	})
}

// FuzzParseQueryResponse: parseQueryResponse never panics on any field map,
// and what it builds is bounded by the fields it was given (a hostile count
// never sizes an allocation).
func FuzzParseQueryResponse(f *testing.F) {
	vec := ntReadVector(f, "refundquery_response_9_3.xml")
	f.Add(vec)
	ntAddVectorSeeds(f, vec,
		map[string]string{"refund_count": "1000000000"},
		map[string]string{"refund_count": "-1"},
		map[string]string{"refund_count": "45"},
		map[string]string{"coupon_refund_count_0": "9223372036854775807"},
		map[string]string{"coupon_refund_count_1": "44"},
		map[string]string{"total_refund_count": "-3"},
		map[string]string{"refund_success_time_0": "2024-02-30 10:15:42"},
		map[string]string{"refund_fee_0": "99999999999999999999"},
	)
	f.Add([]byte("refund_count=2\nout_refund_no_0=a\nout_refund_no_1=b\ncoupon_refund_count_1=1\ncoupon_type_1_0=CASH"))
	f.Add([]byte("refund_count=2\nout_refund_no_10=a\nrefund_id_11=b\ncoupon_refund_count_11=1\ncoupon_type_11_0=CASH"))
	f.Add([]byte("refund_count=1\nout_refund_no_007=a\nrefund_id_999999=b\nout_refund_no_1000000=c"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		fields := ntFuzzFields(data)
		r, err := parseQueryResponse(fields)
		if ntParseFailed(t, r, err) {
			return
		}
		if len(r.Refunds) > len(fields) {
			t.Fatalf("%d refunds from %d fields", len(r.Refunds), len(fields))
		}
		coupons := 0
		for _, rec := range r.Refunds {
			coupons += len(rec.Coupons)
			if rec.OutRefundNo == "" && rec.RefundID == "" {
				t.Fatalf("record without identifiers")
			}
		}
		if coupons > len(fields) {
			t.Fatalf("%d coupons from %d fields", coupons, len(fields))
		}
		if r.TotalRefundCount < 0 {
			t.Fatalf("negative total_refund_count accepted")
		}
	})
}

// FuzzParseRefundResponse: parseRefundResponse never panics, returns a
// response or an ErrMalformed error, echoes out_refund_no, and never builds
// more coupons than the message has fields.
func FuzzParseRefundResponse(f *testing.F) {
	fields := ntAddVectorSeeds(f, ntReadVector(f, "refund_response_9_2.xml"),
		map[string]string{"coupon_refund_count": "1000000000"},
		map[string]string{"coupon_refund_count": "-1"},
		map[string]string{"coupon_refund_count": "3"},
		map[string]string{"coupon_refund_fee_0": "9223372036854775808"},
		map[string]string{"refund_fee": "20.00"},
		map[string]string{"out_refund_no": "OTHER"},
	)
	f.Add([]byte("out_refund_no=" + fields["out_refund_no"] + "\ncoupon_refund_count=1\ncoupon_type_0=CASH"))
	f.Add([]byte(""))
	outRefundNo := fields["out_refund_no"]

	f.Fuzz(func(t *testing.T, data []byte) {
		fields := ntFuzzFields(data)
		r, err := parseRefundResponse(fields, outRefundNo)
		if ntParseFailed(t, r, err) {
			return
		}
		if r.OutRefundNo != outRefundNo {
			t.Fatalf("accepted out_refund_no %q, want %q", r.OutRefundNo, outRefundNo)
		}
		if len(r.Coupons) > len(fields) {
			t.Fatalf("%d coupons from %d fields", len(r.Coupons), len(fields))
		}
	})
}

// FuzzCheckResponse: checkResponse never panics, and accepts only a signed
// SUCCESS/SUCCESS answer for this merchant. With resign set the map is
// signed first, so the fuzzer also reaches the checks after the signature.
func FuzzCheckResponse(f *testing.F) {
	for _, file := range []string{"refund_response_9_2.xml", "refundquery_response_9_3.xml"} {
		f.Add(ntReadVector(f, file), false, false)
	}
	failSigned := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": ntAppID, "mch_id": ntMchID,
		"nonce_str": "n", "result_code": "FAIL", "err_code": "NOTENOUGH", "err_code_des": "余额不足",
	}
	failSigned["sign"] = Sign(failSigned, ntKey, SignTypeMD5)
	f.Add(ntFieldLines(failSigned), false, false)
	f.Add([]byte("<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[invalid refund_fee]]></return_msg></xml>"), false, false)
	f.Add([]byte("return_code=SUCCESS\nappid="+ntAppID+"\nmch_id="+ntMchID+"\nresult_code=MAYBE"), true, true)
	f.Add([]byte("return_code=SUCCESS\nappid=wx0\nmch_id="+ntMchID+"\nresult_code=SUCCESS"), true, false)
	f.Add([]byte("return_msg=x"), false, false)

	md5c, err := NewClient(ntAppID, ntMchID, ntKey)
	if err != nil {
		f.Fatal(err)
	}
	hmacc, err := NewClient(ntAppID, ntMchID, ntKey, WithSignType(SignTypeHMACSHA256))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, resign, useHMAC bool) {
		c := md5c
		if useHMAC {
			c = hmacc
		}
		fields := ntFuzzFields(data)
		if resign {
			fields["sign"] = Sign(fields, ntKey, c.signType)
		}
		err := c.checkResponse("refundquery", fields)
		if err == nil {
			if fields["return_code"] != "SUCCESS" || fields["result_code"] != "SUCCESS" ||
				fields["appid"] != ntAppID || fields["mch_id"] != ntMchID {
				t.Fatalf("accepted %v", fields)
			}
			if verifySign(fields, ntKey, c.signType) != nil {
				t.Fatalf("accepted an unsigned or wrongly signed answer")
			}
			return
		}
		var e *Error
		switch {
		case errors.As(err, &e):
			if fields["return_code"] == "SUCCESS" && fields["result_code"] != "FAIL" {
				t.Fatalf("*Error for a non-FAIL answer: %v", err)
			}
		case errors.Is(err, ErrSignatureMismatch), errors.Is(err, ErrMerchantMismatch), errors.Is(err, ErrMalformed):
		default:
			t.Fatalf("undocumented error: %v", err)
		}
		ntFuzzSecrets(t, err)
		if want := Sign(fields, ntKey, c.signType); fields["sign"] != want && strings.Contains(err.Error(), want) {
			t.Fatalf("error reveals the expected signature")
		}
	})
}

// ntAddVectorSeeds adds a vector's fields as a seed (in ntFieldLines form),
// and one more seed per edit with those fields overwritten. It returns the
// vector's fields.
func ntAddVectorSeeds(f *testing.F, vec []byte, edits ...map[string]string) map[string]string {
	f.Helper()
	fields, err := wire.Decode(vec, "xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ntFieldLines(fields))
	for _, edit := range edits {
		m := ntCopy(fields)
		maps.Copy(m, edit)
		f.Add(ntFieldLines(m))
	}
	return fields
}

// ntParseFailed reports whether a parser returned an error, failing t unless
// the error matches ErrMalformed and comes without a result.
func ntParseFailed[T any](t *testing.T, r *T, err error) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if r != nil {
		t.Fatalf("response and error both returned")
	}
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error does not match ErrMalformed: %v", err)
	}
	return true
}
