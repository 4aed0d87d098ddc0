package wxrefund

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file downloads the refund bill: the day's refunds as WeChat Pay's
// /pay/downloadbill serves them with bill_type=REFUND. See
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_6 (download)
// and the bill format page,
// https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html.
// billparse.go reads the bill's text.

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
	// Date is the bill's day: the calendar date of Date in [ChinaTime],
	// whatever Date's own location. The bill of a day lists the refunds
	// WeChat Pay accepted that day in China Standard Time, so a refund
	// belongs to the bill of its RefundBillRecord.TradeTime.In(ChinaTime)
	// date. time.Date(2024, 6, 3, 0, 0, 0, 0, wxrefund.ChinaTime) names
	// 3 June 2024; the same instant written in UTC (2 June, 16:00) names
	// the same bill.
	Date time.Time

	// Service-provider mode (服务商): SubMchID asks for one sub-merchant's
	// bill; AllSubMerchants, with SubMchID empty, for the bill of all of
	// them. With neither, the Client is taken for a direct merchant, and a
	// row that names a sub-merchant is refused.
	SubMchID        string
	AllSubMerchants bool
}

// MilliFen is an amount in thousandths of a fen, 0.00001 CNY: the unit of
// the refund bill's handling fee (手续费), which WeChat Pay writes in yuan
// with five decimals. MilliFen(-2000) is -0.02 CNY, or -2 fen.
type MilliFen int64

// String writes m in yuan with five decimals, as the bill does:
// MilliFen(-2000) is "-0.02000".
func (m MilliFen) String() string {
	var b [32]byte
	out := b[:0]
	u := uint64(m)
	if m < 0 {
		out, u = append(out, '-'), -u
	}
	out = strconv.AppendUint(out, u/100000, 10)
	out = append(out, '.')
	frac := strconv.AppendUint(nil, u%100000, 10)
	for range 5 - len(frac) {
		out = append(out, '0')
	}
	return string(append(out, frac...))
}

// RefundBillRecord is one row of a refund bill. Amounts are fen, except
// HandlingFee. The row is written when WeChat Pay accepts the refund and is
// not updated afterwards: Status is the status at that time (query the
// refund for its final one).
//
// Every amount means what the field of the same name means on
// [RefundResponse] and [RefundRecord], whichever of its two layouts WeChat
// Pay serves the merchant: RefundFee is the whole refund,
// SettlementRefundFee the part left after non-recharge coupons (免充值券),
// CouponRefundFee the part paid back to coupons of both kinds. The columns
// behind each field, in each layout:
//
//	field                    current layout (29 columns)               legacy layout (26 columns)
//	RefundFee                申请退款金额                              退款金额
//	SettlementRefundFee      退款金额                                  退款金额 (a)
//	CouponRefundFee          充值券退款金额 + 申请退款金额 - 退款金额  代金券或立减优惠退款金额 (b)
//	RechargeCouponRefundFee  充值券退款金额                            代金券或立减优惠退款金额 (a, b)
//	TotalFee                 订单金额                                  总金额 (a)
//	SettlementTotalFee       应结订单金额                              总金额
//	CouponFee                代金券金额                                代金券或立减优惠金额 (b)
//	HandlingFee              手续费                                    手续费
//	SubMchID                 特约商户号 (0: none)                      子商户号 (0: none)
//
// Sources: the current layout and its columns are WeChat Pay's trade bill
// format page. The refund API pages
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 and 9_5)
// give refund_fee and settlement_refund_fee the bill's column names,
// 申请退款金额 and 退款金额, and define
//
//	退款金额=申请退款金额-非充值代金券退款金额
//
// so the non-recharge coupon part is what the two differ by; coupon_type
// CASH is a recharge coupon (充值代金券). The legacy header is that of the
// earlier v2 downloadbill page.
//
// (a) Where the sources are silent, this reading is chosen: the format page
// says a merchant keeps the legacy layout until it enables non-recharge
// coupons, so a legacy bill has no non-recharge part. Its settlement
// amounts are then the whole amounts, and its coupons recharge coupons.
//
// (b) The oldest bills name these columns 企业红包退款金额 and 企业红包金额
// (the format page maps 企业红包金额 to 代金券金额); they are read the same.
//
// Columns this type has no field for stay reachable with
// [RefundBillRecord.Column].
type RefundBillRecord struct {
	TradeTime     time.Time // 交易时间: when the refund was accepted, in ChinaTime; it decides the bill's day
	AppID, MchID  string    // 公众账号ID (the order's AppID: one mch_id serves several), 商户号
	SubMchID      string    // the sub-merchant; "" for a direct merchant's row (the bill says 0)
	DeviceInfo    string    // 设备号
	TransactionID string    // 微信订单号
	OutTradeNo    string    // 商户订单号
	OpenID        string    // 用户标识
	TradeType     string    // 交易类型, such as JSAPI
	TradeState    string    // 交易状态: REFUND on refund rows
	BankType      string    // 付款银行
	FeeType       string    // 货币种类, such as CNY

	// The order's amounts (0 on refund rows in WeChat Pay's samples).
	TotalFee, SettlementTotalFee, CouponFee int64

	RefundRequestTime time.Time // 退款申请时间
	RefundSuccessTime time.Time // 退款成功时间; zero when not (yet) successful
	RefundID          string    // 微信退款单号
	OutRefundNo       string    // 商户退款单号

	// The refund's amounts, as listed in the type's documentation.
	RefundFee, SettlementRefundFee, CouponRefundFee, RechargeCouponRefundFee int64

	RefundType    string // 退款类型, such as ORIGINAL
	Status        RefundStatus
	ProductName   string   // 商品名称
	Attach        string   // 商户数据包
	HandlingFee   MilliFen // 手续费, the handling fee given back (negative) or charged
	FeeRate       string   // 费率, such as "0.60%"
	FeeRateRemark string   // 费率备注

	line string      // the row, its values split at ",`"
	hdr  *billHeader // the bill's header
}

