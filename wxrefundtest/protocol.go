package wxrefundtest

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/go-wxpay/wxrefund"
)

// The protocol endpoints the Server implements.
const (
	PathRefund       = "/secapi/pay/refund" // apply refund; needs the merchant certificate
	PathRefundQuery  = "/pay/refundquery"   // refund query; no certificate
	PathDownloadBill = "/pay/downloadbill"  // statement download, bill_type REFUND only; no certificate
)

// Messages of unsigned return_code FAIL answers.
const (
	msgSignError = "签名错误"
	msgXMLError  = "XML格式错误"
	msgSignType  = "sign_type参数错误"
)

// nginx pages WeChat Pay's front end answers before any API logic runs.
const (
	noCertPage = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n<body>\r\n" +
		"<center><h1>400 Bad Request</h1></center>\r\n<center>No required SSL certificate was sent</center>\r\n" +
		"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
	tooLargePage = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" +
		"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)

func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathRefund, s.serveRefund)
	mux.HandleFunc(PathRefundQuery, s.serveRefundQuery)
	mux.HandleFunc(PathDownloadBill, s.serveDownloadBill)
	mux.Handle("/fake/", s.adminHandler())
	return mux
}

// request is a protocol request whose signature and merchant verified.
type request struct {
	fields   map[string]string
	signType wxrefund.SignType
}

func (q *request) has(k string) bool { _, ok := q.fields[k]; return ok }

// begin reads, parses and authenticates a protocol request: POST only, a
// body of at most 64 KiB that decodeXML accepts, a valid sign for the
// request's sign_type (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3),
// this Server's mch_id and appid, a nonce_str, the sub_mch_id and sub_appid
// that partner mode needs (or none for a direct merchant), and no failure
// injected by FailNext. Otherwise it writes the answer itself and returns
// nil.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, path string) *request {
	if r.Method != http.MethodPost {
		// Nothing to verify or echo: answer for this merchant, signed with MD5.
		self := &request{fields: map[string]string{"appid": s.cfg.appID, "mch_id": s.cfg.mchID}, signType: wxrefund.SignTypeMD5}
		s.writeBizError(w, self, &bizError{wxrefund.CodeRequirePostMethod, "请使用post方法"})
		return nil
	}
	body, err := readBody(r.Body)
	if errors.Is(err, errTooLarge) {
		writePage(w, http.StatusRequestEntityTooLarge, tooLargePage)
		return nil
	}
	if err != nil {
		writeFail(w, msgXMLError)
		return nil
	}
	fields, err := decodeXML(body, "xml")
	if err != nil {
		writeFail(w, msgXMLError)
		return nil
	}
	q := &request{fields: fields}
	switch t := fields["sign_type"]; t {
	case "", string(wxrefund.SignTypeMD5):
		q.signType = wxrefund.SignTypeMD5
	case string(wxrefund.SignTypeHMACSHA256):
		q.signType = wxrefund.SignTypeHMACSHA256
	default:
		writeFail(w, msgSignType)
		return nil
	}
	want := sign(fields, s.cfg.apiKey, q.signType)
	if subtle.ConstantTimeCompare([]byte(want), []byte(fields["sign"])) != 1 {
		writeFail(w, msgSignError)
		return nil
	}
	// The signature verified with this merchant's key, so the answer can be
	// signed with it even when the ids are wrong; it echoes the request's ids
	// as WeChat Pay does.
	switch {
	case fields["mch_id"] != s.cfg.mchID:
		s.writeBizError(w, q, &bizError{wxrefund.CodeMchIDNotExist, "商户号mch_id不存在"})
		return nil
	case fields["appid"] != s.cfg.appID:
		s.writeBizError(w, q, &bizError{wxrefund.CodeAppIDNotExist, "appid不存在或与商户号不匹配"})
		return nil
	case fields["nonce_str"] == "" || len(fields["nonce_str"]) > 32:
		writeFail(w, "invalid nonce_str")
		return nil
	}
	if msg := s.checkSubMerchant(fields, true); msg != "" {
		writeFail(w, msg)
		return nil
	}
	s.mu.Lock()
	code, inject := s.takeFailure(path)
	s.mu.Unlock()
	if inject {
		s.writeBizError(w, q, &bizError{code, "injected by wxrefundtest FailNext"})
		return nil
	}
	return q
}

