package wxrefund

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The request and response of testdata/vectors (refund_request_9_1.xml,
// refund_response_9_2.xml).
const mtNonce91 = "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"

func TestRefundGoldenRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		st     SignType
		golden string
		sign   string
		keys   []string
	}{
		{
			name: "MD5", st: SignTypeMD5, golden: "refund_request_9_1_md5.xml",
			sign: "F6D21A6A2156D461B557F665B8D98017",
			keys: []string{"appid", "mch_id", "nonce_str", "notify_url", "out_refund_no", "out_trade_no",
				"refund_desc", "refund_fee", "sign", "total_fee"},
		},
		{
			name: "HMAC-SHA256", st: SignTypeHMACSHA256, golden: "refund_request_9_1_hmac_sha256.xml",
			sign: "534EB7CFF8C0F5B47BC65754CF5106A7F6B18DFD7EC17F1454E20C49B73E3AD7",
			keys: []string{"appid", "mch_id", "nonce_str", "notify_url", "out_refund_no", "out_trade_no",
				"refund_desc", "refund_fee", "sign", "sign_type", "total_fee"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithSignType(tc.st))
			c.nonce = func() string { return mtNonce91 }
			reqs := mtHandle(t, mux, pathRefund, tc.st, mtRefundOK)

			resp, err := c.Refund(context.Background(), mtRefundReq())
			require.NoError(t, err)
			assert.Equal(t, "RF20240603000001", resp.OutRefundNo)

			got := mtReceive(t, reqs)
			assert.Equal(t, http.MethodPost, got.Method)
			assert.Equal(t, "/secapi/pay/refund", got.Path)
			assert.True(t, strings.HasPrefix(got.ContentType, "text/xml"), "Content-Type %q", got.ContentType)
			assert.Equal(t, tc.sign, got.Fields["sign"])
			keys := make([]string, 0, len(got.Fields))
			for k := range got.Fields {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			assert.Equal(t, tc.keys, keys)
			assert.Equal(t, "商品缺货", got.Fields["refund_desc"])
			assert.Equal(t, mtNonce91, got.Fields["nonce_str"])
			mtGolden(t, tc.golden, got.Body)
		})
	}
}

// The committed sample refund request (testdata/vectors) and the request the Client sends
// for the same parameters carry the same fields.
func TestRefundRequestMatchesSpecSample(t *testing.T) {
	t.Parallel()
	want, err := mtDecode(mtReadVector(t, "refund_request_9_1.xml"), "xml")
	require.NoError(t, err)
	c, mux := setup(t)
	c.nonce = func() string { return mtNonce91 }
	reqs := mtRefundHandler(t, mux, mtRefundOK)
	_, err = c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.Equal(t, want, mtReceive(t, reqs).Fields)
}

func TestRefundSpecSampleResponse(t *testing.T) {
	t.Parallel()
	sample := mtReadVector(t, "refund_response_9_2.xml")
	c, mux := setup(t)
	reqs := make(chan mtRequest, 1)
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		reqs <- mtReadRequest(t, r, SignTypeMD5)
		mtWriteXML(w, sample)
	})

	got, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	mtReceive(t, reqs)

	raw, err := mtDecode(sample, "xml")
	require.NoError(t, err)
	want := &RefundResponse{
		TransactionID:       "4200001234202406011234567890",
		OutTradeNo:          "ORD20240601123456",
		OutRefundNo:         "RF20240603000001",
		RefundID:            "50300012345202406031234567890",
		RefundChannel:       "",
		TotalFee:            5000,
		RefundFee:           2000,
		SettlementTotalFee:  4500,
		SettlementRefundFee: 1800,
		CashFee:             4500,
		CashRefundFee:       1800,
		CouponRefundFee:     200,
		FeeType:             "CNY",
		CashFeeType:         "CNY",
		Coupons:             []Coupon{{ID: "20000000123", Type: CouponTypeNoCash, Fee: 200}},
		Raw:                 raw,
	}
	assert.Equal(t, want, got)
	assert.Equal(t, "4B21E919DCC71A037D3CD043F6DEFD44", got.Raw["sign"])
}

func TestRefundExtraFieldIsSignedAndAccepted(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		f := mtRefundOK(mtReadRequest(t, r, SignTypeMD5).Fields)
		f["brand_new_field"] = "added by WeChat Pay later"
		f["refund_channel"] = "" // empty fields are left out of the signature
		mtWriteResponse(t, w, f)
	})
	resp, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.Equal(t, "added by WeChat Pay later", resp.Raw["brand_new_field"])
	assert.Equal(t, int64(2000), resp.RefundFee)
	assert.Equal(t, int64(5000), resp.TotalFee)
	assert.Nil(t, resp.Coupons)
}

