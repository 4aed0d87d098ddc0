package wxrefundtest

import (
	"bufio"
	"compress/gzip"
	"crypto/subtle"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-wxpay/wxrefund"
)

// BillLayout is a column layout of the refund bill that PathDownloadBill
// serves. WeChat Pay gives merchants created since 2018, and older ones
// once they enable non-recharge coupons (免充值券), the current layout; the
// others still get the legacy one. Clients should read the columns by the
// header line.
//
// The refund bill (/pay/downloadbill with bill_type REFUND) lists the refunds
// accepted on bill_date in China time, as a CSV-like text (or its gzip with
// tar_type GZIP) in the current 29-column layout or, with
// WithBillLayout(BillLayoutLegacy), the legacy 26-column one: a header line,
// one line per refund with a backtick before each field, a summary header
// and a summary line with the totals of the lines, each line ending in "\n".
// In partner mode a sub_mch_id selects one sub-merchant's refunds. Columns
// the fake knows nothing about (device, openid, product name, attach) are
// empty; payment columns are 0.00 on refund lines, as in WeChat Pay's
// samples; 交易类型 is JSAPI, 付款银行 CFT and 退款类型 ORIGINAL. 退款金额
// is the refund less its coupon part in the current layout (the fake's
// coupons are non-recharge ones, so 充值券退款金额 is 0.00 and 申请退款金额 is
// the whole refund_fee), and the whole refund_fee in the legacy layout, next
// to its coupon part in 代金券或立减优惠退款金额. WeChat Pay serves the
// legacy layout only to merchants without non-recharge coupons, so
// wxrefund reads that column as recharge coupons (settled with the refund):
// test coupons with the current layout. 手续费 (five decimals) is the
// fee given back on the refund: minus 0.60% of the refund less its coupon
// part, rounded half up to the fen. SetBill and SyntheticRefundBill serve a
// bill of any size, streamed; FailNextBill injects failures such as
// "Bill Creating". Only bill_type REFUND is served: ALL (the default),
// SUCCESS and RECHARGE_REFUND answer a FAIL that says so.
type BillLayout int

const (
	// BillLayoutCurrent is the default: 29 columns, ending with 订单金额,
	// 申请退款金额 and 费率备注, and a summary of seven totals.
	BillLayoutCurrent BillLayout = iota
	// BillLayoutLegacy is the layout of earlier bills: 26 columns with
	// 子商户号, 总金额 and 代金券或立减优惠退款金额, and a summary of five
	// totals.
	BillLayoutLegacy
)

// The header lines of the two layouts of the REFUND bill.
const (
	billHeaderCurrent = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态," +
		"付款银行,货币种类,应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额," +
		"退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	billSummaryCurrent = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
	billHeaderLegacy   = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态," +
		"付款银行,货币种类,总金额,代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额," +
		"退款类型,退款状态,商品名称,商户数据包,手续费,费率"
	billSummaryLegacy = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"
)

// The error_code values of bill download failures: 20001 for a request the
// fake refuses (WeChat Pay documents it for "invalid bill_date"; the fake
// uses it for every refused request) and 20002 for "No Bill Exist".
const (
	billErrParam  = "20001"
	billErrNoBill = "20002"
)

// billFeeRate is the handling fee rate the fake's bills show, in units of
// 0.01%: 0.60%, WeChat Pay's usual rate.
const billFeeRate = 60

// WithBillLayout sets the layout of the refund bills the Server serves; the
// default is BillLayoutCurrent.
func WithBillLayout(l BillLayout) Option {
	return func(c *config) error {
		if l != BillLayoutCurrent && l != BillLayoutLegacy {
			return fmt.Errorf("wxrefundtest: WithBillLayout(%d): unknown layout", int(l))
		}
		c.billLayout = l
		return nil
	}
}

// billFailure is an answer FailNextBill queued.
type billFailure struct{ returnMsg, errorCode string }