// serveRefund is /secapi/pay/refund, apply refund
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4).
func (s *Server) serveRefund(w http.ResponseWriter, r *http.Request) {
	// nginx refuses a request without a client certificate before any API
	// logic runs. The TLS layer verified any certificate that was sent.
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		writePage(w, http.StatusBadRequest, noCertPage)
		return
	}
	q := s.begin(w, r, PathRefund)
	if q == nil {
		return
	}
	rq, msg, berr := parseRefundRequest(q)
	switch {
	case msg != "":
		writeFail(w, msg)
		return
	case berr != nil:
		s.writeBizError(w, q, berr)
		return
	}
	fields, lostCode, lost, berr := s.applyRefund(rq)
	switch {
	case berr != nil:
		s.writeBizError(w, q, berr)
	case !lost:
		s.writeSuccess(w, q, fields)
	case lostCode == "":
		dropConnection(w)
	default:
		s.writeBizError(w, q, &bizError{lostCode, "injected by wxrefundtest LoseNext (the refund was applied)"})
	}
}

// dropConnection ends an exchange without any HTTP response, like a timeout
// or a reset after WeChat Pay accepted the request. It closes the connection
// when it can hijack it (HTTP/1); otherwise (HTTP/2, or a ResponseWriter
// that cannot be hijacked) it panics with http.ErrAbortHandler, which a
// net/http server turns into a reset stream or closed connection without
// logging anything.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close() // dropping the connection is the point; how it went changes nothing
}

// parseRefundRequest checks an apply-refund request's fields. A field that is
// missing or malformed is a return_code FAIL with msg, worded like WeChat
// Pay's return_msg ("invalid refund_fee"); a request whose fields are each
// fine but do not fit together is a PARAM_ERROR.
func parseRefundRequest(q *request) (rq refundReq, msg string, berr *bizError) {
	f := q.fields
	rq = refundReq{
		transactionID: f["transaction_id"],
		outTradeNo:    f["out_trade_no"],
		outRefundNo:   f["out_refund_no"],
		account:       f["refund_account"],
		notifyURL:     f["notify_url"],
		desc:          f["refund_desc"],
		subMchID:      f["sub_mch_id"],
		subAppID:      f["sub_appid"],
	}
	var okTotal, okRefund bool
	rq.totalFee, okTotal = parseFen(f["total_fee"])
	rq.refundFee, okRefund = parseFen(f["refund_fee"])
	switch {
	case rq.outRefundNo == "":
		return rq, "缺少参数out_refund_no", nil
	case !validID(rq.outRefundNo, 64):
		return rq, "invalid out_refund_no", nil
	case rq.transactionID != "" && !validID(rq.transactionID, 32):
		return rq, "invalid transaction_id", nil
	case rq.outTradeNo != "" && !validID(rq.outTradeNo, 32):
		return rq, "invalid out_trade_no", nil
	case !q.has("total_fee"):
		return rq, "缺少参数total_fee", nil
	case !q.has("refund_fee"):
		return rq, "缺少参数refund_fee", nil
	case !okTotal:
		return rq, "invalid total_fee", nil
	case !okRefund || rq.refundFee > rq.totalFee:
		return rq, "invalid refund_fee", nil
	case rq.account != "" && rq.account != wxrefund.RefundAccountUnsettledFunds && rq.account != wxrefund.RefundAccountRechargeFunds:
		return rq, "invalid refund_account", nil
	case rq.notifyURL != "" && !validNotifyURL(rq.notifyURL):
		return rq, "invalid notify_url", nil
	case utf8.RuneCountInString(f["refund_desc"]) > 80:
		return rq, "invalid refund_desc", nil
	case rq.transactionID == "" && rq.outTradeNo == "":
		return rq, "", &bizError{wxrefund.CodeParamError, "transaction_id和out_trade_no必须填写其中一个"}
	case f["refund_fee_type"] != "" && f["refund_fee_type"] != "CNY":
		return rq, "", &bizError{wxrefund.CodeParamError, "退款货币种类须与订单一致 (refund_fee_type must be CNY)"}
	}
	return rq, "", nil
}