// mtResponseCase describes one server answer and what Refund must make of it.
type mtResponseCase struct {
	name    string
	handler func(t *testing.T) http.HandlerFunc
	check   func(t *testing.T, err error)
}

// mtAnswer answers with respond(request fields) exactly as returned (the
// function signs what it wants signed).
// mtRefundOKWith answers a successful refund for the request, changed by
// mutate before it is signed.
func mtRefundOKWith(mutate func(f map[string]string)) func(t *testing.T) http.HandlerFunc {
	return mtAnswer(func(req map[string]string) map[string]string {
		f := mtRefundOK(req)
		mutate(f)
		return mtSigned(f, SignTypeMD5)
	})
}

func mtAnswer(respond func(req map[string]string) map[string]string) func(t *testing.T) http.HandlerFunc {
	return func(t *testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			mtWriteFields(t, w, respond(mtReadRequest(t, r, SignTypeMD5).Fields))
		}
	}
}

// mtRaw answers with status and body.
func mtRaw(status int, contentType, body string) func(t *testing.T) http.HandlerFunc {
	return func(*testing.T) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
}

// mtUnknown checks the errors after which the refund may have been accepted.
func mtUnknown(sentinels ...error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrOutcomeUnknown)
		for _, s := range sentinels {
			assert.ErrorIs(t, err, s)
		}
		assert.True(t, IsRetryable(err), "an unknown outcome is retried with the same out_refund_no")
		assert.Contains(t, err.Error(), "out_refund_no", "the message says what to do")
	}
}

// mtTransportStatus checks an unknown outcome after which no usable answer
// arrived: a *TransportError with this HTTP status (0: none).
func mtTransportStatus(status int, sentinels ...error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		mtUnknown(sentinels...)(t, err)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, status, te.StatusCode)
		assert.Equal(t, "refund", te.Op)
		var me *MessageError
		assert.False(t, errors.As(err, &me), "one answer, one type")
	}
}

// mtMessageStatus checks an unknown outcome after an answer that arrived
// but cannot be read or trusted: a *MessageError with this HTTP status.
func mtMessageStatus(status int, sentinels ...error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		mtUnknown(sentinels...)(t, err)
		var me *MessageError
		require.ErrorAs(t, err, &me)
		assert.Equal(t, status, me.StatusCode)
		assert.Equal(t, "refund", me.Op)
		var te *TransportError
		assert.False(t, errors.As(err, &te), "one answer, one type")
		assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "the prefix appears once: %v", err)
	}
}