// FailNextBill makes the next times bill downloads that pass the signature,
// merchant and parameter checks fail with the unsigned answer
//
//	<xml><return_code>FAIL</return_code><return_msg>returnMsg</return_msg><error_code>errorCode</error_code></xml>
//
// (no error_code element when errorCode is empty) instead of the bill.
// WeChat Pay answers "Bill Creating" while it is still generating the day's
// bill (until about 10:00 China time the next day; its error_code is not
// documented, so "" is a fair choice), and "SYSTEMERROR" when a download
// failed (some SDKs list error_code 20003 for it). Calls queue up like
// FailNext's; ClearFaults empties the queue. FailNextBill panics, saying
// why, for an empty or overlong returnMsg, an errorCode that is not a code,
// or times < 1.
//
// Refund and refund query failures are injected with FailNext instead: those
// endpoints answer a signed result_code FAIL with an err_code, which the bill
// endpoint does not have.
func (s *Server) FailNextBill(returnMsg, errorCode string, times int) {
	if err := checkFailBill(returnMsg, errorCode, times); err != nil {
		panic("wxrefundtest: FailNextBill: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.billFailures = s.billFailures.push(billFailure{returnMsg, errorCode}, times)
	s.changedLocked()
}

// SetBill makes the Server answer a REFUND bill download for date with the
// text body writes, instead of the bill of its own refunds of that day, so
// that tests can serve bills of any size or shape: body is called for each
// download, with a writer that streams to the client (through gzip when the
// request asks for it), so a generated bill never needs to be in memory. If
// body fails, the connection is broken off, as when a download fails
// halfway. The bill is served as it is, whatever sub_mch_id the request
// names. A nil body removes the override.
//
// date names its day as wxrefund.RefundBillRequest.Date does: the calendar
// date of date in China Standard Time (wxrefund.ChinaTime), whatever its
// location, so the same time.Time given to SetBill and to
// Client.DownloadRefundBill names the same bill.
//
// See also SyntheticRefundBill.
func (s *Server) SetBill(date time.Time, body func(w io.Writer) error) {
	key := date.In(chinaTime).Format("20060102")
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == nil {
		delete(s.bills, key)
		return
	}
	s.bills[key] = body
}

// SyntheticRefundBill returns a SetBill body that generates a REFUND bill of
// rows refunds accepted on date (its day in China Standard Time, as for
// SetBill), in the Server's layout, with its appid and
// mch_id, one row at a time: serving it takes the same small memory for a
// million rows as for ten.
//
// Row i (from 0) is refund SYNR%010d of order SYNO%010d, accepted at
// 00:00:00 China time plus i*86399/(rows-1) seconds and successful at once:
// its refund_fee is i%1000+1 fen, of which a tenth (rounded down) is a coupon
// when i%10 is 9. A Server in partner mode spreads the rows over its
// sub-merchants in turn (sorted by id). The summary line holds the sums of
// the rows, like every bill the Server serves.
func (s *Server) SyntheticRefundBill(date time.Time, rows int) func(w io.Writer) error {
	y, m, d := date.In(chinaTime).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
	ymd := day.Format("20060102")
	subs := s.SubMerchants()
	appID, mchID, layout := s.cfg.appID, s.cfg.mchID, s.cfg.billLayout
	return func(w io.Writer) error {
		bw := newBillWriter(w, layout)
		for i := range max(rows, 0) {
			sec := 0
			if rows > 1 {
				sec = int(int64(i) * 86399 / int64(rows-1))
			}
			at := day.Add(time.Duration(sec) * time.Second)
			row := billRow{
				accepted:      at,
				succeeded:     at,
				appID:         appID,
				mchID:         mchID,
				subMchID:      "0",
				transactionID: "4200" + ymd + zeroPad(i, 16),
				outTradeNo:    "SYNO" + zeroPad(i, 10),
				refundID:      "50300" + ymd + zeroPad(i, 16),
				outRefundNo:   "SYNR" + zeroPad(i, 10),
				refundFee:     int64(i%1000 + 1),
				status:        wxrefund.RefundStatusSuccess,
			}
			if i%10 == 9 {
				row.coupon = row.refundFee / 10
			}
			if len(subs) > 0 {
				row.subMchID = subs[i%len(subs)]
			}
			if err := bw.row(&row); err != nil {
				return err
			}
		}
		return bw.close()
	}
}

// billRow is one line of a REFUND bill. Amounts are fen.
type billRow struct {
	accepted, succeeded                              time.Time // succeeded is zero unless SUCCESS
	appID, mchID, subMchID                           string    // subMchID is "0" for a direct merchant
	transactionID, outTradeNo, refundID, outRefundNo string
	refundFee, coupon                                int64 // the refund_fee and its coupon part
	status                                           wxrefund.RefundStatus
}

// billWriter writes a REFUND bill: the header line, a line per row with each
// field after a backtick, then the summary header and the summary line of
// totals, every line ending with "\n". The package documentation says what
// each column holds.
type billWriter struct {
	w      *bufio.Writer
	layout BillLayout
	buf    []byte
	// totals of the rows so far
	n                          int64
	refund, settlement, coupon int64
	fee                        int64
}

func newBillWriter(w io.Writer, layout BillLayout) *billWriter {
	b := &billWriter{w: bufio.NewWriterSize(w, 64<<10), layout: layout}
	// A bufio.Writer keeps its first error and returns it from every later
	// Write and Flush: row or close reports a failed header.
	if layout == BillLayoutLegacy {
		_, _ = b.w.WriteString(billHeaderLegacy + "\n")
	} else {
		_, _ = b.w.WriteString(billHeaderCurrent + "\n")
	}
	return b
}

// refundFee is the handling fee given back on a settlement refund of
// settlement fen, in fen: minus billFeeRate hundredths of a percent, rounded
// half up.
func refundFee(settlement int64) int64 {
	return -((settlement*billFeeRate + 5000) / 10000)
}

// row writes one refund line.
func (b *billWriter) row(r *billRow) error {
	settlement := r.refundFee - r.coupon
	fee := refundFee(settlement)
	b.n++
	b.refund += r.refundFee
	b.settlement += settlement
	b.coupon += r.coupon
	b.fee += fee

	succeeded := ""
	if !r.succeeded.IsZero() {
		succeeded = r.succeeded.In(chinaTime).Format(timeLayout)
	}
	accepted := r.accepted.In(chinaTime).Format(timeLayout)
	var fields []string
	if b.layout == BillLayoutLegacy {
		fields = []string{accepted, r.appID, r.mchID, r.subMchID, "", r.transactionID, r.outTradeNo, "", "JSAPI", "REFUND",
			"CFT", "CNY", "0.00", "0.00", accepted, succeeded, r.refundID, r.outRefundNo, yuan(r.refundFee, 2), yuan(r.coupon, 2),
			"ORIGINAL", string(r.status), "", "", yuan(fee, 5), billRate}
	} else {
		fields = []string{accepted, r.appID, r.mchID, r.subMchID, "", r.transactionID, r.outTradeNo, "", "JSAPI", "REFUND",
			"CFT", "CNY", "0.00", "0.00", accepted, succeeded, r.refundID, r.outRefundNo, yuan(settlement, 2), "0.00",
			"ORIGINAL", string(r.status), "", "", yuan(fee, 5), billRate, "0.00", yuan(r.refundFee, 2), ""}
	}
	return b.line(fields)
}

// billRate is billFeeRate as the bill writes it.
var billRate = strconv.Itoa(billFeeRate/100) + "." + fmt.Sprintf("%02d", billFeeRate%100) + "%"

// line writes fields, each after a backtick, separated by commas.
func (b *billWriter) line(fields []string) error {
	buf := b.buf[:0]
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '`')
		buf = append(buf, f...)
	}
	buf = append(buf, '\n')
	b.buf = buf
	_, err := b.w.Write(buf)
	return err
}