// Column returns the value of the column the bill's header names name
// (such as "费率备注"), without the backtick the bill puts before each
// value, and whether the bill has that column. It reaches columns this
// package has no field for.
func (r *RefundBillRecord) Column(name string) (string, bool) {
	return r.hdr.value(r.line, name)
}

// Columns yields every column of the row, as the header names it, with its
// value, in the bill's order.
func (r *RefundBillRecord) Columns() iter.Seq2[string, string] {
	return r.hdr.values(r.line)
}

// RefundBillSummary is a refund bill's summary row: the count of its rows
// and the totals of their amounts. Amounts are fen, except HandlingFee,
// and mean what the fields of the same name of [RefundBillRecord] mean.
// [Client.DownloadRefundBill] returns it only when Count and the refund
// totals agree with the rows.
type RefundBillSummary struct {
	Count int64 // 总交易单数: the rows of the bill

	// The order totals: 订单总金额 and 应结订单总金额 (legacy: 总交易额 for
	// both).
	TotalFee, SettlementTotalFee int64

	// The refund totals: 申请退款总金额 and 退款总金额, the coupon part
	// derived from them as on the rows, and 充值券退款总金额 (legacy:
	// 总退款金额 and 总代金券或立减优惠退款金额).
	RefundFee, SettlementRefundFee, CouponRefundFee, RechargeCouponRefundFee int64

	HandlingFee MilliFen // 手续费总金额

	line string
	hdr  *billHeader
}

// Column returns the value of the summary column name (such as "手续费总金额")
// and whether the summary has it.
func (s *RefundBillSummary) Column(name string) (string, bool) {
	return s.hdr.value(s.line, name)
}

// Columns yields every column of the summary with its value.
func (s *RefundBillSummary) Columns() iter.Seq2[string, string] {
	return s.hdr.values(s.line)
}

// DownloadRefundBill downloads the refund bill of req.Date and hands its
// rows to each, one at a time, as they arrive: a bill of a million rows is
// parsed in bounded memory. each returning an error stops the download, and
// DownloadRefundBill returns that error. The summary row is returned once
// the count and the refund totals of the rows it handed over agree with it;
// a bill that does not add up, has no summary or breaks off is a
// *MessageError ([ErrMalformed]), never a silently short bill. So when each
// stores rows, store them in one transaction and commit only on success.
//
// Every row must be this merchant's: a row whose 商户号 is not the Client's
// mch_id, or whose sub-merchant is not the one req asks for (none, for a
// direct merchant), ends the download with [ErrMerchantMismatch]. Rows of
// any AppID are accepted. Ids follow the rules of requests (0-9 A-Z a-z
// _ - | * @), the whole bill must be valid UTF-8, and a header that names a
// column twice, or mixes the two layouts, is refused ([ErrMalformed]).
// Both layouts are read by their header names (see [RefundBillRecord]).
//
// A day WeChat Pay has no bill for is an *Error matching [ErrBillNotFound];
// "Bill Creating" (the bill is made from 09:00 China Standard Time the next
// day) is an *Error for which [IsRetryable] is true: try again after 10:00.
// A date in the future or more than three months back is refused before
// any request. No client certificate is needed. With [WithFailover], a
// download that failed without an answer or with a 5xx before any row
// reached each goes to the other domain; once a row has reached each,
// nothing is retried (it cannot be taken back). With no deadline in ctx,
// [DefaultBillTimeout] bounds it.
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
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultBillTimeout)
		defer cancel()
	}
	owner := billOwner{mchID: c.mchID, subMchID: req.SubMchID, allSubs: req.AllSubMerchants}
	handed := false
	counted := func(r *RefundBillRecord) error {
		handed = true
		return each(r)
	}
	var sum *RefundBillSummary
	err = c.overDomains(ctx, opBill, 1, func() bool { return !handed }, func(base string) (err error) {
		if err := c.waitLimiter(ctx, opBill); err != nil {
			return err
		}
		start := time.Now()
		sum, err = c.downloadBill(ctx, base, body, owner, counted)
		c.logAttempt(ctx, opBill, base, 1, time.Since(start), err)
		return err
	})
	if err != nil {
		return nil, err
	}
	return sum, nil
}

