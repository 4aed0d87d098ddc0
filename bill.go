package wxrefund

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file downloads and parses the refund bill: the day's refunds as
// WeChat Pay's /pay/downloadbill serves them with bill_type=REFUND. See
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6 (download)
// and its bill format page.

const pathDownloadBill = "/pay/downloadbill"

// DefaultBillTimeout bounds a bill download whose context has no deadline.
// A bill can hold a million rows, so it is longer than DefaultTimeout.
const DefaultBillTimeout = 10 * time.Minute

// ErrBillNotFound reports that WeChat Pay has no bill for the day
// (return_msg "No Bill Exist", error_code 20002): no refund was accepted
// that day, or the date is wrong.
var ErrBillNotFound = errors.New("wxrefund: no bill for that day")

// RefundBillRequest selects a day's refund bill.
type RefundBillRequest struct {
	Date     time.Time // the bill's day in China Standard Time
	SubMchID string    // service-provider mode: one sub-merchant's bill; "" = all of them
}

// RefundBillRecord is one row of a refund bill. Amounts are fen, except Fee.
// The row is written when WeChat Pay accepts the refund and is not updated
// afterwards: Status is the status at that time (query the refund for its
// final one).
type RefundBillRecord struct {
	TradeTime          time.Time // 交易时间: when the refund was accepted, China Standard Time
	AppID, MchID       string    // 公众账号ID (the order's AppID), 商户号
	SubMchID           string    // 特约商户号 (legacy 子商户号); "" for a direct merchant's row (the bill says 0)
	DeviceInfo         string    // 设备号
	TransactionID      string    // 微信订单号
	OutTradeNo         string    // 商户订单号
	OpenID             string    // 用户标识
	TradeType          string    // 交易类型, such as JSAPI
	TradeState         string    // 交易状态: REFUND on refund rows
	BankType           string    // 付款银行
	FeeType            string    // 货币种类, such as CNY
	SettlementTotalFee int64     // 应结订单金额 (legacy 总金额)
	CouponFee          int64     // 代金券金额 (legacy 代金券或立减优惠金额)
	RefundRequestTime  time.Time // 退款申请时间
	RefundSuccessTime  time.Time // 退款成功时间; zero when not (yet) successful
	RefundID           string    // 微信退款单号
	OutRefundNo        string    // 商户退款单号
	RefundFee          int64     // 退款金额: the refund, less non-recharge coupons
	CouponRefundFee    int64     // 充值券退款金额 (legacy 代金券或立减优惠退款金额)
	RefundType         string    // 退款类型, such as ORIGINAL
	Status             RefundStatus
	ProductName        string // 商品名称
	Attach             string // 商户数据包
	Fee                int64  // 手续费, in units of 0.00001 CNY (the bill gives five decimals)
	FeeRate            string // 费率, such as "0.60%"
	TotalFee           int64  // 订单金额 (0 on refund rows)
	RequestedRefundFee int64  // 申请退款金额: the refund applied for; the legacy layout has none, then RefundFee
	FeeRateRemark      string // 费率备注

	// Raw holds every column of the row by its header name, without the
	// backtick the bill puts before each value.
	Raw map[string]string
}

// RefundBillSummary is a refund bill's summary row. Amounts are fen,
// except Fee.
type RefundBillSummary struct {
	Count              int64 // 总交易单数: the rows of the bill
	SettlementTotalFee int64 // 应结订单总金额 (legacy 总交易额)
	RefundFee          int64 // 退款总金额 (legacy 总退款金额)
	CouponRefundFee    int64 // 充值券退款总金额 (legacy 总代金券或立减优惠退款金额)
	Fee                int64 // 手续费总金额, in units of 0.00001 CNY
	TotalFee           int64 // 订单总金额
	RequestedRefundFee int64 // 申请退款总金额

	// Raw holds every column of the summary by its header name.
	Raw map[string]string
}

