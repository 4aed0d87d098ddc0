package wxrefund

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// This file reads the text of a refund bill: a header line, a row per
// refund with a backtick before every value, a summary header and the
// summary row (https://pay.weixin.qq.com/docs/merchant/products/bill-download/format-trade.html).
// RefundBillRecord's documentation says which column fills which field.

// colKind is what a column of the bill's rows holds.
type colKind uint8

const (
	colOther colKind = iota // a column without a field: reachable with Column
	colTradeTime
	colAppID
	colMchID
	colSubMchID
	colDeviceInfo
	colTransactionID
	colOutTradeNo
	colOpenID
	colTradeType
	colTradeState
	colBankType
	colFeeType
	colSettlementTotalFee // 应结订单金额; legacy 总金额 (then also the order total)
	colCouponFee
	colRefundRequestTime
	colRefundSuccessTime
	colRefundID
	colOutRefundNo
	colRefundAmount // 退款金额: the settlement part (current), the whole refund (legacy)
	colRechargeCoupon
	colLegacyCoupon // the coupon refund of the legacy layout
	colRefundType
	colStatus
	colProductName
	colAttach
	colHandlingFee
	colFeeRate
	colTotalFee
	colRequested // 申请退款金额: the whole refund (current layout only)
	colFeeRateRemark
	numColKinds
)

// A kindSet holds a bit for each kind: this fails to compile past 64.
var _ [64 - numColKinds]struct{}

var rowColumns = map[string]colKind{
	"交易时间":         colTradeTime,
	"公众账号ID":       colAppID,
	"商户号":          colMchID,
	"特约商户号":        colSubMchID,
	"子商户号":         colSubMchID,
	"设备号":          colDeviceInfo,
	"微信订单号":        colTransactionID,
	"商户订单号":        colOutTradeNo,
	"用户标识":         colOpenID,
	"交易类型":         colTradeType,
	"交易状态":         colTradeState,
	"付款银行":         colBankType,
	"货币种类":         colFeeType,
	"应结订单金额":       colSettlementTotalFee,
	"总金额":          colSettlementTotalFee,
	"代金券金额":        colCouponFee,
	"代金券或立减优惠金额":   colCouponFee,
	"企业红包金额":       colCouponFee,
	"退款申请时间":       colRefundRequestTime,
	"退款成功时间":       colRefundSuccessTime,
	"微信退款单号":       colRefundID,
	"商户退款单号":       colOutRefundNo,
	"退款金额":         colRefundAmount,
	"充值券退款金额":      colRechargeCoupon,
	"代金券或立减优惠退款金额": colLegacyCoupon,
	"企业红包退款金额":     colLegacyCoupon,
	"退款类型":         colRefundType,
	"退款状态":         colStatus,
	"商品名称":         colProductName,
	"商户数据包":        colAttach,
	"手续费":          colHandlingFee,
	"费率":           colFeeRate,
	"订单金额":         colTotalFee,
	"申请退款金额":       colRequested,
	"费率备注":         colFeeRateRemark,
}

// The columns of the summary row.
const (
	sumOther colKind = iota
	sumCount
	sumSettlementTotal
	sumTotal
	sumRefundAmount // 退款总金额: the settlement part (current), the whole (legacy)
	sumRechargeCoupon
	sumLegacyCoupon
	sumRequested
	sumHandlingFee
)

var summaryColumns = map[string]colKind{
	"总交易单数":    sumCount,
	"应结订单总金额":  sumSettlementTotal,
	"总交易额":     sumSettlementTotal,
	"订单总金额":    sumTotal,
	"退款总金额":    sumRefundAmount,
	"总退款金额":    sumRefundAmount,
	"充值券退款总金额": sumRechargeCoupon,
	// The oldest layout's name is inferred from its row column
	// 企业红包退款金额; no published sample shows it.
	"总代金券或立减优惠退款金额": sumLegacyCoupon,
	"总企业红包退款金额":     sumLegacyCoupon,
	"申请退款总金额":       sumRequested,
	"手续费总金额":        sumHandlingFee,
}

// billOwner is whose bill a download must be: the Client's mch_id, and
// the sub-merchant asked for ("" and !allSubs: none, a direct merchant).
type billOwner struct {
	mchID, subMchID string
	allSubs         bool
}

// eachError carries the error of the caller's each function through the
// parser, so that it is returned as it is (even when it wraps a
// *TransportError of another call).
type eachError struct{ err error }

func (e *eachError) Error() string { return e.err.Error() }
func (e *eachError) Unwrap() error { return e.err }