// close writes the summary and flushes.
func (b *billWriter) close() error {
	n := strconv.FormatInt(b.n, 10)
	var err error
	// As in newBillWriter: b.line's Write returns a failed WriteString's error.
	if b.layout == BillLayoutLegacy {
		_, _ = b.w.WriteString(billSummaryLegacy + "\n")
		err = b.line([]string{n, "0.00", yuan(b.refund, 2), yuan(b.coupon, 2), yuan(b.fee, 5)})
	} else {
		_, _ = b.w.WriteString(billSummaryCurrent + "\n")
		err = b.line([]string{n, "0.00", yuan(b.settlement, 2), "0.00", yuan(b.fee, 5), "0.00", yuan(b.refund, 2)})
	}
	if err != nil {
		return err
	}
	return b.w.Flush()
}

// yuan writes an amount of fen in yuan with decimals (2 or more) decimal
// places: yuan(-11, 5) is "-0.11000".
func yuan(fen int64, decimals int) string {
	var b [32]byte
	out := b[:0]
	u := uint64(fen)
	if fen < 0 {
		out, u = append(out, '-'), -u
	}
	out = strconv.AppendUint(out, u/100, 10)
	out = append(out, '.', byte('0'+u%100/10), byte('0'+u%10))
	for range decimals - 2 {
		out = append(out, '0')
	}
	return string(out)
}

