package wxrefund

import (
	"bytes"
	"errors"
	"maps"
	"sort"
	"strings"
	"testing"
)

// ntFuzzEnvelope wraps reqInfo in a valid outer notification, or returns nil
// when reqInfo is not text XML can carry.
func ntFuzzEnvelope(reqInfo string) []byte {
	b, err := mtEncode(map[string]string{
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
	if f, err := mtDecode(data, "xml"); err == nil {
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
		outer, err := mtDecode(body, "xml")
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
	f.Add(bytes.Replace(plain, []byte("<refund_fee><![CDATA[2000]]>"), []byte("<refund_fee><![CDATA[-2000]]>"), 1), byte(2))
	f.Add(bytes.Replace(plain, []byte("<refund_fee><![CDATA[2000]]>"), []byte("<refund_fee><![CDATA[9000]]>"), 1), byte(2))
	f.Add(bytes.Replace(plain, []byte("支付用户零钱"), []byte("x&refund_status=SUCCESS"), 1), byte(2))
	f.Add([]byte("<xml><return_code>SUCCESS</return_code><appid>"+ntAppID+"</appid><mch_id>"+ntMchID+
		"</mch_id><trade_type>JSAPI</trade_type></xml>"), byte(0))

	c, err := NewClient(ntAppID, ntMchID, ntKey)
	if err != nil {
		f.Fatal(err)
	}
	// What a decryptable body may be refused with: texts fixed in advance,
	// so none can carry a decrypted field name or value.
	redacted := map[string]bool{}
	for _, tail := range []string{
		"decrypted content is not a flat XML document",
		"decrypted content holds text that could be another field",
		"decrypted content: a field " + kindMalformed,
		"decrypted content: a field " + kindMissing,
		"decrypted content: a field " + kindRule,
	} {
		redacted["wxrefund: notification: malformed message: "+tail] = true
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
			var me *MessageError
			switch {
			case errors.As(err, &e):
			case errors.As(err, &me) && me.Op == "notification" && (errors.Is(err, ErrDecrypt) || errors.Is(err, ErrMalformed) ||
				errors.Is(err, ErrMerchantMismatch) || errors.Is(err, ErrBodyTooLarge) || errors.Is(err, ErrPaymentNotification)):
			default:
				t.Fatalf("undocumented error: %v", err)
			}
			if mode%3 == 2 && !redacted[err.Error()] {
				t.Fatalf("error about decrypted content is not one of the fixed texts: %v", err)
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
		if n.RefundFee < 0 || n.RefundFee > n.TotalFee || n.SettlementRefundFee < 0 || n.SettlementRefundFee > n.RefundFee ||
			n.SettlementTotalFee < 0 || n.SettlementTotalFee > n.TotalFee {
			t.Fatalf("accepted impossible amounts: %+v", n)
		}
		if _, ok := checkUnambiguous(mtFieldList(n.Raw)); !ok {
			t.Fatalf("accepted regroupable content")
		}
	})
}

// ntQueryQuestions are the four kinds of question the refund query sample
// (refundquery_response_9_3.xml) answers.
var ntQueryQuestions = []*QueryRefundRequest{
	{OutTradeNo: "ORD20240601123456"},
	{TransactionID: "4200001234202406011234567890"},
	{OutRefundNo: "RF20240604000002"},
	{RefundID: "50300012345202406031234567890"},
}

// FuzzParseQueryResponse: parseQueryResponse never panics on any field map,
// what it builds is bounded by the fields it was given (a hostile count
// never sizes an allocation), and what it accepts answers the question and
// is consistent: the asked identifier is there, every record has both ids,
// no amount is negative and no part exceeds its whole.
func FuzzParseQueryResponse(f *testing.F) {
	vec := ntReadVector(f, "refundquery_response_9_3.xml")
	f.Add(vec, byte(0))
	for _, seed := range ntVectorSeeds(f, vec,
		map[string]string{"refund_count": "1000000000"},
		map[string]string{"refund_count": "-1"},
		map[string]string{"refund_count": "45"},
		map[string]string{"coupon_refund_count_0": "9223372036854775807"},
		map[string]string{"coupon_refund_count_1": "44"},
		map[string]string{"total_refund_count": "-3"},
		map[string]string{"refund_success_time_0": "2024-02-30 10:15:42"},
		map[string]string{"refund_fee_0": "99999999999999999999"},
		map[string]string{"refund_fee_0": "-2000"},
		map[string]string{"refund_fee_1": "5001"},
		map[string]string{"refund_id_1": ""},
		map[string]string{"out_trade_no": "ORD-OTHER"},
		map[string]string{"coupon_refund_fee_0_0": "9223372036854775807"},
	) {
		for ask := range ntQueryQuestions {
			f.Add(seed, byte(ask))
		}
	}
	f.Add([]byte("refund_count=2\nout_refund_no_0=a\nout_refund_no_1=b\ncoupon_refund_count_1=1\ncoupon_type_1_0=CASH"), byte(0))
	f.Add([]byte("refund_count=2\nout_refund_no_10=a\nrefund_id_11=b\ncoupon_refund_count_11=1\ncoupon_type_11_0=CASH"), byte(0))
	f.Add([]byte("refund_count=1\nout_refund_no_007=a\nrefund_id_999999=b\nout_refund_no_1000000=c"), byte(0))
	f.Add([]byte(""), byte(0))

	f.Fuzz(func(t *testing.T, data []byte, ask byte) {
		fields := ntFuzzFields(data)
		q := ntQueryQuestions[int(ask)%len(ntQueryQuestions)]
		r, err := parseQueryResponse(fields, q)
		if ntParseFailed(t, r, err) {
			return
		}
		if len(r.Refunds) > len(fields) {
			t.Fatalf("%d refunds from %d fields", len(r.Refunds), len(fields))
		}
		coupons, asked := 0, false
		for _, rec := range r.Refunds {
			coupons += len(rec.Coupons)
			if rec.OutRefundNo == "" || rec.RefundID == "" {
				t.Fatalf("record without identifiers")
			}
			asked = asked || rec.OutRefundNo == q.OutRefundNo || rec.RefundID == q.RefundID
			if rec.RefundFee < 0 || rec.RefundFee > r.TotalFee || rec.SettlementRefundFee > rec.RefundFee ||
				rec.SettlementRefundFee < 0 || rec.CouponRefundFee < 0 || rec.CouponRefundFee > rec.RefundFee {
				t.Fatalf("inconsistent record accepted: %+v of an order of %d", rec, r.TotalFee)
			}
			for _, c := range rec.Coupons {
				if c.Fee < 0 {
					t.Fatalf("negative coupon accepted")
				}
			}
		}
		asked = asked || r.OutTradeNo == q.OutTradeNo || r.TransactionID == q.TransactionID
		if !asked {
			t.Fatalf("accepted an answer to another question (%+v)", q)
		}
		if coupons > len(fields) {
			t.Fatalf("%d coupons from %d fields", coupons, len(fields))
		}
		if r.TotalRefundCount < 0 || r.TotalFee < 0 || r.CashFee < 0 || r.SettlementTotalFee < 0 {
			t.Fatalf("negative amount accepted")
		}
	})
}

// ntRefundRequest is the request that refund_response_9_2.xml answers.
func ntRefundRequest() *RefundRequest {
	return &RefundRequest{OutTradeNo: "ORD20240601123456", OutRefundNo: "RF20240603000001", TotalFee: 5000, RefundFee: 2000}
}

// FuzzParseRefundResponse: parseRefundResponse never panics, returns a
// response or an ErrMalformed error, never builds more coupons than the
// message has fields, and accepts only an answer that echoes the request's
// ids and amounts, has a refund_id and adds up.
func FuzzParseRefundResponse(f *testing.F) {
	for _, seed := range ntVectorSeeds(f, ntReadVector(f, "refund_response_9_2.xml"),
		map[string]string{"coupon_refund_count": "1000000000"},
		map[string]string{"coupon_refund_count": "-1"},
		map[string]string{"coupon_refund_count": "3"},
		map[string]string{"coupon_refund_fee_0": "9223372036854775808"},
		map[string]string{"refund_fee": "20.00"},
		map[string]string{"refund_fee": "-2000"},
		map[string]string{"total_fee": "50000"},
		map[string]string{"out_refund_no": "OTHER"},
		map[string]string{"out_trade_no": "ORD-OTHER"},
		map[string]string{"refund_id": ""},
		map[string]string{"cash_refund_fee": "2000"},
		map[string]string{"coupon_refund_fee_0": "100"},
	) {
		f.Add(seed)
	}
	req := ntRefundRequest()
	f.Add([]byte("out_refund_no=" + req.OutRefundNo + "\ncoupon_refund_count=1\ncoupon_type_0=CASH"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		fields := ntFuzzFields(data)
		r, err := parseRefundResponse(fields, req)
		if ntParseFailed(t, r, err) {
			return
		}
		if r.OutRefundNo != req.OutRefundNo || r.OutTradeNo != req.OutTradeNo || r.RefundFee != req.RefundFee ||
			r.TotalFee != req.TotalFee || r.RefundID == "" {
			t.Fatalf("accepted an answer that does not echo the request: %+v", r)
		}
		if r.CouponRefundFee < 0 || r.CouponRefundFee > r.RefundFee || r.CashRefundFee < 0 ||
			r.SettlementRefundFee < 0 || r.SettlementRefundFee > r.RefundFee || r.CashFee < 0 || r.CashFee > r.TotalFee {
			t.Fatalf("inconsistent amounts accepted: %+v", r)
		}
		if len(r.Coupons) > len(fields) {
			t.Fatalf("%d coupons from %d fields", len(r.Coupons), len(fields))
		}
	})
}

// FuzzCheckAnswer: checkAnswer never panics, and accepts only a signed,
// unambiguous SUCCESS/SUCCESS answer for this merchant; an *Error only for
// return_code FAIL or a signed result_code FAIL with a well-formed err_code.
// With resign set the map is signed first, so the fuzzer also reaches the
// checks after the signature.
func FuzzCheckAnswer(f *testing.F) {
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
	f.Add([]byte("return_code=SUCCESS\nappid="+ntAppID+"\nmch_id="+ntMchID+"\nresult_code=FAIL\nerr_code=SYSTEMERROR&err_code_des=x"), true, false)
	f.Add([]byte("return_code=SUCCESS\nappid="+ntAppID+"\nmch_id="+ntMchID+"\nresult_code=FAIL\nerr_code=not a code"), true, false)
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
		_, err := c.checkAnswer("refundquery", mtFieldList(fields))
		if err == nil {
			if fields["return_code"] != "SUCCESS" || fields["result_code"] != "SUCCESS" ||
				fields["appid"] != ntAppID || fields["mch_id"] != ntMchID {
				t.Fatalf("accepted %v", fields)
			}
			if verifySign(fields, ntKey, c.signType) != nil {
				t.Fatalf("accepted an unsigned or wrongly signed answer")
			}
			if _, ok := checkUnambiguous(mtFieldList(fields)); !ok {
				t.Fatalf("accepted a regroupable answer")
			}
			return
		}
		var e *Error
		var me *MessageError
		switch {
		case errors.As(err, &e):
			if fields["return_code"] == "SUCCESS" && fields["result_code"] != "FAIL" {
				t.Fatalf("*Error for a non-FAIL answer: %v", err)
			}
			if e.ErrCode != "" && !isErrCode(e.ErrCode) {
				t.Fatalf("*Error with a malformed err_code")
			}
		case errors.As(err, &me) && (errors.Is(err, ErrSignatureMismatch) || errors.Is(err, ErrMerchantMismatch) ||
			errors.Is(err, ErrMalformed)):
		default:
			t.Fatalf("undocumented error: %v", err)
		}
		ntFuzzSecrets(t, err)
		if want := Sign(fields, ntKey, c.signType); fields["sign"] != want && strings.Contains(err.Error(), want) {
			t.Fatalf("error reveals the expected signature")
		}
	})
}

// FuzzSignedAnswerMutation: whatever is done to the bytes of a signed
// answer without the key (regrouping fields, moving text between them,
// adding or dropping elements), the Client never believes anything but the
// answer that was signed. The body goes through the same path as a real
// answer (readAnswer, checkAnswer, parseRefundResponse); whenever it is
// accepted, as a refund or as an *Error, its non-empty fields are exactly
// those of the signed original (CDATA or not, white space, comments and
// empty elements may differ; nothing else can).
func FuzzSignedAnswerMutation(f *testing.F) {
	req := ntRefundRequest()
	okFields, err := mtDecode(ntReadVector(f, "refund_response_9_2.xml"), "xml")
	if err != nil {
		f.Fatal(err)
	}
	failFields := map[string]string{
		"return_code": "SUCCESS", "return_msg": "OK", "appid": ntAppID, "mch_id": ntMchID,
		"nonce_str": "q5Rm0uYcWzE3nB7h", "result_code": "FAIL", "err_code": CodeSystemError, "err_code_des": "系统超时",
	}
	failFields["sign"] = Sign(failFields, ntKey, SignTypeMD5)
	for _, fields := range []map[string]string{okFields, failFields} {
		body, err := mtEncode(fields)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		for _, regrouped := range ntRegroupings(fields) {
			if b, err := mtEncode(regrouped); err == nil {
				f.Add(b)
			}
		}
	}
	c, err := NewClient(ntAppID, ntMchID, ntKey)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		list, err := readAnswer("refund", 200, body)
		var fields map[string]string
		if err == nil {
			fields = list.toMap()
			_, err = c.checkAnswer("refund", list)
		}
		var e *Error
		switch {
		case err == nil:
			r, perr := parseRefundResponse(fields, req)
			if perr != nil {
				return
			}
			if !maps.Equal(ntNonEmpty(fields), ntNonEmpty(okFields)) || r.RefundFee != req.RefundFee {
				t.Fatalf("believed a refund that was not signed: %v", fields)
			}
		case errors.As(err, &e) && e.ReturnCode == "SUCCESS":
			if !maps.Equal(ntNonEmpty(fields), ntNonEmpty(failFields)) {
				t.Fatalf("believed a business failure that was not signed: %v", fields)
			}
		}
	})
}