func TestRefundResponses(t *testing.T) {
	t.Parallel()
	signed := func(f map[string]string) map[string]string { return mtSigned(f, SignTypeMD5) }
	tests := []mtResponseCase{
		{
			name: "NOTENOUGH",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeNotEnough, "基本账户余额不足，请充值后重新发起"))
			}),
			check: func(t *testing.T, err error) {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, &Error{ReturnCode: "SUCCESS", ReturnMsg: "OK", ResultCode: "FAIL",
					ErrCode: CodeNotEnough, ErrCodeDes: "基本账户余额不足，请充值后重新发起"}, e)
				assert.False(t, e.Retryable())
				assert.False(t, IsRetryable(err), "a top-up comes first")
				assert.ErrorIs(t, err, &Error{ErrCode: CodeNotEnough})
				assert.NotErrorIs(t, err, &Error{ErrCode: CodeSystemError})
				// Pending, to be resent with the same number once funded.
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.NotErrorIs(t, err, ErrSignatureMismatch)
				assert.Equal(t, CodeNotEnough, ErrorCode(err))
				assert.Contains(t, err.Error(), "NOTENOUGH")
			},
		},
		{
			name: "TRADE_OVERDUE",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeTradeOverdue, "订单已经超过退款期限"))
			}),
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, &Error{ErrCode: CodeTradeOverdue})
				assert.NotErrorIs(t, err, ErrOutcomeUnknown)
				assert.False(t, IsRetryable(err))
			},
		},
		{
			name: "SYSTEMERROR",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeSystemError, "系统超时"))
			}),
			check: func(t *testing.T, err error) {
				mtUnknown(&Error{ErrCode: CodeSystemError})(t, err)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, CodeSystemError, e.ErrCode)
				assert.True(t, e.Retryable())
				assert.Equal(t, CodeSystemError, ErrorCode(err))
			},
		},
		{
			name: "BIZERR_NEED_RETRY",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeBizErrNeedRetry, "退款业务流程错误，需要商户触发重试来解决"))
			}),
			check: func(t *testing.T, err error) {
				// WeChat Pay asks for a retry: never mark the refund failed.
				mtUnknown(&Error{ErrCode: CodeBizErrNeedRetry})(t, err)
				assert.True(t, IsRetryable(err))
			},
		},
		{
			name: "ORDER_NOT_READY",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeOrderNotReady, "订单处理中，暂时无法退款，请您稍后重试"))
			}),
			check: mtUnknown(&Error{ErrCode: CodeOrderNotReady}),
		},
		{
			name: "FREQUENCY_LIMITED",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeFrequencyLimited, "2个月之前的订单申请退款有频率限制"))
			}),
			// Not accepted, but pending: an earlier attempt
			// with this number may have gone through.
			check: mtUnknown(&Error{ErrCode: CodeFrequencyLimited}),
		},
		{
			name: "INVALID_REQ_TOO_MUCH",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeInvalidReqTooMuch, "无效请求过多"))
			}),
			check: mtUnknown(&Error{ErrCode: CodeInvalidReqTooMuch}),
		},
		{
			name: "REFUND_FEE_MISMATCH",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return signed(mtBizFail(CodeRefundFeeMismatch, "订单金额或退款金额与之前请求不一致"))
			}),
			check: func(t *testing.T, err error) {
				// A refund exists under this number with other amounts:
				// it must not read as a failed refund; query it.
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.ErrorIs(t, err, &Error{ErrCode: CodeRefundFeeMismatch})
				assert.False(t, IsRetryable(err), "resending the same request cannot help")
			},
		},
		{
			name: "return_code that is neither SUCCESS nor FAIL",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return map[string]string{"return_code": "SYSTEM_BUSY", "return_msg": "try later"}
			}),
			check: func(t *testing.T, err error) {
				mtUnknown(ErrMalformed)(t, err)
				var e *Error
				assert.False(t, errors.As(err, &e), "not a WeChat Pay answer")
			},
		},
		{
			name: "return_code FAIL unsigned",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return map[string]string{"return_code": "FAIL", "return_msg": "invalid refund_fee"}
			}),
			check: func(t *testing.T, err error) {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "FAIL", e.ReturnCode)
				assert.Equal(t, "invalid refund_fee", e.ReturnMsg)
				assert.Empty(t, e.ErrCode)
				assert.ErrorIs(t, err, &Error{ReturnCode: "FAIL"})
				assert.NotErrorIs(t, err, ErrSignatureMismatch)
				assert.NotErrorIs(t, err, ErrOutcomeUnknown)
				assert.False(t, IsRetryable(err))
				assert.Contains(t, err.Error(), "invalid refund_fee")
			},
		},
		{
			name: "return_code FAIL with a bogus sign is not verified",
			handler: mtAnswer(func(map[string]string) map[string]string {
				return map[string]string{"return_code": "FAIL", "return_msg": "签名错误", "sign": "BOGUS"}
			}),
			check: func(t *testing.T, err error) {
				assert.ErrorIs(t, err, &Error{ReturnCode: "FAIL"})
				assert.NotErrorIs(t, err, ErrSignatureMismatch)
			},
		},
		{
			name: "tampered field, sign kept",
			handler: mtAnswer(func(req map[string]string) map[string]string {
				f := signed(mtRefundOK(req))
				f["refund_fee"] = "5000"
				return f
			}),
			check: mtUnknown(ErrSignatureMismatch),
		},
		{
			name: "tampered business failure, sign kept",
			handler: mtAnswer(func(map[string]string) map[string]string {
				f := signed(mtBizFail(CodeSystemError, "系统超时"))
				f["err_code"] = CodeTradeOverdue
				return f
			}),
			check: func(t *testing.T, err error) {
				mtUnknown(ErrSignatureMismatch)(t, err)
				assert.NotErrorIs(t, err, &Error{ErrCode: CodeTradeOverdue}, "an unverified err_code is trusted")
			},
		},
		{
			name: "missing sign",
			handler: mtAnswer(func(req map[string]string) map[string]string {
				return mtRefundOK(req) // never signed
			}),
			check: mtUnknown(ErrSignatureMismatch),
		},
		{
			name: "empty sign",
			handler: mtAnswer(func(req map[string]string) map[string]string {
				f := mtRefundOK(req)
				f["sign"] = ""
				return f
			}),
			check: mtUnknown(ErrSignatureMismatch),
		},
		{
			name: "signed with another key",
			handler: mtAnswer(func(req map[string]string) map[string]string {
				f := mtRefundOK(req)
				f["sign"] = Sign(f, strings.Repeat("k", 32), SignTypeMD5)
				return f
			}),
			check: mtUnknown(ErrSignatureMismatch),
		},
		{
			name: "lowercase sign",
			handler: mtAnswer(func(req map[string]string) map[string]string {
				f := signed(mtRefundOK(req))
				f["sign"] = strings.ToLower(f["sign"])
				return f
			}),
			check: mtUnknown(ErrSignatureMismatch),
		},
		{
			name: "wrong appid echo",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["appid"] = "wx9999999999999999"
			}),
			check: func(t *testing.T, err error) {
				mtUnknown(ErrMerchantMismatch)(t, err)
				assert.NotErrorIs(t, err, ErrSignatureMismatch)
			},
		},
		{
			name: "wrong mch_id echo",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["mch_id"] = "1900000110"
			}),
			check: mtUnknown(ErrMerchantMismatch),
		},
		{
			name: "missing appid",
			handler: mtRefundOKWith(func(f map[string]string) {
				delete(f, "appid")
			}),
			check: mtUnknown(ErrMerchantMismatch),
		},
		{
			name: "out_refund_no not echoed",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["out_refund_no"] = "RF-somebody-else"
			}),
			check: mtUnknown(ErrMalformed),
		},
		{
			name: "non-integer refund_fee",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["refund_fee"] = "20.00"
			}),
			check: mtMessageStatus(http.StatusOK, ErrMalformed),
		},
		{
			name: "coupon count beyond the body",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["coupon_refund_count"] = "1000000"
			}),
			check: mtUnknown(ErrMalformed),
		},
		{
			name: "coupon count one too many",
			handler: mtRefundOKWith(func(f map[string]string) {
				f["coupon_refund_count"] = "2"
				f["coupon_type_0"], f["coupon_refund_id_0"], f["coupon_refund_fee_0"] = "CASH", "1", "10"
			}),
			check: mtUnknown(ErrMalformed),
		},
		{
			name: "result_code missing",
			handler: mtRefundOKWith(func(f map[string]string) {
				delete(f, "result_code")
			}),
			check: mtUnknown(ErrMalformed),
		},
		{
			name: "return_code missing",
			handler: mtRefundOKWith(func(f map[string]string) {
				delete(f, "return_code")
			}),
			check: mtUnknown(ErrMalformed),
		},
		{
			name: "connection closed without an answer",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					conn, _, err := http.NewResponseController(w).Hijack()
					if assert.NoError(t, err) {
						_ = conn.Close()
					}
				}
			},
			check: mtTransportStatus(0),
		},
		{
			name: "connection closed mid-body",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.Copy(io.Discard, r.Body)
					conn, buf, err := http.NewResponseController(w).Hijack()
					if assert.NoError(t, err) {
						// The client's error, checked below, shows what arrived.
						_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 500\r\n\r\n<xml><return_code>SUCC")
						_ = buf.Flush()
						_ = conn.Close()
					}
				}
			},
			check: func(t *testing.T, err error) {
				mtTransportStatus(200)(t, err)
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			},
		},
		{name: "HTTP 500", handler: mtRaw(500, "text/plain", "internal error"), check: mtMessageStatus(500, ErrHTTPStatus)},
		{
			name:    "HTTP 502 HTML",
			handler: mtRaw(502, "text/html", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"),
			check: func(t *testing.T, err error) {
				mtMessageStatus(502, ErrHTTPStatus)(t, err)
				assert.Contains(t, err.Error(), "502 Bad Gateway")
			},
		},
		{
			name:    "HTTP 503 with signed XML",
			handler: mtRaw(503, "text/xml", "<xml><return_code>SUCCESS</return_code></xml>"),
			check:   mtMessageStatus(503, ErrHTTPStatus),
		},
		{name: "non-XML body", handler: mtRaw(200, "text/plain", "hello, world"), check: mtMessageStatus(200, ErrMalformed)},
		{name: "empty body", handler: mtRaw(200, "text/xml", ""), check: mtMessageStatus(200, ErrMalformed)},
		{name: "JSON body", handler: mtRaw(200, "application/json", `{"return_code":"SUCCESS"}`), check: mtUnknown(ErrMalformed)},
		{
			name: "DOCTYPE",
			handler: mtRaw(200, "text/xml", `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>`+
				`<xml><return_code>SUCCESS</return_code><return_msg>&x;</return_msg></xml>`),
			check: mtUnknown(ErrMalformed),
		},
		{
			name:    "wrong root element",
			handler: mtRaw(200, "text/xml", `<root><return_code>FAIL</return_code></root>`),
			check:   mtUnknown(ErrMalformed),
		},
		{
			name: "body over 64 KiB",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					f := mtSigned(mtRefundOK(mtReadRequest(t, r, SignTypeMD5).Fields), SignTypeMD5)
					f["padding"] = strings.Repeat("x", maxBody)
					mtWriteFields(t, w, f)
				}
			},
			check: func(t *testing.T, err error) {
				mtMessageStatus(200, ErrBodyTooLarge)(t, err)
				assert.NotErrorIs(t, err, ErrMalformed)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(pathRefund, tc.handler(t))
			resp, err := c.Refund(context.Background(), mtRefundReq())
			require.Error(t, err)
			assert.Nil(t, resp)
			tc.check(t, err)
			assert.NotContains(t, err.Error(), mtAPIKey)
		})
	}
}