// zeroPad writes n (>= 0) with at least width digits.
func zeroPad(n int, width int) string {
	s := strconv.Itoa(n)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

// serveDownloadBill is /pay/downloadbill, statement download
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6), for
// bill_type REFUND: the refunds the Server accepted on bill_date (China
// time), or SetBill's body for that date. Every failure is an unsigned
// <xml> with return_code FAIL, return_msg and error_code, never gzipped.
func (s *Server) serveDownloadBill(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeBillFail(w, "require POST method", billErrParam)
		return
	}
	body, err := readBody(r.Body)
	switch {
	case errors.Is(err, errTooLarge):
		writePage(w, http.StatusRequestEntityTooLarge, tooLargePage)
		return
	case err != nil || len(strings.TrimSpace(string(body))) == 0:
		writeBillFail(w, "empty post data", billErrParam)
		return
	}
	f, err := decodeXML(body, "xml")
	if err != nil {
		writeBillFail(w, "data format error", billErrParam)
		return
	}
	var signType wxrefund.SignType
	switch t := f["sign_type"]; t {
	case "", string(wxrefund.SignTypeMD5):
		signType = wxrefund.SignTypeMD5
	case string(wxrefund.SignTypeHMACSHA256):
		signType = wxrefund.SignTypeHMACSHA256
	default:
		writeBillFail(w, "invalid sign_type", billErrParam)
		return
	}
	if want := sign(f, s.cfg.apiKey, signType); subtle.ConstantTimeCompare([]byte(want), []byte(f["sign"])) != 1 {
		writeBillFail(w, "SIGN ERROR", billErrParam)
		return
	}
	switch {
	case f["mch_id"] != s.cfg.mchID:
		writeBillFail(w, "invalid mch_id", billErrParam)
		return
	case f["appid"] != s.cfg.appID:
		writeBillFail(w, "invalid appid", billErrParam)
		return
	case f["nonce_str"] == "":
		writeBillFail(w, "missing parameter", billErrParam)
		return
	case len(f["nonce_str"]) > 32:
		writeBillFail(w, "nonce_str too long", billErrParam)
		return
	}
	if msg := s.checkSubMerchant(f, false); msg != "" {
		writeBillFail(w, msg, billErrParam)
		return
	}
	date, ok := f["bill_date"]
	if !ok || date == "" {
		writeBillFail(w, "missing parameter", billErrParam)
		return
	}
	if !validBillDate(date) {
		writeBillFail(w, "invalid bill_date", billErrParam)
		return
	}
	switch t := f["bill_type"]; t {
	case "REFUND":
	case "", "ALL", "SUCCESS", "RECHARGE_REFUND":
		if t == "" {
			t = "ALL (the default)"
		}
		writeBillFail(w, "bill_type "+t+" not supported by wxrefundtest (only REFUND)", billErrParam)
		return
	default:
		writeBillFail(w, "invalid bill_type", billErrParam)
		return
	}
	gz := false
	switch f["tar_type"] {
	case "":
	case "GZIP":
		gz = true
	default:
		writeBillFail(w, "invalid tar_type, Only GZIP supported", billErrParam)
		return
	}

	s.mu.Lock()
	var fail billFailure
	var failed bool
	s.billFailures, fail, failed = s.billFailures.pop()
	custom := s.bills[date]
	var rows []billRow
	if !failed && custom == nil {
		rows = s.billRows(date, f["sub_mch_id"])
	}
	layout := s.cfg.billLayout
	s.mu.Unlock()

	switch {
	case failed:
		writeBillFail(w, fail.returnMsg, fail.errorCode)
		return
	case custom == nil && len(rows) == 0:
		writeBillFail(w, "No Bill Exist", billErrNoBill)
		return
	}
	if custom == nil {
		custom = func(w io.Writer) error {
			bw := newBillWriter(w, layout)
			for i := range rows {
				if err := bw.row(&rows[i]); err != nil {
					return err
				}
			}
			return bw.close()
		}
	}
	if gz {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
		err = custom(zw)
		if err == nil {
			err = zw.Close()
		}
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		err = custom(w)
	}
	if err != nil {
		// The status line is gone: break the connection off so that the
		// client sees a failed download rather than a short bill.
		panic(http.ErrAbortHandler)
	}
}