// DownloadRefundBill downloads the refund bill of req.Date and hands its
// rows to each, one at a time, as they arrive: a bill of a million rows is
// parsed in bounded memory. each returning an error stops the download, and
// DownloadRefundBill returns that error. The summary row is returned once
// the count and the refund total of the rows it handed over agree with it;
// a bill that does not add up, has no summary or breaks off is a
// *MessageError (ErrMalformed), never a silently short bill. So when each
// stores rows, store them in one transaction and commit only on success.
//
// Both layouts WeChat Pay serves are read by their header names (the
// current 29 columns, and the 26 of merchants without non-recharge
// coupons), with unknown extra columns kept in Raw. Money is converted from
// yuan to fen exactly; the fee column, which has five decimals, to units of
// 0.00001 CNY.
//
// A day WeChat Pay has no bill for is an *Error matching ErrBillNotFound;
// "Bill Creating" (the bill is made from 09:00 China Standard Time the next
// day) is an *Error for which IsRetryable is true: try again after 10:00.
// A date in the future or more than three months back is refused before
// any request. No client certificate is needed. The download is not
// retried (rows already handed to each cannot be taken back); with no
// deadline in ctx, DefaultBillTimeout bounds it.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6.
func (c *Client) DownloadRefundBill(ctx context.Context, req *RefundBillRequest, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	day, err := req.validate(time.Now())
	if err != nil {
		return nil, err
	}
	if each == nil {
		return nil, &ValidationError{Reason: "each is nil"}
	}
	if ctx == nil {
		return nil, &ValidationError{Reason: "nil context (use context.Background())"}
	}
	if err := ctx.Err(); err != nil {
		return nil, &TransportError{Op: opBill, Err: err, unsent: true}
	}
	params := [...]param{
		{name: "appid", value: c.appID},
		{name: "bill_date", value: day},
		{name: "bill_type", value: "REFUND"},
		{name: "mch_id", value: c.mchID},
		{name: "nonce_str", value: c.nonce()},
		c.signTypeParam(),
		{name: "sub_mch_id", value: req.SubMchID},
		{name: "tar_type", value: "GZIP"},
	}
	body := c.encodeRequest(params[:])
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return nil, &TransportError{Op: opBill, Err: fmt.Errorf("rate limiter: %w", err), unsent: true}
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultBillTimeout)
		defer cancel()
	}
	start := time.Now()
	sum, err := c.downloadBill(ctx, body, each)
	c.logAttempt(ctx, opBill, c.baseURL, 1, time.Since(start), err)
	return sum, err
}

const opBill = "downloadbill"

// validate checks the request and returns its date as bill_date wants it.
func (r *RefundBillRequest) validate(now time.Time) (string, error) {
	if r == nil {
		return "", &ValidationError{Reason: "the request is nil"}
	}
	if r.Date.IsZero() {
		return "", &ValidationError{"Date", "is not set"}
	}
	y, m, d := r.Date.In(cst).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, cst)
	ty, tm, td := now.In(cst).Date()
	today := time.Date(ty, tm, td, 0, 0, 0, 0, cst)
	switch {
	case day.After(today):
		return "", &ValidationError{"Date", "is in the future"}
	case day.Before(today.AddDate(0, -3, 0)):
		return "", &ValidationError{"Date", "is more than three months back: WeChat Pay keeps bills for three months"}
	}
	if err := checkSubMerchant(r.SubMchID, ""); err != nil {
		return "", err
	}
	return day.Format("20060102"), nil
}