// validate checks the request and returns its date as bill_date wants it.
func (r *RefundBillRequest) validate(now time.Time) (string, error) {
	if r == nil {
		return "", &ValidationError{Reason: "the request is nil"}
	}
	if r.Date.IsZero() {
		return "", &ValidationError{"Date", "is not set"}
	}
	day := billDay(r.Date)
	today := billDay(now)
	switch {
	case day.After(today):
		return "", &ValidationError{"Date", "is in the future"}
	case day.Before(today.AddDate(0, -3, 0)):
		return "", &ValidationError{"Date", "is more than three months back: WeChat Pay keeps bills for three months"}
	}
	if err := checkSubMerchant(r.SubMchID, ""); err != nil {
		return "", err
	}
	if r.AllSubMerchants && r.SubMchID != "" {
		return "", &ValidationError{"AllSubMerchants", "asks for every sub-merchant's bill: leave SubMchID empty"}
	}
	return day.Format("20060102"), nil
}

// billDay is the start of t's calendar day in China Standard Time.
func billDay(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst)
}

// downloadBill posts body to base and reads the answer: a failure
// document, or the bill as text or gzip.
func (c *Client) downloadBill(ctx context.Context, base string, body []byte, owner billOwner, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+pathDownloadBill, bytes.NewReader(body))
	if err != nil {
		return nil, &TransportError{Op: opBill, Err: err, unsent: true}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("User-Agent", "wxrefund-go")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Op: opBill, Err: withContext(ctx, err)}
	}
	defer func() { _ = resp.Body.Close() }() // read from, not written to: its Close has nothing to report
	if resp.StatusCode != http.StatusOK {
		raw, _ := readLimited(resp.Body, maxBody)
		return nil, &MessageError{Op: opBill, StatusCode: resp.StatusCode, Err: statusError(resp.StatusCode, raw)}
	}
	sum, err := readBill(resp.Body, owner, each)
	var me *MessageError
	var te *TransportError
	var ee *eachError
	switch {
	case err == nil:
		return sum, nil
	case errors.As(err, &ee):
		return nil, ee.err
	case errors.As(err, &te), errors.As(err, &me) && ctx.Err() != nil:
		// The body broke off: no usable answer.
		return nil, &TransportError{Op: opBill, StatusCode: resp.StatusCode, Err: withContext(ctx, errors.Unwrap(err))}
	}
	return nil, err
}

// readBill reads a downloadbill answer: WeChat Pay's XML failure document
// (never compressed), or the bill, gzip-compressed or not.
func readBill(r io.Reader, owner billOwner, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	body := &bodyReader{r: r}
	sum, err := readBillFrom(body, owner, each)
	var ee *eachError
	if err != nil && body.err != nil && !errors.As(err, &ee) {
		// The body itself failed (it broke off), whatever the failure
		// looked like to the parser (a truncated gzip stream, say).
		return nil, &TransportError{Op: opBill, StatusCode: http.StatusOK, Err: body.err}
	}
	return sum, err
}

// bodyReader remembers the first failure of r other than its end.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

func readBillFrom(r io.Reader, owner billOwner, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, billError(fmt.Errorf("%w: the bill is not valid gzip", ErrMalformed))
		}
		// Close only repeats a decompression error the reads already returned.
		defer func() { _ = zr.Close() }()
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
	return parseRefundBill(br, owner, each)
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

// billHeader is a header line of the bill, or of its summary, with what
// each column holds.
type billHeader struct {
	names  []string
	kinds  []colKind // of the rows, or sumKind values for the summary
	legacy bool      // the rows have the legacy layout
}

// index is the position of the column name, or -1.
func (h *billHeader) index(name string) int {
	if h == nil {
		return -1
	}
	for i, n := range h.names {
		if n == name {
			return i
		}
	}
	return -1
}

// value is the value of column name in line.
func (h *billHeader) value(line, name string) (string, bool) {
	i := h.index(name)
	if i < 0 {
		return "", false
	}
	for j, v := range splitValues(line) {
		if j == i {
			return v, true
		}
	}
	return "", false
}

// values yields the columns of line with their names.
func (h *billHeader) values(line string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if h == nil {
			return
		}
		for j, v := range splitValues(line) {
			if j >= len(h.names) || !yield(h.names[j], v) {
				return
			}
		}
	}
}

// splitValues yields the values of a row, whose every value starts with a
// backtick, split at ",`" (so a comma inside a product name does not split
// it).
func splitValues(line string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		rest, ok := strings.CutPrefix(line, "`")
		for i := 0; ok; i++ {
			v, more, found := strings.Cut(rest, ",`")
			if !yield(i, v) || !found {
				return
			}
			rest = more
		}
	}
}