// A body of exactly the limit is still read.
func TestRefundBodyAtLimit(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	sizes := make(chan int, 1)
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		f := mtRefundOK(mtReadRequest(t, r, SignTypeMD5).Fields)
		f["padding"] = "x"
		body, err := mtEncode(mtSigned(f, SignTypeMD5))
		assert.NoError(t, err)
		f["padding"] = strings.Repeat("x", 1+maxBody-len(body))
		body, err = mtEncode(mtSigned(f, SignTypeMD5))
		assert.NoError(t, err)
		sizes <- len(body)
		mtWriteXML(w, body)
	})
	resp, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.Equal(t, maxBody, <-sizes)
	assert.NotEmpty(t, resp.Raw["padding"])
}

func TestRefundNginx400WithoutCertificate(t *testing.T) {
	t.Parallel()
	td := mtTestdata(t)
	s, hits := mtNginxServer(t)
	reqs := mtRefundHandler(t, s.mux, mtRefundOK)

	// A certificate the server's CAs did not issue is not offered, so the
	// request arrives without one, as when a proxy strips it.
	c := mtNewClient(t, s, WithPEM(td.certPEM, td.keyPEM))
	_, err := c.Refund(context.Background(), mtRefundReq())
	var me *MessageError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, http.StatusBadRequest, me.StatusCode)
	assert.Contains(t, err.Error(), "No required SSL certificate")
	assert.NotContains(t, err.Error(), "<center>", "the whole HTML page is quoted")
	// nginx answers this page itself, before any backend sees the request:
	// nothing was processed, so the outcome is known (not created).
	assert.ErrorIs(t, err, ErrCertificateRejected)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.False(t, IsRetryable(err))
	assert.EqualValues(t, 1, hits.Load())
	assert.Empty(t, reqs)

	// The same server accepts the merchant certificate its CA issued.
	pki := mtCerts()
	c = mtNewClient(t, s, WithPEM(pki.clientCertPEM, pki.clientKeyPEM))
	_, err = c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.True(t, mtReceive(t, reqs).PeerCerts[0].Equal(pki.clientLeaf))
}