// billParser converts a bill's values and keeps the first failure, with
// the line it was on.
type billParser struct {
	line  int
	err   error
	owner billOwner

	lastTime string    // the last time parsed,
	last     time.Time // and its value

	// Rows and their lines are allocated in blocks: a row costs no
	// allocation of its own. A row the caller keeps keeps its block.
	rows  []RefundBillRecord
	lines strings.Builder
}

// feeDecimals is how many decimals the fee columns have: their unit is
// 0.00001 CNY.
const feeDecimals = 5

const (
	rowBlock  = 64       // rows allocated at once
	lineBlock = 64 << 10 // bytes of lines allocated at once
)

func (p *billParser) fail(format string, args ...any) {
	p.failWith(ErrMalformed, format, args...)
}

func (p *billParser) failWith(sentinel error, format string, args ...any) {
	if p.err == nil {
		p.err = billError(fmt.Errorf("%w: line %d: %s", sentinel, p.line, fmt.Sprintf(format, args...)))
	}
}

// keep copies a line into the current block and returns it as a string
// that shares the block.
func (p *billParser) keep(b []byte) string {
	if p.lines.Cap()-p.lines.Len() < len(b) {
		p.lines = strings.Builder{}
		p.lines.Grow(max(lineBlock, len(b)))
	}
	start := p.lines.Len()
	p.lines.Write(b)
	return p.lines.String()[start:]
}

// record returns a zeroed record from the current block.
func (p *billParser) record() *RefundBillRecord {
	if len(p.rows) == 0 {
		p.rows = make([]RefundBillRecord, rowBlock)
	}
	r := &p.rows[0]
	p.rows = p.rows[1:]
	return r
}

// decimal reads a yuan amount exactly in units of 10^-decimals yuan: an
// optional minus sign, digits, and at most decimals digits after a point
// ("12" is 12 yuan, "0.0" and "0.01" are fine). Empty is 0. The value is
// never quoted in errors.
func (p *billParser) decimal(v string, decimals int) int64 {
	if v == "" {
		return 0
	}
	neg := v[0] == '-'
	if neg {
		v = v[1:]
	}
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || len(frac) > decimals || dot && frac == "" || !allDigits(whole) || !allDigits(frac) || len(whole) > 12 {
		p.fail("an amount is not a yuan amount with at most %d decimals", decimals)
		return 0
	}
	var n int64
	for i := 0; i < len(whole); i++ { // at most 12 digits: no overflow
		n = n*10 + int64(whole[i]-'0')
	}
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
	if v == p.lastTime {
		return p.last // a row's times are often the same, and its neighbours'
	}
	t, ok := parseTime(v)
	if ok {
		p.lastTime, p.last = v, t
	}
	if !ok {
		var err error
		if t, err = time.ParseInLocation(TimeLayout, v, cst); err != nil {
			p.fail("a time is not of the form %s", TimeLayout)
		}
	}
	return t
}

// id checks an id column against the rules of requests: at most max
// characters of 0-9 A-Z a-z _ - | * @, and present when required.
func (p *billParser) id(v, column string, max int, required bool) string {
	switch {
	case v == "" && required:
		p.fail("%s is empty", column)
	case v != "" && (len(v) > max || !validRefundNo(v)):
		p.fail("%s is not at most %d characters of 0-9 A-Z a-z _ - | * @", column, max)
	}
	return v
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

// parseHeader reads the header line of the rows: every name once, every
// field filled by one column at most, the columns that identify a refund
// and its merchant present, and one layout's amounts: the current one's
// (申请退款金额, 退款金额, 充值券退款金额) or the legacy one's (退款金额 and
// a coupon refund column).
func parseHeader(line string) (*billHeader, error) {
	bad := func(format string, args ...any) (*billHeader, error) {
		return nil, billError(fmt.Errorf("%w: the header %s", ErrMalformed, fmt.Sprintf(format, args...)))
	}
	h, seen, problem := splitHeader(line, rowColumns)
	if problem != "" {
		return bad("%s", problem)
	}
	for _, need := range [...]struct {
		k    colKind
		name string
	}{
		{colTradeTime, "交易时间"}, {colMchID, "商户号"}, {colSubMchID, "特约商户号"}, {colRefundID, "微信退款单号"},
		{colOutRefundNo, "商户退款单号"}, {colRefundAmount, "退款金额"},
	} {
		if !seen.has(need.k) {
			return bad("has no %s column: not a refund bill of a known layout", need.name)
		}
	}
	switch {
	case seen.has(colRequested) && seen.has(colRechargeCoupon) && !seen.has(colLegacyCoupon):
	case !seen.has(colRequested) && !seen.has(colRechargeCoupon) && seen.has(colLegacyCoupon):
		h.legacy = true
	default:
		return bad("mixes the current layout's amounts (申请退款金额, 充值券退款金额) with the legacy one's: the amounts would be ambiguous")
	}
	return h, nil
}

// kindSet is a set of column kinds, a bit each.
type kindSet uint64

func (s kindSet) has(k colKind) bool { return s&(1<<k) != 0 }

// splitHeader reads a header line with the table columns: every name once,
// every kind but colOther (or sumOther) from one column at most. It
// returns the header, the kinds it has and, when it breaks a rule, why.
func splitHeader(line string, columns map[string]colKind) (*billHeader, kindSet, string) {
	h := &billHeader{names: strings.Split(line, ",")}
	if name, twice := repeated(h.names); twice {
		return nil, 0, "names the column " + name + " twice"
	}
	h.kinds = make([]colKind, len(h.names))
	var seen kindSet
	for i, name := range h.names {
		k := columns[name]
		if k != colOther {
			if seen.has(k) {
				return nil, 0, "has two columns for one field (" + name + " and another)"
			}
			seen |= 1 << k
		}
		h.kinds[i] = k
	}
	return h, seen, ""
}

// repeated returns a name that names holds twice, if any, in time linear
// in the names: a header line of 64 KiB can hold thousands.
func repeated(names []string) (string, bool) {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		if _, ok := set[n]; ok {
			return n, true
		}
		set[n] = struct{}{}
	}
	return "", false
}

