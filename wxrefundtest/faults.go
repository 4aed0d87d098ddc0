package wxrefundtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// This file holds the failures a test injects: HTTP-level faults
// (FaultNext), and the checks that refuse a mistyped path, code or count
// for every injection (FaultNext, FailNext, LoseNext, FailNextBill).

// Fault is a failure below WeChat Pay's API: what its nginx front end, a
// load balancer or the network does instead of an answer. Make one with
// StatusFault, NoCertificateFault, CertificateErrorFault, ResetFault or
// DelayFault, and queue it with FaultNext. The zero Fault is not valid.
type Fault struct {
	status int           // an HTTP status page; nothing processed
	page   string        // its body
	name   string        // for String
	reset  bool          // the connection closed before processing
	delay  time.Duration // processed, answered after delay
}

// StatusFault is the error page nginx answers with HTTP status code (500,
// 502, 503 or 504) when WeChat Pay's API behind it fails or is unreachable:
// the request is not processed. A client cannot know that, so a refund
// answered so has an unknown outcome.
func StatusFault(code int) Fault {
	title := strconv.Itoa(code) + " " + http.StatusText(code)
	return Fault{status: code, name: strconv.Itoa(code), page: "<html>\r\n<head><title>" + title +
		"</title></head>\r\n<body>\r\n<center><h1>" + title + "</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"}
}

// NoCertificateFault is nginx's "400 No required SSL certificate was sent"
// page, which WeChat Pay answers to a request to /secapi/ without a client
// certificate, even when the request had one (for a test of how a client
// treats the page): nothing is processed.
func NoCertificateFault() Fault {
	return Fault{status: http.StatusBadRequest, name: "no_certificate", page: noCertPage}
}

// CertificateErrorFault is nginx's "400 The SSL certificate error" page,
// which WeChat Pay's front end answers when it cannot use the client
// certificate: nothing is processed.
func CertificateErrorFault() Fault {
	return Fault{status: http.StatusBadRequest, name: "certificate_error", page: certErrorPage}
}

// ResetFault closes the connection before the request is processed, with no
// HTTP answer, as a load balancer that drops it does: nothing is applied.
// (LoseNext is the other case: the refund is applied and only the answer
// is lost.)
func ResetFault() Fault { return Fault{reset: true, name: "reset"} }

// DelayFault processes the request as usual but holds its answer back for
// d, as a slow WeChat Pay does: a refund is applied at once. A client whose
// timeout ends first sees no answer (its outcome is unknown); the refund
// exists all the same. d must be positive.
func DelayFault(d time.Duration) Fault { return Fault{delay: d, name: "delay " + d.String()} }

// String names the fault: "502", "no_certificate", "certificate_error",
// "reset" or "delay 1.5s".
func (f Fault) String() string { return f.name }

// check reports a Fault that no constructor makes.
func (f Fault) check() error {
	switch {
	case f.reset:
		return nil
	case f.delay > 0:
		return nil
	case f.page != "" && (f.status == http.StatusBadRequest ||
		f.status == http.StatusInternalServerError || f.status == http.StatusBadGateway ||
		f.status == http.StatusServiceUnavailable || f.status == http.StatusGatewayTimeout):
		return nil
	case f.status != 0:
		return fmt.Errorf("fault %q: StatusFault takes 500, 502, 503 or 504", f.name)
	case f.name != "":
		return fmt.Errorf("fault %q: DelayFault takes a positive duration", f.name)
	}
	return errors.New("the zero Fault: make one with StatusFault, NoCertificateFault, CertificateErrorFault, ResetFault or DelayFault")
}

// play answers w with the fault, and reports whether that was the whole
// answer (false for a delay: the request goes on, answered late).
func (f Fault) play(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case f.reset:
		dropConnection(w)
		return true
	case f.status != 0:
		writePage(w, f.status, f.page)
		return true
	}
	return false
}

// certErrorPage is nginx's page for a client certificate it cannot use.
const certErrorPage = "<html>\r\n<head><title>400 The SSL certificate error</title></head>\r\n<body>\r\n" +
	"<center><h1>400 Bad Request</h1></center>\r\n<center>The SSL certificate error</center>\r\n" +
	"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// faultKey is a FaultNext queue: a domain (or DomainAny) and a path.
type faultKey struct {
	domain Domain
	path   string
}