func TestRefundWithoutCertificateSendsNothing(t *testing.T) {
	t.Parallel()
	s, hits := mtNginxServer(t)
	c := mtNewClient(t, s) // no certificate option
	assert.False(t, c.hasCert)
	resp, err := c.Refund(context.Background(), mtRefundReq())
	require.ErrorIs(t, err, ErrCertificateRequired)
	assert.Nil(t, resp)
	assert.Contains(t, err.Error(), "certificate is required")
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.False(t, IsRetryable(err))
	assert.EqualValues(t, 0, hits.Load(), "a request reached the server")

	// Validation still comes first.
	_, err = c.Refund(context.Background(), &RefundRequest{})
	require.ErrorIs(t, err, ErrInvalidRequest)
}

func TestRefundServerCertificateNotTrusted(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, pki.caPool, nil)
	hits := mtCountHits(s.mux, pathRefund)
	// No WithRootCAs: the system roots do not know the test CA.
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithBaseURL(s.URL), WithPEM(pki.clientCertPEM, pki.clientKeyPEM))
	require.NoError(t, err)
	_, err = c.Refund(context.Background(), mtRefundReq())
	mtHandshakeRejected(t, err)
	assert.EqualValues(t, 0, hits.Load())
}

// mtHandshakeRejected checks the error of a refund whose TLS handshake
// failed: a final, not retryable *TransportError with no HTTP status.
func mtHandshakeRejected(t *testing.T, err error) {
	t.Helper()
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Zero(t, te.StatusCode)
	assert.False(t, te.Retryable())
	assert.False(t, IsRetryable(err))
	assert.NotErrorIs(t, err, ErrOutcomeUnknown, "the server processed nothing")
}

// A server that rejects the merchant certificate fails the handshake with a
// TLS alert: it processed nothing, so the refund did not happen and resending
// cannot help until the certificate is fixed.
func TestRefundClientCertificateRejected(t *testing.T) {
	t.Parallel()
	pki, td := mtCerts(), mtTestdata(t)
	revoked := func([][]byte, [][]*x509.Certificate) error { return errors.New("revoked") }
	tests := []struct {
		name      string
		clientCAs *x509.CertPool // the CAs the server accepts
		verify    func([][]byte, [][]*x509.Certificate) error
	}{
		{"issued by another CA", td.caPool, nil}, // the client offers none
		{"refused after verification", pki.caPool, revoked},
	}
	for _, tc := range tests {
		for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, tls.VersionName(version)), func(t *testing.T) {
				t.Parallel()
				var hits atomic.Int64
				srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
				srv.TLS = &tls.Config{
					ClientAuth:            tls.RequireAndVerifyClientCert,
					ClientCAs:             tc.clientCAs,
					VerifyPeerCertificate: tc.verify,
					Certificates:          []tls.Certificate{pki.serverCert},
					MaxVersion:            version,
				}
				srv.Config.ErrorLog = log.New(io.Discard, "", 0)
				srv.StartTLS()
				t.Cleanup(srv.Close)
				c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithBaseURL(srv.URL), WithRootCAs(pki.caPool),
					WithPEM(pki.clientCertPEM, pki.clientKeyPEM))
				require.NoError(t, err)

				_, err = c.Refund(context.Background(), mtRefundReq())
				mtHandshakeRejected(t, err)
				assert.Contains(t, err.Error(), "remote error: tls:")
				assert.EqualValues(t, 0, hits.Load())
			})
		}
	}
}