// parseRow reads the values of a row into r: line is the row, kept.
func (p *billParser) parseRow(h *billHeader, line string, r *RefundBillRecord) {
	r.line, r.hdr = line, h
	rest, ok := strings.CutPrefix(line, "`")
	if !ok {
		p.fail("a row does not start with a backtick")
		return
	}
	var a billAmounts
	last := len(h.kinds) - 1
	for i, k := range h.kinds {
		v := rest
		if i < last {
			j := strings.Index(rest, ",`")
			if j < 0 {
				p.fail("the row has %d values for %d columns", i+1, len(h.kinds))
				return
			}
			v, rest = rest[:j], rest[j+2:]
		} else if strings.Contains(v, ",`") {
			p.fail("the row has %d values for %d columns", len(h.kinds)+strings.Count(v, ",`"), len(h.kinds))
			return
		}
		switch k {
		case colTradeTime:
			r.TradeTime = p.time(v)
		case colAppID:
			r.AppID = v
		case colMchID:
			r.MchID = v
		case colSubMchID:
			if v != "0" {
				r.SubMchID = p.id(v, "the sub-merchant", 32, false)
			}
		case colDeviceInfo:
			r.DeviceInfo = v
		case colTransactionID:
			r.TransactionID = p.id(v, "微信订单号", 32, false)
		case colOutTradeNo:
			r.OutTradeNo = p.id(v, "商户订单号", 32, false)
		case colOpenID:
			r.OpenID = v
		case colTradeType:
			r.TradeType = v
		case colTradeState:
			r.TradeState = v
		case colBankType:
			r.BankType = v
		case colFeeType:
			r.FeeType = v
		case colSettlementTotalFee:
			a.settlementTotal = p.fen(v)
		case colCouponFee:
			r.CouponFee = p.fen(v)
		case colRefundRequestTime:
			r.RefundRequestTime = p.time(v)
		case colRefundSuccessTime:
			r.RefundSuccessTime = p.time(v)
		case colRefundID:
			r.RefundID = p.id(v, "微信退款单号", 32, true)
		case colOutRefundNo:
			r.OutRefundNo = p.id(v, "商户退款单号", 64, true)
		case colRefundAmount:
			a.settlement = p.fen(v)
		case colRechargeCoupon:
			a.recharge = p.fen(v)
		case colLegacyCoupon:
			a.coupon = p.fen(v)
		case colRefundType:
			r.RefundType = v
		case colStatus:
			r.Status = RefundStatus(v)
		case colProductName:
			r.ProductName = v
		case colAttach:
			r.Attach = v
		case colHandlingFee:
			r.HandlingFee = MilliFen(p.decimal(v, feeDecimals))
		case colFeeRate:
			r.FeeRate = v
		case colTotalFee:
			a.total = p.fen(v)
		case colRequested:
			a.whole = p.fen(v)
		case colFeeRateRemark:
			r.FeeRateRemark = v
		}
	}
	if p.err != nil {
		return
	}
	if r.TransactionID == "" && r.OutTradeNo == "" {
		p.fail("the row names no order (微信订单号, 商户订单号)")
		return
	}
	a.resolve(h.legacy)
	switch {
	case a.whole < 0 || a.settlement < 0 || a.recharge < 0:
		p.fail("a negative refund amount")
	case a.settlement > a.whole:
		p.fail("退款金额 exceeds the refund applied for")
	case a.recharge > a.settlement:
		p.fail("the recharge coupon part exceeds the settlement part of the refund")
	}
	r.TotalFee, r.SettlementTotalFee = a.total, a.settlementTotal
	r.RefundFee, r.SettlementRefundFee, r.CouponRefundFee, r.RechargeCouponRefundFee = a.whole, a.settlement, a.coupon, a.recharge
}