// billRows returns the lines of the REFUND bill of date (yyyyMMdd): the
// refunds accepted that day in China time, in the order they were accepted,
// only those of sub-merchant subMchID unless it is empty. Called with s.mu
// held.
func (s *Server) billRows(date, subMchID string) []billRow {
	var rows []billRow
	for _, r := range s.ledger {
		if r.createdAt.In(chinaTime).Format("20060102") != date || subMchID != "" && r.order.SubMchID != subMchID {
			continue
		}
		row := billRow{
			accepted:      r.createdAt,
			appID:         s.cfg.appID,
			mchID:         s.cfg.mchID,
			subMchID:      r.order.SubMchID,
			transactionID: r.order.TransactionID,
			outTradeNo:    r.order.OutTradeNo,
			refundID:      r.refundID,
			outRefundNo:   r.outRefundNo,
			refundFee:     r.fee,
			coupon:        r.coupon,
			status:        r.status,
		}
		if row.subMchID == "" {
			row.subMchID = "0"
		}
		if r.status == wxrefund.RefundStatusSuccess {
			row.succeeded = r.successAt
		}
		rows = append(rows, row)
	}
	return rows
}

// validBillDate reports whether s is a date written yyyyMMdd.
func validBillDate(s string) bool {
	if len(s) != 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	_, err := time.ParseInLocation("20060102", s, chinaTime)
	return err == nil
}

// writeBillFail answers a failed bill download: a plain, unsigned <xml>
// with return_code FAIL, return_msg and, unless code is empty, error_code.
func writeBillFail(w http.ResponseWriter, msg, code string) {
	var b strings.Builder
	b.WriteString("<xml><return_code>FAIL</return_code><return_msg>")
	if !utf8.ValidString(msg) {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
	}
	_ = xml.EscapeText(&b, []byte(msg)) // a strings.Builder never fails a write
	b.WriteString("</return_msg>")
	if code != "" {
		b.WriteString("<error_code>")
		_ = xml.EscapeText(&b, []byte(code))
		b.WriteString("</error_code>")
	}
	b.WriteString("</xml>")
	writeXML(w, []byte(b.String()))
}