// A certificate alert after a response began is not a rejected handshake:
// the server may have processed the refund.
func TestRefundAlertAfterResponseIsUnknown(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, pki.caPool, nil)
	// A TLS 1.2 handshake without a client certificate gets the server's alert.
	conn, err := tls.Dial("tcp", s.Listener.Addr().String(),
		&tls.Config{RootCAs: pki.caPool, MaxVersion: tls.VersionTLS12})
	if err == nil {
		_, err = conn.Read(make([]byte, 1))
		_ = conn.Close()
	}
	require.ErrorContains(t, err, "remote error: tls:")

	rejected := &TransportError{Op: "refund", Err: err}
	assert.False(t, IsRetryable(refundOutcome(rejected)))
	assert.NotErrorIs(t, refundOutcome(rejected), ErrOutcomeUnknown)
	assert.ErrorIs(t, rejected, ErrCertificateRejected)

	midResponse := &TransportError{Op: "refund", StatusCode: http.StatusOK, Err: err}
	assert.True(t, IsRetryable(refundOutcome(midResponse)))
	assert.ErrorIs(t, refundOutcome(midResponse), ErrOutcomeUnknown)
	assert.NotErrorIs(t, midResponse, ErrCertificateRejected)
}

func TestRefundContextDeadline(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // before the server closes
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string { return mtQueryOK() })
	// Warm the connection so the deadline is spent waiting for the answer.
	_, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Refund(ctx, mtRefundReq())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Zero(t, te.StatusCode)
	assert.True(t, IsRetryable(err))
}

func TestRefundDefaultTimeout(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithTimeout(50*time.Millisecond))
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
}

func TestRefundContextCanceled(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	ctx, cancel := context.WithCancel(context.Background())
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		cancel() // the client gives up while the server works on it
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	_, err := c.Refund(ctx, mtRefundReq())
	require.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	// The caller stopped: still unknown, but not for a retry loop to resend.
	assert.False(t, IsRetryable(err))
}

// ---------------------------------------------------------------------------
// Validation