// serveRefundQuery is /pay/refundquery, refund query
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5).
func (s *Server) serveRefundQuery(w http.ResponseWriter, r *http.Request) {
	q := s.begin(w, r, PathRefundQuery)
	if q == nil {
		return
	}
	f := q.fields
	qq := queryReq{subMchID: f["sub_mch_id"]}
	switch { // the documented priority: refund_id > out_refund_no > transaction_id > out_trade_no
	case f["refund_id"] != "":
		qq.refundID = f["refund_id"]
	case f["out_refund_no"] != "":
		qq.outRefundNo = f["out_refund_no"]
	case f["transaction_id"] != "":
		qq.transactionID = f["transaction_id"]
	case f["out_trade_no"] != "":
		qq.outTradeNo = f["out_trade_no"]
	default:
		s.writeBizError(w, q, &bizError{wxrefund.CodeParamError, "transaction_id、out_trade_no、out_refund_no和refund_id至少填一个"})
		return
	}
	if v, ok := f["offset"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || v[0] == '+' {
			s.writeBizError(w, q, &bizError{wxrefund.CodeParamError, "offset参数错误"})
			return
		}
		qq.offset, qq.hasOffset = n, true
	}
	fields, berr := s.queryRefunds(qq)
	if berr != nil {
		s.writeBizError(w, q, berr)
		return
	}
	s.writeSuccess(w, q, fields)
}

// parseFen parses a positive integer amount written as plain decimal digits.
func parseFen(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n > 0
}

// writeBizError answers a signed result_code FAIL.
func (s *Server) writeBizError(w http.ResponseWriter, q *request, e *bizError) {
	s.writeSigned(w, q, map[string]string{"result_code": "FAIL", "err_code": e.code, "err_code_des": e.des})
}

// writeSuccess answers a signed result_code SUCCESS with fields.
func (s *Server) writeSuccess(w http.ResponseWriter, q *request, fields map[string]string) {
	fields["result_code"] = "SUCCESS"
	s.writeSigned(w, q, fields)
}

// writeSigned completes fields into a return_code SUCCESS answer: return_msg,
// the request's appid and mch_id (and its sub_mch_id and sub_appid, which
// only partner mode lets through), a fresh nonce_str and the sign of the
// request's sign type (which, like WeChat Pay, it does not echo).
func (s *Server) writeSigned(w http.ResponseWriter, q *request, fields map[string]string) {
	fields["return_code"] = "SUCCESS"
	fields["return_msg"] = "OK"
	fields["appid"] = q.fields["appid"]
	fields["mch_id"] = q.fields["mch_id"]
	for _, k := range []string{"sub_mch_id", "sub_appid"} {
		if v := q.fields[k]; v != "" {
			fields[k] = v
		}
	}
	fields["nonce_str"] = newNonce()
	fields["sign"] = sign(fields, s.cfg.apiKey, q.signType)
	body, err := encodeXML("xml", fields)
	if err != nil { // only echoed ids could be unencodable; the decoder already vetted them
		writeFail(w, "系统错误")
		return
	}
	writeXML(w, body)
}

// writeFail answers an unsigned return_code FAIL: a communication-level
// failure, which WeChat Pay does not sign.
func writeFail(w http.ResponseWriter, msg string) {
	body, _ := encodeXML("xml", map[string]string{"return_code": "FAIL", "return_msg": msg})
	writeXML(w, body)
}

func writeXML(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	// The status is sent; a failed write means the client is gone: nothing to do.
	_, _ = w.Write(body)
}

func writePage(w http.ResponseWriter, status int, page string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client is gone: nothing to do.
	_, _ = w.Write([]byte(page))
}
