package wxrefund

// Tests for what the Client believes of the answers it receives: answers
// whose signed text could be regrouped, answers that contradict the request
// or themselves, notifications with impossible amounts, and the error model
// that reports all of it (code rules, configuration mistakes, nginx's
// certificate pages). Every answer here goes through a real mutual-TLS
// server (setup). Helpers carry the prefix tt.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ttRefundWithCoupon answers a refund of mtRefundReq (2000 of 5000 fen) that
// WeChat Pay split into 1800 cash and one 200 fen NO_CASH coupon.
func ttRefundWithCoupon(req map[string]string) map[string]string {
	f := mtRefundOK(req)
	f["settlement_refund_fee"] = "1800"
	f["cash_refund_fee"] = "1800"
	f["coupon_refund_fee"] = "200"
	f["coupon_refund_count"] = "1"
	f["coupon_type_0"] = CouponTypeNoCash
	f["coupon_refund_id_0"] = "20000000123"
	f["coupon_refund_fee_0"] = "200"
	return f
}

// ttRegroup folds field b into field a's value ("a=1&b=2" becomes a single a
// of "1&b=2"). When a and b are adjacent in the string-to-sign, that string,
// and so the signature, is unchanged.
func ttRegroup(f map[string]string, a, b string) map[string]string {
	out := ntCopy(f)
	out[a] += "&" + b + "=" + out[b]
	delete(out, b)
	return out
}

// ttUntrusted checks a Refund error for an answer that arrived but cannot be
// trusted: a *MessageError matching ErrMalformed, an unknown outcome, never
// an *Error (whose err_code a merchant would believe).
func ttUntrusted(t *testing.T, err error) {
	t.Helper()
	mtMessageStatus(http.StatusOK, ErrMalformed)(t, err)
	var e *Error
	assert.False(t, errors.As(err, &e), "an untrustworthy answer surfaced as an *Error: %v", err)
}

// The v2 string-to-sign escapes nothing, so moving one field's text into
// another keeps the signature valid. Each regrouped answer here still
// verifies, and the Client refuses it all the same.
func TestRegroupedAnswerIsRefused(t *testing.T) {
	t.Parallel()
	sysErr := mtSigned(mtBizFail(CodeSystemError, "系统超时"), SignTypeMD5)
	needRetry := mtSigned(mtBizFail(CodeBizErrNeedRetry, "退款业务流程错误，需要商户触发重试来解决"), SignTypeMD5)
	tests := []struct {
		name    string
		respond func(req map[string]string) map[string]string
	}{
		{
			// A signed SYSTEMERROR would become a final *Error with the
			// code "SYSTEMERROR&err_code_des=系统超时": a merchant who
			// believed it might refund again under a new number.
			name:    "SYSTEMERROR with err_code_des folded into err_code",
			respond: func(map[string]string) map[string]string { return ttRegroup(sysErr, "err_code", "err_code_des") },
		},
		{
			name:    "BIZERR_NEED_RETRY with err_code_des folded into err_code",
			respond: func(map[string]string) map[string]string { return ttRegroup(needRetry, "err_code", "err_code_des") },
		},
		{
			// Nothing but the regrouping rule catches this one: the
			// coupon's type moves into its id, every other check passes.
			name: "success with coupon_type_0 folded into coupon_refund_id_0",
			respond: func(req map[string]string) map[string]string {
				return ttRegroup(mtSigned(ttRefundWithCoupon(req), SignTypeMD5), "coupon_refund_id_0", "coupon_type_0")
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			var verified atomic.Bool
			mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
				f := tc.respond(mtReadRequest(t, r, SignTypeMD5).Fields)
				verified.Store(verifySign(f, mtAPIKey, SignTypeMD5) == nil)
				mtWriteFields(t, w, f)
			})
			resp, err := c.Refund(context.Background(), mtRefundReq())
			require.True(t, verified.Load(), "the regrouped answer's signature must still verify")
			assert.Nil(t, resp)
			ttUntrusted(t, err)
			assert.Contains(t, err.Error(), "could be another signed field")
		})
	}

	// The same for a query: refused, but a query changes nothing, so the
	// outcome is not "unknown" and asking again is fine.
	qc, qmux := setup(t)
	qmux.HandleFunc(pathRefundQuery, func(w http.ResponseWriter, r *http.Request) {
		mtReadRequest(t, r, SignTypeMD5)
		mtWriteFields(t, w, ttRegroup(mtSigned(mtQueryOK(), SignTypeMD5), "refund_recv_accout_0", "refund_status_0"))
	})
	_, err := qc.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
	require.ErrorIs(t, err, ErrMalformed)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.True(t, IsRetryable(err))
}