// FaultNext makes the next times requests to path (PathRefund,
// PathRefundQuery or PathDownloadBill) that reach domain meet the fault f
// instead of the API (or, for DelayFault, before its answer). DomainAny
// matches a request on either domain; a request takes a fault queued for
// its own domain before one queued for DomainAny. Faults queue up like
// FailNext's, and come before everything else: a request that meets a
// status page or a reset reaches no signature check, no FailNext and no
// LoseNext. Requests lists the faults played. ClearFaults empties the
// queues.
//
// FaultNext panics with a message saying what is wrong for an unknown
// domain or path, a Fault no constructor made, or times < 1.
func (s *Server) FaultNext(domain Domain, path string, f Fault, times int) {
	if err := checkFaultNext(domain, path, f, times); err != nil {
		panic("wxrefundtest: FaultNext: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := faultKey{domain, path}
	s.faults[k] = s.faults[k].push(f, times)
	s.changedLocked()
}

func checkFaultNext(domain Domain, path string, f Fault, times int) error {
	if err := checkDomain(domain, true); err != nil {
		return err
	}
	switch path {
	case PathRefund, PathRefundQuery, PathDownloadBill:
	default:
		return fmt.Errorf("path %q: want %s, %s or %s", path, PathRefund, PathRefundQuery, PathDownloadBill)
	}
	if err := f.check(); err != nil {
		return err
	}
	return checkTimes(times)
}

// takeFault pops the next fault for a request to path on domain. Called
// with s.mu held.
func (s *Server) takeFault(domain Domain, path string) (Fault, bool) {
	for _, k := range [...]faultKey{{domain, path}, {DomainAny, path}} {
		q, f, ok := s.faults[k].pop()
		if !ok {
			continue
		}
		if q == nil {
			delete(s.faults, k)
		} else {
			s.faults[k] = q
		}
		return f, true
	}
	return Fault{}, false
}

// ClearFaults empties every queue of injected failures: FaultNext's,
// FailNext's, LoseNext's and FailNextBill's. Domains taken down stay down.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	clear(s.failures)
	s.losses = nil
	s.billFailures = nil
	s.changedLocked()
}

func checkTimes(times int) error {
	if times < 1 {
		return fmt.Errorf("times %d: want 1 or more (ClearFaults empties the queues)", times)
	}
	return nil
}

// The err_codes WeChat Pay documents for each endpoint
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 and
// chapter=9_5), plus those merchants have reported and the SDK knows
// (APPID_MCHID_NOT_MATCH, NOAUTH, CERT_ERROR, ORDER_NOT_READY,
// TRADE_STATE_ERROR, REFUND_FEE_MISMATCH): what FailNext and LoseNext
// accept.
var (
	refundCodes = codeSet(wxrefund.CodeSystemError, wxrefund.CodeBizErrNeedRetry, wxrefund.CodeTradeOverdue,
		wxrefund.CodeBusinessError, wxrefund.CodeUserAccountAbnormal, wxrefund.CodeInvalidReqTooMuch, wxrefund.CodeNotEnough,
		wxrefund.CodeInvalidTransactionID, wxrefund.CodeParamError, wxrefund.CodeAppIDNotExist,
		wxrefund.CodeMchIDNotExist, wxrefund.CodeAppIDMchIDNotMatch, wxrefund.CodeOrderNotExist,
		wxrefund.CodeRequirePostMethod, wxrefund.CodeSignError, wxrefund.CodeXMLFormatError,
		wxrefund.CodeFrequencyLimited, wxrefund.CodeNoAuth, wxrefund.CodeCertError, wxrefund.CodeRefundFeeMismatch,
		wxrefund.CodeInvalidRequest, wxrefund.CodeOrderNotReady, wxrefund.CodeTradeStateError)
	queryCodes = codeSet(wxrefund.CodeSystemError, wxrefund.CodeRefundNotExist, wxrefund.CodeInvalidTransactionID,
		wxrefund.CodeParamError, wxrefund.CodeAppIDNotExist, wxrefund.CodeMchIDNotExist,
		wxrefund.CodeAppIDMchIDNotMatch, wxrefund.CodeRequirePostMethod, wxrefund.CodeSignError,
		wxrefund.CodeXMLFormatError, wxrefund.CodeFrequencyLimited, wxrefund.CodeNoAuth,
		wxrefund.CodeOrderNotExist)
)

func codeSet(codes ...string) map[string]bool {
	m := make(map[string]bool, len(codes))
	for _, c := range codes {
		m[c] = true
	}
	return m
}

// checkFail validates FailNext's arguments, as FailNext, POST /fake/fail
// and the console take them.
func checkFail(path, errCode string, times int) error {
	var codes map[string]bool
	switch path {
	case PathRefund:
		codes = refundCodes
	case PathRefundQuery:
		codes = queryCodes
	case PathDownloadBill:
		return fmt.Errorf("path %s: bill downloads have no err_code; use FailNextBill", path)
	default:
		return fmt.Errorf("path %q: want %s or %s", path, PathRefund, PathRefundQuery)
	}
	if !codes[errCode] {
		return fmt.Errorf("err_code %q: not an err_code WeChat Pay answers on %s (such as SYSTEMERROR)", errCode, path)
	}
	return checkTimes(times)
}

// checkLose validates LoseNext's arguments: "" (no answer at all) or an
// err_code of PathRefund.
func checkLose(errCode string, times int) error {
	if errCode != "" && !refundCodes[errCode] {
		return fmt.Errorf(`err_code %q: want an err_code WeChat Pay answers on %s, such as SYSTEMERROR, or "" to drop the connection`,
			errCode, PathRefund)
	}
	return checkTimes(times)
}

// checkFailBill validates FailNextBill's arguments.
func checkFailBill(returnMsg, errorCode string, times int) error {
	switch {
	case returnMsg == "" || len(returnMsg) > 128 || !validText(returnMsg):
		return errors.New(`return_msg: want a message such as "Bill Creating", at most 128 bytes`)
	case errorCode != "" && !validID(errorCode, 16):
		return fmt.Errorf("error_code %q: want empty or a code such as 20003", errorCode)
	}
	return checkTimes(times)
}

// lateWriter holds an answer back until due: DelayFault. The request was
// processed; if the client goes away first, the answer is lost.
type lateWriter struct {
	http.ResponseWriter
	ctx    context.Context
	due    time.Time
	waited bool
}

func (w *lateWriter) wait() {
	if w.waited {
		return
	}
	w.waited = true
	t := time.NewTimer(time.Until(w.due))
	defer t.Stop()
	select {
	case <-t.C:
	case <-w.ctx.Done():
		panic(http.ErrAbortHandler) // the client gave up: nobody to answer
	}
}

func (w *lateWriter) WriteHeader(code int) {
	w.wait()
	w.ResponseWriter.WriteHeader(code)
}

func (w *lateWriter) Write(b []byte) (int, error) {
	w.wait()
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (LoseNext's
// dropped answers).
func (w *lateWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