// downloadBill posts body and reads the answer: a failure document, or the
// bill as text or gzip.
func (c *Client) downloadBill(ctx context.Context, body []byte, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+pathDownloadBill, bytes.NewReader(body))
	if err != nil {
		return nil, &TransportError{Op: opBill, Err: err, unsent: true}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("User-Agent", "wxrefund-go")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Op: opBill, Err: withContext(ctx, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := readLimited(resp.Body, maxBody)
		return nil, &MessageError{Op: opBill, StatusCode: resp.StatusCode, Err: statusError(resp.StatusCode, raw)}
	}
	sum, err := readBill(resp.Body, each)
	var me *MessageError
	var te *TransportError
	switch {
	case err == nil:
		return sum, nil
	case errors.As(err, &te), errors.As(err, &me) && ctx.Err() != nil:
		// The body broke off: no usable answer.
		return nil, &TransportError{Op: opBill, StatusCode: resp.StatusCode, Err: withContext(ctx, errors.Unwrap(err))}
	}
	return nil, err
}

// readBill reads a downloadbill answer: WeChat Pay's XML failure document
// (never compressed), or the bill, gzip-compressed or not.
func readBill(r io.Reader, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, billError(fmt.Errorf("%w: the bill is not valid gzip", ErrMalformed))
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 64<<10)
	}
	head, err := br.Peek(16)
	if err != nil && len(head) == 0 {
		return nil, readError(err, "the answer is empty")
	}
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("<xml")) {
		return nil, billFailure(br)
	}
	return parseRefundBill(br, each)
}

// billFailure reads the XML failure answer: unsigned, return_code FAIL,
// with return_msg and a numeric error_code.
func billFailure(r io.Reader) error {
	raw, err := readLimited(r, maxBody)
	if err != nil {
		return readError(err, "")
	}
	fields, err := decodeFlat(raw, "xml")
	if err != nil {
		return billError(err)
	}
	f := fields.toMap()
	if f["return_code"] != "FAIL" {
		return billError(fmt.Errorf("%w: an XML answer that is not a failure", ErrMalformed))
	}
	return &Error{ReturnCode: "FAIL", ReturnMsg: f["return_msg"], ErrCode: f["error_code"]}
}

func billError(err error) error {
	return &MessageError{Op: opBill, StatusCode: http.StatusOK, Err: err}
}

// readError reports a failed read of the bill's body as a transport failure
// (the body broke off), and a line over the limit as a malformed bill.
func readError(err error, empty string) error {
	switch {
	case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, ErrBodyTooLarge):
		return billError(fmt.Errorf("%w: a line of the bill is too long", ErrMalformed))
	case errors.Is(err, io.EOF) && empty != "":
		return billError(fmt.Errorf("%w: %s", ErrMalformed, empty))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return billError(fmt.Errorf("%w: the bill is truncated", ErrMalformed))
	}
	if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
		return billError(fmt.Errorf("%w: the bill's gzip stream is corrupt", ErrMalformed))
	}
	return &TransportError{Op: opBill, StatusCode: http.StatusOK, Err: err}
}