// billAmounts are the amounts of a row or of the summary as their columns
// give them: whole is 申请退款金额 (current layout only), settlement
// 退款金额, recharge 充值券退款金额 (current), coupon the legacy layout's
// coupon refund, settlementTotal 应结订单金额 or 总金额, total 订单金额.
type billAmounts struct {
	whole, settlement, recharge, coupon, settlementTotal, total int64
}

// resolve fills in what the layout leaves out, so that each amount means
// what RefundBillRecord's field of that name means. The legacy layout has
// no non-recharge coupons: its settlement amounts are the whole ones, its
// coupons recharge coupons. The current one gives the coupon refund as the
// recharge part plus the non-recharge part, the whole less the settlement.
func (a *billAmounts) resolve(legacy bool) {
	if legacy {
		a.whole, a.recharge, a.total = a.settlement, a.coupon, a.settlementTotal
		return
	}
	a.coupon = a.recharge + (a.whole - a.settlement)
}

// checkOwner refuses a row that is not the owner's.
func (p *billParser) checkOwner(r *RefundBillRecord) {
	o := p.owner
	switch {
	case r.MchID != o.mchID:
		p.failWith(ErrMerchantMismatch, "商户号 is not this Client's mch_id")
	case o.subMchID != "" && r.SubMchID != o.subMchID:
		p.failWith(ErrMerchantMismatch, "the sub-merchant is not the one asked for")
	case o.subMchID == "" && !o.allSubs && r.SubMchID != "":
		p.failWith(ErrMerchantMismatch, "a direct merchant's bill names a sub-merchant (set AllSubMerchants for a service provider's bill)")
	}
}

// billTotals are the sums of the rows so far.
type billTotals struct {
	rows, whole, settlement, recharge int64
}

func (t *billTotals) add(r *RefundBillRecord) bool {
	if t.whole > math.MaxInt64-r.RefundFee || t.settlement > math.MaxInt64-r.SettlementRefundFee ||
		t.recharge > math.MaxInt64-r.RechargeCouponRefundFee {
		return false
	}
	t.rows++
	t.whole += r.RefundFee
	t.settlement += r.SettlementRefundFee
	t.recharge += r.RechargeCouponRefundFee
	return true
}

// parseRefundBill reads the bill text: the header line, the rows (every
// value prefixed with a backtick), the summary header and the summary row,
// with LF or CRLF line ends, an optional UTF-8 byte order mark and trailing
// empty lines. Values are split at ",`" (the backtick that starts the next
// value), so a comma inside a product name does not split it.
func parseRefundBill(br *bufio.Reader, owner billOwner, each func(*RefundBillRecord) error) (*RefundBillSummary, error) {
	p := &billParser{owner: owner}
	next := func() ([]byte, bool, error) {
		p.line++
		line, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, readError(err, "")
		}
		if err != nil && len(line) == 0 {
			return nil, false, nil // the end
		}
		if n := len(line); n > 0 && line[n-1] == '\n' {
			line = line[:n-1]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if !utf8.Valid(line) {
			return nil, false, billError(fmt.Errorf("%w: line %d is not valid UTF-8", ErrMalformed, p.line))
		}
		return line, true, nil
	}
	first, ok, err := next()
	if err != nil {
		return nil, err
	}
	header := strings.TrimPrefix(string(first), "\ufeff")
	if !ok || !strings.HasPrefix(header, "交易时间,") {
		return nil, billError(fmt.Errorf("%w: the bill does not start with its header line", ErrMalformed))
	}
	h, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	var sums billTotals
	for {
		line, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, billError(fmt.Errorf("%w: the bill is truncated: no summary", ErrMalformed))
		}
		if len(line) == 0 {
			continue
		}
		if line[0] != '`' {
			sum, err := p.parseSummary(h, string(line), next)
			if err != nil {
				return nil, err
			}
			if err := sum.check(&sums, h.legacy); err != nil {
				return nil, err
			}
			return sum, nil
		}
		r := p.record()
		p.parseRow(h, p.keep(line), r)
		if p.err == nil {
			p.checkOwner(r)
		}
		if p.err != nil {
			return nil, p.err
		}
		if !sums.add(r) {
			return nil, billError(fmt.Errorf("%w: line %d: the refund total is out of range", ErrMalformed, p.line))
		}
		if err := each(r); err != nil {
			return nil, &eachError{err}
		}
	}
}