// ntRegroupings returns, for each pair of fields adjacent in the
// string-to-sign, the message with the second folded into the first's value
// ("a=1&b=2" as a single a of "1&b=2"): the same string-to-sign, so the
// signature still verifies.
func ntRegroupings(fields map[string]string) []map[string]string {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []map[string]string
	for i := 0; i+1 < len(keys); i++ {
		m := ntCopy(fields)
		m[keys[i]] += "&" + keys[i+1] + "=" + m[keys[i+1]]
		delete(m, keys[i+1])
		out = append(out, m)
	}
	return out
}

// ntNonEmpty returns the fields with a non-empty value: those the signature
// covers, plus sign.
func ntNonEmpty(fields map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range fields {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// ntVectorSeeds returns a vector's fields as a seed (in ntFieldLines form),
// and one more seed per edit with those fields overwritten.
func ntVectorSeeds(f *testing.F, vec []byte, edits ...map[string]string) [][]byte {
	f.Helper()
	fields, err := mtDecode(vec, "xml")
	if err != nil {
		f.Fatal(err)
	}
	seeds := [][]byte{ntFieldLines(fields)}
	for _, edit := range edits {
		m := ntCopy(fields)
		maps.Copy(m, edit)
		seeds = append(seeds, ntFieldLines(m))
	}
	return seeds
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