func TestRefundValidation(t *testing.T) {
	t.Parallel()
	valid := mtRefundReq
	with := func(f func(r *RefundRequest)) *RefundRequest { r := valid(); f(r); return r }
	tests := []struct {
		name  string
		req   *RefundRequest
		field string
	}{
		{"nil request", nil, ""},
		{"neither TransactionID nor OutTradeNo", with(func(r *RefundRequest) { r.OutTradeNo = "" }), "TransactionID"},
		{"both TransactionID and OutTradeNo", with(func(r *RefundRequest) { r.TransactionID = "4200001234202406011234567890" }), "TransactionID"},
		{"TransactionID too long", with(func(r *RefundRequest) { r.OutTradeNo, r.TransactionID = "", strings.Repeat("4", 33) }), "TransactionID"},
		{"OutTradeNo bad char", with(func(r *RefundRequest) { r.OutTradeNo = "ORD 1" }), "OutTradeNo"},
		{"OutRefundNo empty", with(func(r *RefundRequest) { r.OutRefundNo = "" }), "OutRefundNo"},
		{"OutRefundNo 65 chars", with(func(r *RefundRequest) { r.OutRefundNo = strings.Repeat("R", 65) }), "OutRefundNo"},
		{"OutRefundNo space", with(func(r *RefundRequest) { r.OutRefundNo = "a b" }), "OutRefundNo"},
		{"OutRefundNo Chinese", with(func(r *RefundRequest) { r.OutRefundNo = "中" }), "OutRefundNo"},
		{"OutRefundNo dot", with(func(r *RefundRequest) { r.OutRefundNo = "RF.1" }), "OutRefundNo"},
		{"OutRefundNo XML", with(func(r *RefundRequest) { r.OutRefundNo = "<a>" }), "OutRefundNo"},
		{"TotalFee 0", with(func(r *RefundRequest) { r.TotalFee = 0 }), "TotalFee"},
		{"TotalFee negative", with(func(r *RefundRequest) { r.TotalFee = -5000 }), "TotalFee"},
		{"RefundFee 0", with(func(r *RefundRequest) { r.RefundFee = 0 }), "RefundFee"},
		{"RefundFee negative", with(func(r *RefundRequest) { r.RefundFee = -1 }), "RefundFee"},
		{"RefundFee above TotalFee", with(func(r *RefundRequest) { r.RefundFee = r.TotalFee + 1 }), "RefundFee"},
		{"RefundAccount invalid", with(func(r *RefundRequest) { r.RefundAccount = "REFUND_SOURCE_SOMEWHERE" }), "RefundAccount"},
		{"RefundAccount lowercase", with(func(r *RefundRequest) { r.RefundAccount = strings.ToLower(RefundAccountRechargeFunds) }), "RefundAccount"},
		{"NotifyURL with query", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/notify?order=1" }), "NotifyURL"},
		{"NotifyURL with fragment", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/notify#x" }), "NotifyURL"},
		{"NotifyURL relative", with(func(r *RefundRequest) { r.NotifyURL = "/wxpay/refund-notify" }), "NotifyURL"},
		{"NotifyURL ftp", with(func(r *RefundRequest) { r.NotifyURL = "ftp://merchant.example.com/notify" }), "NotifyURL"},
		{"NotifyURL too long", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/" + strings.Repeat("n", 240) }), "NotifyURL"},
		{"RefundFeeType lowercase", with(func(r *RefundRequest) { r.RefundFeeType = "cny" }), "RefundFeeType"},
		{"RefundFeeType long", with(func(r *RefundRequest) { r.RefundFeeType = "CNYY" }), "RefundFeeType"},
		{"RefundDesc NUL", with(func(r *RefundRequest) { r.RefundDesc = "bad\x00desc" }), "RefundDesc"},
		{"RefundDesc invalid UTF-8", with(func(r *RefundRequest) { r.RefundDesc = "bad\xffdesc" }), "RefundDesc"},
		{"RefundDesc control character", with(func(r *RefundRequest) { r.RefundDesc = "bad\x1bdesc" }), "RefundDesc"},
		{"RefundDesc leading space", with(func(r *RefundRequest) { r.RefundDesc = " 缺货" }), "RefundDesc"},
		{"RefundDesc trailing newline", with(func(r *RefundRequest) { r.RefundDesc = "缺货\n" }), "RefundDesc"},
		{"RefundDesc only spaces", with(func(r *RefundRequest) { r.RefundDesc = "   " }), "RefundDesc"},
		{"NotifyURL invalid UTF-8", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/n\xff" }), "NotifyURL"},
		{"NotifyURL trailing space", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/notify " }), "NotifyURL"},
		{"NotifyURL leading tab", with(func(r *RefundRequest) { r.NotifyURL = "\thttps://merchant.example.com/notify" }), "NotifyURL"},
		{"NotifyURL inner space", with(func(r *RefundRequest) { r.NotifyURL = "https://merchant.example.com/re fund" }), "NotifyURL"},
		{"RefundDesc 81 characters", with(func(r *RefundRequest) { r.RefundDesc = strings.Repeat("退", 81) }), "RefundDesc"},
	}
	c, mux := setup(t)
	hits := mtCountHits(mux, pathRefund)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Refund(context.Background(), tc.req)
			require.Error(t, err)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, ErrInvalidRequest)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.NotEmpty(t, ve.Reason)
			if tc.field != "" {
				assert.Contains(t, err.Error(), tc.field)
			}
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			assert.False(t, IsRetryable(err))
		})
	}
	assert.EqualValues(t, 0, hits.Load(), "an invalid request reached the server")
}

func TestRefundValidRequestsAreSent(t *testing.T) {
	t.Parallel()
	valid := mtRefundReq
	with := func(f func(r *RefundRequest)) *RefundRequest { r := valid(); f(r); return r }
	tests := []struct {
		name string
		req  *RefundRequest
		want map[string]string // fields the server must receive
		none []string          // fields it must not receive
	}{
		{"OutRefundNo with _", with(func(r *RefundRequest) { r.OutRefundNo = "RF_1" }), map[string]string{"out_refund_no": "RF_1"}, nil},
		{"OutRefundNo with -", with(func(r *RefundRequest) { r.OutRefundNo = "RF-1" }), map[string]string{"out_refund_no": "RF-1"}, nil},
		{"OutRefundNo with |", with(func(r *RefundRequest) { r.OutRefundNo = "RF|1" }), map[string]string{"out_refund_no": "RF|1"}, nil},
		{"OutRefundNo with *", with(func(r *RefundRequest) { r.OutRefundNo = "RF*1" }), map[string]string{"out_refund_no": "RF*1"}, nil},
		{"OutRefundNo with @", with(func(r *RefundRequest) { r.OutRefundNo = "RF@1" }), map[string]string{"out_refund_no": "RF@1"}, nil},
		{"OutRefundNo all specials", with(func(r *RefundRequest) { r.OutRefundNo = "_-|*@" }), map[string]string{"out_refund_no": "_-|*@"}, nil},
		{"OutRefundNo 64 chars", with(func(r *RefundRequest) { r.OutRefundNo = strings.Repeat("R", 64) }), map[string]string{"out_refund_no": strings.Repeat("R", 64)}, nil},
		{"OutRefundNo 1 char", with(func(r *RefundRequest) { r.OutRefundNo = "1" }), map[string]string{"out_refund_no": "1"}, nil},
		{"RefundFee == TotalFee", with(func(r *RefundRequest) { r.RefundFee = r.TotalFee }), map[string]string{"refund_fee": "5000", "total_fee": "5000"}, nil},
		{"RefundFee 1 fen", with(func(r *RefundRequest) { r.RefundFee = 1 }), map[string]string{"refund_fee": "1"}, nil},
		{
			"TransactionID instead of OutTradeNo",
			with(func(r *RefundRequest) { r.OutTradeNo, r.TransactionID = "", "4200001234202406011234567890" }),
			map[string]string{"transaction_id": "4200001234202406011234567890"}, []string{"out_trade_no"},
		},
		{
			"RefundAccount unsettled funds",
			with(func(r *RefundRequest) { r.RefundAccount = RefundAccountUnsettledFunds }),
			map[string]string{"refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS"}, nil,
		},
		{
			"RefundAccount recharge funds",
			with(func(r *RefundRequest) { r.RefundAccount = RefundAccountRechargeFunds }),
			map[string]string{"refund_account": "REFUND_SOURCE_RECHARGE_FUNDS"}, nil,
		},
		{"RefundFeeType CNY", with(func(r *RefundRequest) { r.RefundFeeType = "CNY" }), map[string]string{"refund_fee_type": "CNY"}, nil},
		{
			"optional fields left out",
			with(func(r *RefundRequest) { r.RefundDesc, r.NotifyURL = "", "" }),
			nil, []string{"refund_desc", "notify_url", "refund_account", "refund_fee_type", "transaction_id", "sign_type"},
		},
		{
			"NotifyURL http",
			with(func(r *RefundRequest) { r.NotifyURL = "http://10.0.0.1:8080/notify" }),
			map[string]string{"notify_url": "http://10.0.0.1:8080/notify"}, nil,
		},
		{
			"RefundDesc 80 characters",
			with(func(r *RefundRequest) { r.RefundDesc = strings.Repeat("退", 80) }),
			map[string]string{"refund_desc": strings.Repeat("退", 80)}, nil,
		},
		{
			"RefundDesc with XML specials",
			with(func(r *RefundRequest) { r.RefundDesc = `a<b & c]]>d "e" 'f' ]]]]> <![CDATA[x]]>` }),
			map[string]string{"refund_desc": `a<b & c]]>d "e" 'f' ]]]]> <![CDATA[x]]>`}, nil,
		},
		{
			"RefundDesc with & and =",
			with(func(r *RefundRequest) { r.RefundDesc = "a=1&key=2" }),
			map[string]string{"refund_desc": "a=1&key=2"}, nil,
		},
		{
			"RefundDesc with newline and tab",
			with(func(r *RefundRequest) { r.RefundDesc = "第一行\n\t第二行" }),
			map[string]string{"refund_desc": "第一行\n\t第二行"}, nil,
		},
	}
	c, mux := setup(t)
	reqs := mtRefundHandler(t, mux, mtRefundOK)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Refund(context.Background(), tc.req)
			require.NoError(t, err)
			assert.Equal(t, tc.req.OutRefundNo, resp.OutRefundNo)
			got := mtReceive(t, reqs) // mtReadRequest verified the sign over these bytes
			for k, v := range tc.want {
				assert.Equal(t, v, got.Fields[k], k)
			}
			for _, k := range tc.none {
				assert.NotContains(t, got.Fields, k)
			}
		})
	}
}

// absoluteHTTPURL's fast path accepts only what url.Parse accepts as an
// absolute http(s) URL with a host.
func TestAbsoluteHTTPURLMatchesURLParse(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"https://merchant.example.com/wxpay/refund-notify", "http://10.0.0.1/notify", "https://a/", "https://a",
		"https://-/", "https://./x", "https://a_b.example.com/x_y~z", "HTTPS://merchant.example.com/n",
		"https://merchant.example.com:8443/n", "https://merchant.example.com:port/n", "https://[::1]/n",
		"https://user@merchant.example.com/n", "https://merchant.example.com/%zz", "https://merchant.example.com/%41",
		"https:///n", "https:/n", "https//n", "ftp://a/n", "/n", "", "https://例子.测试/n", "https://a/b c",
	} {
		u, err := url.Parse(s)
		want := err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
		assert.Equal(t, want, absoluteHTTPURL(s), "%q", s)
	}
}