// The rule itself, on values: "&", a name-like token, "=".
func TestRegroupable(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{
		"":                          false,
		"SYSTEMERROR":               false,
		"a&b":                       false,
		"a=b":                       false,
		"a&=b":                      false, // no name between
		"a& b=c":                    false, // a space is in no name
		"R&D department":            false,
		"a&b=c":                     true,
		"SYSTEMERROR&err_code_des=": true,
		"x&&y=1":                    true,
		"x&商户=1":                    true, // non-ASCII names exist
		"x&a.b-c:d=1":               true,
		"https://e.com/?a=1&b=2":    true, // never in an answer; refused all the same
		"x&y&z":                     false,
		"1&2&3=4":                   true,
	} {
		assert.Equal(t, want, regroupable(v), "%q", v)
	}
}

// err_code is an upper-case identifier in every WeChat Pay answer; a signed
// answer with anything else there is not believed.
func TestErrCodeShape(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"systemerror", "SYSTEM ERROR", "SYSTEMERROR;", "1SYSTEMERROR", "系统错误", strings.Repeat("A", 65)} {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(pathRefund, mtAnswer(func(map[string]string) map[string]string {
				return mtSigned(mtBizFail(code, "x"), SignTypeMD5)
			})(t))
			_, err := c.Refund(context.Background(), mtRefundReq())
			ttUntrusted(t, err)
			assert.Contains(t, err.Error(), "err_code is not an upper-case identifier")
		})
	}
	for _, code := range []string{CodeSystemError, CodeBizErrNeedRetry, "A", "NEW_CODE_2"} {
		assert.True(t, isErrCode(code), code)
	}
}

// Every id and amount the request fixed comes back unchanged, refund_id is
// there, and the amounts add up; anything else is an unknown outcome, never
// success and never a final failure.
func TestRefundAnswerMustEchoTheRequest(t *testing.T) {
	t.Parallel()
	byTransaction := mtRefundReq()
	byTransaction.OutTradeNo, byTransaction.TransactionID = "", "4200001234202406011234567890"
	tests := []struct {
		name   string
		req    *RefundRequest // nil: mtRefundReq
		mutate func(f map[string]string)
	}{
		{name: "other refund_fee", mutate: func(f map[string]string) { f["refund_fee"] = "1000" }},
		{name: "negative refund_fee", mutate: func(f map[string]string) { f["refund_fee"] = "-2000" }},
		{name: "other total_fee", mutate: func(f map[string]string) { f["total_fee"] = "50000" }},
		{name: "other out_trade_no", mutate: func(f map[string]string) { f["out_trade_no"] = "ORD-SOMEONE-ELSE" }},
		{name: "no out_trade_no", mutate: func(f map[string]string) { delete(f, "out_trade_no") }},
		{name: "other transaction_id", req: byTransaction, mutate: func(f map[string]string) { f["transaction_id"] = "4200009999999999999999999999" }},
		{name: "other out_refund_no", mutate: func(f map[string]string) { f["out_refund_no"] = "RF-somebody-else" }},
		{name: "no refund_id", mutate: func(f map[string]string) { delete(f, "refund_id") }},
		{name: "negative cash_fee", mutate: func(f map[string]string) { f["cash_fee"] = "-1" }},
		{name: "cash_fee above total_fee", mutate: func(f map[string]string) { f["cash_fee"] = "5001" }},
		{name: "settlement_refund_fee above refund_fee", mutate: func(f map[string]string) { f["settlement_refund_fee"] = "2001" }},
		{name: "settlement_total_fee above total_fee", mutate: func(f map[string]string) { f["settlement_total_fee"] = "5001" }},
		{name: "coupon_refund_fee above refund_fee", mutate: func(f map[string]string) { f["coupon_refund_fee"] = "2001" }},
		{name: "cash and coupon do not add up", mutate: func(f map[string]string) { f["cash_refund_fee"] = "2000" }},
		{name: "coupons do not add up", mutate: func(f map[string]string) { f["coupon_refund_fee_0"] = "150" }},
		{name: "negative coupon", mutate: func(f map[string]string) { f["coupon_refund_fee_0"] = "-200" }},
		{name: "negative cash_refund_fee", mutate: func(f map[string]string) { f["cash_refund_fee"] = "-1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mtRefundHandler(t, mux, func(req map[string]string) map[string]string {
				f := ttRefundWithCoupon(req)
				tc.mutate(f)
				return f // signed by mtRefundHandler: WeChat Pay's signature is valid
			})
			req := tc.req
			if req == nil {
				req = mtRefundReq()
			}
			resp, err := c.Refund(context.Background(), req)
			assert.Nil(t, resp)
			ttUntrusted(t, err)
		})
	}

	// The unchanged answer, by either order id, is accepted.
	for _, req := range []*RefundRequest{mtRefundReq(), byTransaction} {
		c, mux := setup(t)
		mtRefundHandler(t, mux, ttRefundWithCoupon)
		resp, err := c.Refund(context.Background(), req)
		require.NoError(t, err)
		assert.Equal(t, []Coupon{{ID: "20000000123", Type: CouponTypeNoCash, Fee: 200}}, resp.Coupons)
		assert.Equal(t, int64(1800), resp.CashRefundFee)
	}
}