// billColumns maps the header names of both layouts to the record fields;
// summaryColumns those of the summary row.
var billColumns = map[string]func(r *RefundBillRecord, v string, p *billParser){
	"交易时间":         func(r *RefundBillRecord, v string, p *billParser) { r.TradeTime = p.time(v) },
	"公众账号ID":       func(r *RefundBillRecord, v string, _ *billParser) { r.AppID = v },
	"商户号":          func(r *RefundBillRecord, v string, _ *billParser) { r.MchID = v },
	"特约商户号":        func(r *RefundBillRecord, v string, _ *billParser) { r.SubMchID = subMch(v) },
	"子商户号":         func(r *RefundBillRecord, v string, _ *billParser) { r.SubMchID = subMch(v) },
	"设备号":          func(r *RefundBillRecord, v string, _ *billParser) { r.DeviceInfo = v },
	"微信订单号":        func(r *RefundBillRecord, v string, _ *billParser) { r.TransactionID = v },
	"商户订单号":        func(r *RefundBillRecord, v string, _ *billParser) { r.OutTradeNo = v },
	"用户标识":         func(r *RefundBillRecord, v string, _ *billParser) { r.OpenID = v },
	"交易类型":         func(r *RefundBillRecord, v string, _ *billParser) { r.TradeType = v },
	"交易状态":         func(r *RefundBillRecord, v string, _ *billParser) { r.TradeState = v },
	"付款银行":         func(r *RefundBillRecord, v string, _ *billParser) { r.BankType = v },
	"货币种类":         func(r *RefundBillRecord, v string, _ *billParser) { r.FeeType = v },
	"应结订单金额":       func(r *RefundBillRecord, v string, p *billParser) { r.SettlementTotalFee = p.fen(v) },
	"总金额":          func(r *RefundBillRecord, v string, p *billParser) { r.SettlementTotalFee = p.fen(v) },
	"代金券金额":        func(r *RefundBillRecord, v string, p *billParser) { r.CouponFee = p.fen(v) },
	"代金券或立减优惠金额":   func(r *RefundBillRecord, v string, p *billParser) { r.CouponFee = p.fen(v) },
	"退款申请时间":       func(r *RefundBillRecord, v string, p *billParser) { r.RefundRequestTime = p.time(v) },
	"退款成功时间":       func(r *RefundBillRecord, v string, p *billParser) { r.RefundSuccessTime = p.time(v) },
	"微信退款单号":       func(r *RefundBillRecord, v string, _ *billParser) { r.RefundID = v },
	"商户退款单号":       func(r *RefundBillRecord, v string, _ *billParser) { r.OutRefundNo = v },
	"退款金额":         func(r *RefundBillRecord, v string, p *billParser) { r.RefundFee = p.fen(v) },
	"充值券退款金额":      func(r *RefundBillRecord, v string, p *billParser) { r.CouponRefundFee = p.fen(v) },
	"代金券或立减优惠退款金额": func(r *RefundBillRecord, v string, p *billParser) { r.CouponRefundFee = p.fen(v) },
	"退款类型":         func(r *RefundBillRecord, v string, _ *billParser) { r.RefundType = v },
	"退款状态":         func(r *RefundBillRecord, v string, _ *billParser) { r.Status = RefundStatus(v) },
	"商品名称":         func(r *RefundBillRecord, v string, _ *billParser) { r.ProductName = v },
	"商户数据包":        func(r *RefundBillRecord, v string, _ *billParser) { r.Attach = v },
	"手续费":          func(r *RefundBillRecord, v string, p *billParser) { r.Fee = p.decimal(v, feeDecimals) },
	"费率":           func(r *RefundBillRecord, v string, _ *billParser) { r.FeeRate = v },
	"订单金额":         func(r *RefundBillRecord, v string, p *billParser) { r.TotalFee = p.fen(v) },
	"申请退款金额":       func(r *RefundBillRecord, v string, p *billParser) { r.RequestedRefundFee = p.fen(v) },
	"费率备注":         func(r *RefundBillRecord, v string, _ *billParser) { r.FeeRateRemark = v },
}

var summaryColumns = map[string]func(s *RefundBillSummary, v string, p *billParser){
	"总交易单数":         func(s *RefundBillSummary, v string, p *billParser) { s.Count = p.count(v) },
	"应结订单总金额":       func(s *RefundBillSummary, v string, p *billParser) { s.SettlementTotalFee = p.fen(v) },
	"总交易额":          func(s *RefundBillSummary, v string, p *billParser) { s.SettlementTotalFee = p.fen(v) },
	"退款总金额":         func(s *RefundBillSummary, v string, p *billParser) { s.RefundFee = p.fen(v) },
	"总退款金额":         func(s *RefundBillSummary, v string, p *billParser) { s.RefundFee = p.fen(v) },
	"充值券退款总金额":      func(s *RefundBillSummary, v string, p *billParser) { s.CouponRefundFee = p.fen(v) },
	"总代金券或立减优惠退款金额": func(s *RefundBillSummary, v string, p *billParser) { s.CouponRefundFee = p.fen(v) },
	"手续费总金额":        func(s *RefundBillSummary, v string, p *billParser) { s.Fee = p.decimal(v, feeDecimals) },
	"订单总金额":         func(s *RefundBillSummary, v string, p *billParser) { s.TotalFee = p.fen(v) },
	"申请退款总金额":       func(s *RefundBillSummary, v string, p *billParser) { s.RequestedRefundFee = p.fen(v) },
}