// parseSummary reads the summary row after its header line, and the empty
// lines that may follow it.
func (p *billParser) parseSummary(rows *billHeader, header string, next func() ([]byte, bool, error)) (*RefundBillSummary, error) {
	if !strings.HasPrefix(header, "总交易单数") {
		return nil, billError(fmt.Errorf("%w: line %d is neither a row nor the summary header", ErrMalformed, p.line))
	}
	bad := func(format string, args ...any) (*RefundBillSummary, error) {
		return nil, billError(fmt.Errorf("%w: the summary %s", ErrMalformed, fmt.Sprintf(format, args...)))
	}
	h, seen, problem := splitHeader(header, summaryColumns)
	if problem != "" {
		return bad("header %s", problem)
	}
	need := []colKind{sumCount, sumRefundAmount, sumRequested, sumRechargeCoupon}
	if rows.legacy {
		need = []colKind{sumCount, sumRefundAmount, sumLegacyCoupon}
	}
	for _, k := range need {
		if !seen.has(k) {
			return bad("header lacks a total of its layout (总交易单数, the refund totals)")
		}
	}
	if rows.legacy && (seen.has(sumRequested) || seen.has(sumRechargeCoupon)) || !rows.legacy && seen.has(sumLegacyCoupon) {
		return bad("is of the other layout than the rows")
	}

	raw, ok, err := next()
	for err == nil && ok && len(raw) == 0 {
		raw, ok, err = next()
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		return bad("row is missing")
	}
	line := string(raw)
	s := &RefundBillSummary{line: line, hdr: h}
	n := 0
	var a billAmounts
	for i, v := range splitValues(line) {
		n++
		if i >= len(h.kinds) {
			break
		}
		switch h.kinds[i] {
		case sumCount:
			s.Count = p.count(v)
		case sumSettlementTotal:
			a.settlementTotal = p.fen(v)
		case sumTotal:
			a.total = p.fen(v)
		case sumRefundAmount:
			a.settlement = p.fen(v)
		case sumRechargeCoupon:
			a.recharge = p.fen(v)
		case sumLegacyCoupon:
			a.coupon = p.fen(v)
		case sumRequested:
			a.whole = p.fen(v)
		case sumHandlingFee:
			s.HandlingFee = MilliFen(p.decimal(v, feeDecimals))
		}
	}
	if n != len(h.names) || line[0] != '`' {
		return bad("row does not match its header")
	}
	a.resolve(rows.legacy)
	s.TotalFee, s.SettlementTotalFee = a.total, a.settlementTotal
	s.RefundFee, s.SettlementRefundFee, s.CouponRefundFee, s.RechargeCouponRefundFee = a.whole, a.settlement, a.coupon, a.recharge
	for {
		line, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		if strings.TrimSpace(string(line)) != "" {
			return bad("is followed by more text")
		}
	}
	return s, p.err
}

// check refuses a summary that is not the sums of the rows: the count and
// each refund total the layout gives. The handling fee total is not
// checked: WeChat Pay's sample refund bill shows rows with 0.00000 and a
// summary of -0.02000, so its sign convention is not the rows' and a check
// would refuse genuine bills. The order totals describe orders, not the
// refunds, and are not checked either.
func (s *RefundBillSummary) check(t *billTotals, legacy bool) error {
	bad := func(what string, rows, summary int64) error {
		return billError(fmt.Errorf("%w: the rows' %s (%d) do not add up to the summary (%d)", ErrMalformed, what, rows, summary))
	}
	switch {
	case s.Count != t.rows:
		return bad("count", t.rows, s.Count)
	case s.RefundFee != t.whole:
		return bad("refunds in fen", t.whole, s.RefundFee)
	case !legacy && s.SettlementRefundFee != t.settlement:
		return bad("settlement refunds in fen", t.settlement, s.SettlementRefundFee)
	case s.RechargeCouponRefundFee != t.recharge:
		return bad("coupon refunds in fen", t.recharge, s.RechargeCouponRefundFee)
	}
	return nil
}