// A query answer must be about what was asked, and consistent.
func TestQueryAnswerMustAnswerTheQuestion(t *testing.T) {
	t.Parallel()
	byRefundNo := &QueryRefundRequest{OutRefundNo: "RF20240603000001"}
	tests := []struct {
		name   string
		req    *QueryRefundRequest // nil: mtSampleQuestion
		mutate func(f map[string]string)
	}{
		{name: "only another refund", req: byRefundNo, mutate: func(f map[string]string) { f["out_refund_no_0"] = "RF-other" }},
		{name: "refund_id not there", req: &QueryRefundRequest{RefundID: "50300000000000000000000000000"}, mutate: func(map[string]string) {}},
		{name: "another order by transaction_id", req: &QueryRefundRequest{TransactionID: "4200009999999999999999999999"}, mutate: func(map[string]string) {}},
		{name: "another order by out_trade_no", mutate: func(f map[string]string) { f["out_trade_no"] = "ORD-other" }},
		{name: "record without refund_id", mutate: func(f map[string]string) { delete(f, "refund_id_1") }},
		{name: "record without out_refund_no", mutate: func(f map[string]string) { f["out_refund_no_0"] = "" }},
		{name: "negative refund_fee_0", mutate: func(f map[string]string) { f["refund_fee_0"] = "-2000" }},
		{name: "refund larger than the order", mutate: func(f map[string]string) { f["refund_fee_1"] = "5001" }},
		{name: "negative total_fee", mutate: func(f map[string]string) { f["total_fee"] = "-5000" }},
		{name: "settlement above the refund", mutate: func(f map[string]string) { f["settlement_refund_fee_0"] = "2001" }},
		{name: "coupon part above the refund", mutate: func(f map[string]string) { f["coupon_refund_fee_1"] = "1001" }},
		{name: "coupons do not add up", mutate: func(f map[string]string) { f["coupon_refund_fee_0_0"] = "150" }},
		{name: "negative coupon", mutate: func(f map[string]string) { f["coupon_refund_fee_1_0"] = "-1" }},
		{name: "cash_fee above total_fee", mutate: func(f map[string]string) { f["cash_fee"] = "5001" }},
		{name: "more records than total_refund_count", mutate: func(f map[string]string) { f["total_refund_count"] = "1" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := tc.req
			if req == nil {
				req = mtSampleQuestion
			}
			resp, err := mtQueryAnswered(t, req, tc.mutate)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, ErrMalformed)
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, "refundquery", me.Op)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown, "a query changes nothing")
			assert.True(t, IsRetryable(err), "asking again is safe")
			assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), err.Error())
		})
	}

	// Each kind of question the sample does answer is accepted.
	for _, q := range ntQueryQuestions {
		resp, err := mtQueryAnswered(t, q, func(map[string]string) {})
		require.NoError(t, err, "%+v", q)
		assert.Len(t, resp.Refunds, 2)
	}
}