// feeDecimals is how many decimals the fee columns have: their unit is
// 0.00001 CNY.
const feeDecimals = 5

// subMch is the sub-merchant of a row: the bill writes 0 for none.
func subMch(v string) string {
	if v == "0" {
		return ""
	}
	return v
}

// billParser converts a bill's values and keeps the first failure, with
// the line it was on.
type billParser struct {
	line int
	err  error
}

func (p *billParser) fail(format string, args ...any) {
	if p.err == nil {
		p.err = billError(fmt.Errorf("%w: line %d: %s", ErrMalformed, p.line, fmt.Sprintf(format, args...)))
	}
}

// decimal reads a yuan amount exactly in units of 10^-decimals yuan: an
// optional minus sign, digits, and at most decimals digits after a point
// ("12" is 12 yuan, "0.0" and "0.01" are fine). Empty is 0. The value is
// never quoted in errors.
func (p *billParser) decimal(v string, decimals int) int64 {
	if v == "" {
		return 0
	}
	neg := strings.HasPrefix(v, "-")
	if neg {
		v = v[1:]
	}
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || len(frac) > decimals || dot && frac == "" || !allDigits(whole) || !allDigits(frac) || len(whole) > 12 {
		p.fail("an amount is not a yuan amount with at most %d decimals", decimals)
		return 0
	}
	n, _ := strconv.ParseInt(whole, 10, 64) // at most 12 digits: no overflow
	for i := range decimals {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	if neg {
		n = -n
	}
	return n
}

func (p *billParser) fen(v string) int64 { return p.decimal(v, 2) }

func (p *billParser) count(v string) int64 {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		p.fail("the row count is not a count")
	}
	return n
}