// Notifications with impossible amounts are refused, and the error says
// neither which field failed nor what it held.
func TestNotifyImpossibleContentIsRefused(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	tests := map[string]func(f map[string]string){
		"negative refund_fee":                 func(f map[string]string) { f["refund_fee"] = "-2000" },
		"refund_fee above total_fee":          func(f map[string]string) { f["refund_fee"] = "5001" },
		"negative total_fee":                  func(f map[string]string) { f["total_fee"] = "-5000" },
		"settlement_refund_fee above refund":  func(f map[string]string) { f["settlement_refund_fee"] = "2001" },
		"settlement_total_fee above total":    func(f map[string]string) { f["settlement_total_fee"] = "5001" },
		"negative settlement_refund_fee":      func(f map[string]string) { f["settlement_refund_fee"] = "-1" },
		"non-integer refund_fee":              func(f map[string]string) { f["refund_fee"] = "20.00" },
		"missing out_refund_no":               func(f map[string]string) { delete(f, "out_refund_no") },
		"bad success_time":                    func(f map[string]string) { f["success_time"] = "03/06/2024" },
		"regroupable text in refund_recv":     func(f map[string]string) { f["refund_recv_accout"] = "支付用户零钱&refund_status=SUCCESS" },
		"refund_status folded into refund_id": func(f map[string]string) { f["refund_id"] += "&refund_request_source=API" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			inner := ntInner()
			mutate(inner)
			n, err := c.DecryptNotify(ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner))
			assert.Nil(t, n)
			require.ErrorIs(t, err, ErrMalformed)
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, "notification", me.Op)
			assert.False(t, IsRetryable(err))
			for k, v := range inner {
				assert.NotContains(t, err.Error(), k, "the error names a decrypted field")
				if len(v) > 2 {
					assert.NotContains(t, err.Error(), v, "the error quotes a decrypted value")
				}
			}
			assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), err.Error())

			// NotifyHandler refuses it without calling fn.
			called := false
			rec := ntServe(c.NotifyHandler(func(context.Context, *RefundNotification) error {
				called = true
				return nil
			}), http.MethodPost, ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner))
			assert.Equal(t, http.StatusBadRequest, rec.Code)
			assert.False(t, called)
		})
	}
}

// A payment result notification posted to the refund handler is named.
func TestNotifyPaymentNotification(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	payment := map[string]string{
		"return_code": "SUCCESS", "appid": ntAppID, "mch_id": ntMchID, "nonce_str": "n",
		"result_code": "SUCCESS", "openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", "trade_type": "JSAPI",
		"bank_type": "CMC", "total_fee": "5000", "cash_fee": "5000",
		"transaction_id": "4200001234202406011234567890", "out_trade_no": "ORD20240601123456",
		"time_end": "20240601123456",
	}
	payment["sign"] = Sign(payment, ntKey, SignTypeMD5)
	body, err := mtEncode(payment)
	require.NoError(t, err)
	n, err := c.DecryptNotify(body)
	assert.Nil(t, n)
	require.ErrorIs(t, err, ErrPaymentNotification)
	var me *MessageError
	require.ErrorAs(t, err, &me)
	assert.Contains(t, err.Error(), "payment result notification")
	assert.NotContains(t, err.Error(), payment["sign"])
}

// One table, codeRules, decides for Refund and IsRetryable alike. Each code
// goes through a real server; unknown outcomes and resends follow the
// table, and codes outside it are final.
func TestCodeRulesDriveRefundAndRetry(t *testing.T) {
	t.Parallel()
	codes := []string{CodeTradeOverdue, CodeBusinessError, CodeUserAccountAbnormal, CodeInvalidTransactionID,
		CodeParamError, CodeOrderNotExist, CodeRequirePostMethod, CodeXMLFormatError, CodeInvalidRequest,
		CodeTradeStateError, CodeRefundNotExist, "SOMETHING_NEW"}
	for code := range codeRules {
		if isErrCode(code) { // not the bill download's numeric error_codes
			codes = append(codes, code)
		}
	}
	c, mux := setup(t)
	var code atomic.Value
	mux.HandleFunc(pathRefund, mtAnswer(func(map[string]string) map[string]string {
		return mtSigned(mtBizFail(code.Load().(string), "x"), SignTypeMD5)
	})(t))
	for _, cd := range codes {
		code.Store(cd)
		rule := codeRules[cd]
		_, err := c.Refund(context.Background(), mtRefundReq())
		assert.Equal(t, rule.unknown, errors.Is(err, ErrOutcomeUnknown), "%s: unknown outcome", cd)
		assert.Equal(t, rule.resend, IsRetryable(err), "%s: IsRetryable", cd)
		assert.Equal(t, cd, ErrorCode(err))
		if rule.config != nil {
			assert.ErrorIs(t, err, rule.config, cd)
			assert.ErrorIs(t, err, ErrInvalidConfig, cd)
		} else {
			assert.NotErrorIs(t, err, ErrInvalidConfig, cd)
		}
		assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "%s: %v", cd, err)
	}
}

// return_msg texts that name a configuration mistake are matchable and come
// with an English hint; the refund was not accepted, so none is unknown.
func TestConfigurationMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		returnMsg string
		want      error
		hint      string
	}{
		{"签名错误", ErrSignatureRejected, "API v2 key"},
		{"签名错误，请检查后再试", ErrSignatureRejected, "API v2 key"},
		{"证书验证失败", ErrCertificateRejected, "API certificate"},
		{"appid和mch_id不匹配", ErrInvalidConfig, "not bound"},
		{"商户号mch_id与appid不匹配", ErrInvalidConfig, "not bound"},
		{"mch_id参数格式错误", ErrInvalidConfig, "mchID"},
		{"appid参数长度有误", ErrInvalidConfig, "appID"},
	}
	for _, tc := range tests {
		t.Run(tc.returnMsg, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(pathRefund, mtRaw(200, "text/xml",
				"<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA["+tc.returnMsg+"]]></return_msg></xml>")(t))
			_, err := c.Refund(context.Background(), mtRefundReq())
			require.ErrorIs(t, err, tc.want)
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.ErrorIs(t, err, &Error{ReturnCode: "FAIL"})
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			assert.False(t, IsRetryable(err))
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Contains(t, e.Hint(), tc.hint)
			assert.Contains(t, err.Error(), tc.returnMsg)
			assert.Contains(t, err.Error(), tc.hint)
		})
	}
	// Other return_msg texts carry no hint and match no sentinel.
	e := &Error{ReturnCode: "FAIL", ReturnMsg: "invalid refund_fee"}
	assert.Empty(t, e.Hint())
	assert.NotErrorIs(t, e, ErrInvalidConfig)
	assert.Equal(t, "wxrefund: return_code FAIL: invalid refund_fee", e.Error())
}

// nginx's certificate pages were answered before any backend saw the
// request: a certificate error, not an unknown outcome. Any other non-200
// stays unknown.
func TestNginxCertificatePages(t *testing.T) {
	t.Parallel()
	page := func(title string) string {
		return "<html>\r\n<head><title>" + title + "</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n" +
			"<center>" + strings.TrimPrefix(title, "400 ") + "</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	}
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		certErr bool
	}{
		{"no certificate", 400, page("400 No required SSL certificate was sent"), true},
		{"certificate error", 400, page("400 The SSL certificate error"), true},
		{"other 400", 400, page("400 Bad Request"), false},
		{"certificate text with another status", 502, page("400 The SSL certificate error"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(pathRefund, mtRaw(tc.status, "text/html", tc.body)(t))
			_, err := c.Refund(context.Background(), mtRefundReq())
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, tc.status, me.StatusCode)
			if tc.certErr {
				assert.ErrorIs(t, err, ErrCertificateRejected)
				assert.NotErrorIs(t, err, ErrOutcomeUnknown)
				assert.False(t, IsRetryable(err))
				return
			}
			mtUnknown(ErrHTTPStatus)(t, err)
			assert.NotErrorIs(t, err, ErrCertificateRejected)
		})
	}
}

// Messages carry the "wxrefund:" prefix once, whatever they wrap.
func TestErrorPrefixOnce(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	_, decErr := c.DecryptNotify(ntEncryptNotify(t, "AnotherApiV2Key0123456789Abcdef0", ntAppID, ntMchID, ntInner()))
	require.ErrorIs(t, decErr, ErrDecrypt)
	_, merchErr := c.DecryptNotify(ntEncryptNotify(t, ntKey, "wx0000000000000000", ntMchID, ntInner()))
	require.ErrorIs(t, merchErr, ErrMerchantMismatch)
	_, sizeErr := c.DecryptNotify(make([]byte, 65<<10))
	require.ErrorIs(t, sizeErr, ErrBodyTooLarge)
	for _, err := range []error{
		decErr, merchErr, sizeErr,
		refundOutcome(&MessageError{Op: "refund", StatusCode: 200, Err: fmt.Errorf("%w: x", ErrMalformed)}),
		refundOutcome(&TransportError{Op: "refund", Err: fmt.Errorf("%w: %w", context.DeadlineExceeded, io.ErrUnexpectedEOF)}),
		refundOutcome(&Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: CodeSystemError}),
		&TransportError{Op: "refund", Err: context.Canceled, unsent: true},
	} {
		assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), err.Error())
	}
	assert.Equal(t, "wxrefund: notification: cannot decrypt req_info: bad PKCS#7 padding (most often a wrong API key)", decErr.Error())
}