func (p *billParser) time(v string) time.Time {
	if v == "" {
		return time.Time{}
	}
	t, ok := parseTime(v)
	if !ok {
		var err error
		if t, err = time.ParseInLocation(TimeLayout, v, cst); err != nil {
			p.fail("a time is not of the form %s", TimeLayout)
		}
	}
	return t
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxBillLine bounds one line of a bill (a row is a few hundred bytes).
const maxBillLine = 64 << 10

// parseRefundBill reads the bill text: the header line, the rows (every
// value prefixed with a backtick), the summary header and the summary row,
// with LF or CRLF line ends, an optional UTF-8 byte order mark and trailing
// empty lines. Values are split at ",`" (the backtick that starts the next
// value), so a comma inside a product name does not split it.
func parseRefundBill(br *bufio.Reader, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	p := &billParser{}
	next := func() (string, bool, error) {
		p.line++
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", false, readError(err, "")
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return "", false, readError(err, "")
		}
		if err != nil && len(line) == 0 {
			return "", false, nil // the end
		}
		s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
		return s, true, nil
	}
	header, ok, err := next()
	if err != nil {
		return nil, err
	}
	header = strings.TrimPrefix(header, "\ufeff")
	if !ok || !strings.HasPrefix(header, "交易时间,") {
		return nil, billError(fmt.Errorf("%w: the bill does not start with its header line", ErrMalformed))
	}
	names := strings.Split(header, ",")
	if !contains(names, "退款金额") || !contains(names, "商户退款单号") {
		return nil, billError(fmt.Errorf("%w: the header has no 退款金额 or 商户退款单号 column: not a refund bill", ErrMalformed))
	}
	var rows, refunded, coupons, requested int64
	for {
		line, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, billError(fmt.Errorf("%w: the bill is truncated: no summary", ErrMalformed))
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "总交易单数") {
			sum, err := parseSummary(p, line, next)
			if err != nil {
				return nil, err
			}
			if sum.Count != rows || sum.RefundFee != refunded {
				return nil, billError(fmt.Errorf("%w: the rows (%d, %d fen) do not add up to the summary (%d, %d fen)",
					ErrMalformed, rows, refunded, sum.Count, sum.RefundFee))
			}
			// The coupon and requested totals are checked too, so that a
			// summary value cut short ("12" for "123.45") cannot pass. The
			// fee total is not: WeChat's sample refund bill shows rows with
			// 0.00000 and a summary of -0.02000, so its sign convention is
			// not the rows' and a check would reject genuine bills.
			if sum.CouponRefundFee != coupons {
				return nil, billError(fmt.Errorf("%w: the rows' coupon refunds (%d fen) do not add up to the summary (%d fen)",
					ErrMalformed, coupons, sum.CouponRefundFee))
			}
			if _, ok := sum.Raw["申请退款总金额"]; ok && contains(names, "申请退款金额") && sum.RequestedRefundFee != requested {
				return nil, billError(fmt.Errorf("%w: the rows' requested refunds (%d fen) do not add up to the summary (%d fen)",
					ErrMalformed, requested, sum.RequestedRefundFee))
			}
			return sum, nil
		}
		values, ok := splitRow(line)
		if !ok || len(values) != len(names) {
			return nil, billError(fmt.Errorf("%w: line %d has %d values for %d columns", ErrMalformed, p.line, len(values), len(names)))
		}
		r := &RefundBillRecord{Raw: make(map[string]string, len(names))}
		for i, name := range names {
			r.Raw[name] = values[i]
			if set := billColumns[name]; set != nil {
				set(r, values[i], p)
			}
		}
		if !contains(names, "申请退款金额") {
			r.RequestedRefundFee = r.RefundFee // the legacy layout
		}
		if p.err != nil {
			return nil, p.err
		}
		if r.RefundFee < 0 || r.RequestedRefundFee < 0 || r.CouponRefundFee < 0 {
			return nil, billError(fmt.Errorf("%w: line %d: a negative refund amount", ErrMalformed, p.line))
		}
		if refunded > math.MaxInt64-r.RefundFee || coupons > math.MaxInt64-r.CouponRefundFee ||
			requested > math.MaxInt64-r.RequestedRefundFee {
			return nil, billError(fmt.Errorf("%w: line %d: the refund total is out of range", ErrMalformed, p.line))
		}
		rows++
		refunded += r.RefundFee
		coupons += r.CouponRefundFee
		requested += r.RequestedRefundFee
		if err := each(r); err != nil {
			return nil, err
		}
	}
}

// parseSummary reads the summary row after its header line.
func parseSummary(p *billParser, header string, next func() (string, bool, error)) (*RefundBillSummary, error) {
	names := strings.Split(header, ",")
	line, ok, err := next()
	for err == nil && ok && line == "" {
		line, ok, err = next()
	}
	if err != nil {
		return nil, err
	}
	values, valid := splitRow(line)
	if !ok || !valid || len(values) != len(names) {
		return nil, billError(fmt.Errorf("%w: the summary row is missing or does not match its header", ErrMalformed))
	}
	s := &RefundBillSummary{Raw: make(map[string]string, len(names))}
	for i, name := range names {
		s.Raw[name] = values[i]
		if set := summaryColumns[name]; set != nil {
			set(s, values[i], p)
		}
	}
	if _, ok := s.Raw["总交易单数"]; !ok {
		return nil, billError(fmt.Errorf("%w: the summary has no 总交易单数", ErrMalformed))
	}
	for {
		line, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if strings.TrimSpace(line) != "" {
			return nil, billError(fmt.Errorf("%w: text after the summary", ErrMalformed))
		}
	}
	return s, p.err
}

// splitRow splits a row whose every value starts with a backtick.
func splitRow(line string) ([]string, bool) {
	rest, ok := strings.CutPrefix(line, "`")
	if !ok {
		return nil, false
	}
	return strings.Split(rest, ",`"), true
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
