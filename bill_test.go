package wxrefund

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	blHeader = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类," +
		"应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态," +
		"商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	blSummaryHeader = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
	// A row as WeChat Pay's format page and its sample show it.
	blRow = "`2019-07-23 20:53:36,`wx2421b1c4370ec43b,`1900000109,`1900000110,`,`4200000000201907230000000001," +
		"`ORDER001,`oUser0001,`JSAPI,`REFUND,`CFT,`CNY,`0.00,`0.00,`2019-07-23 20:53:36,`2019-07-23 20:53:40," +
		"`50000000002019072300000000001,`REFUND001,`0.01,`0.00,`ORIGINAL,`SUCCESS,`Goods,`attach,`0.00000,`0.60%,`0.00,`0.01,`"

	blLegacyHeader = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类," +
		"总金额,代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态," +
		"商品名称,商户数据包,手续费,费率"
	blLegacySummaryHeader = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"
	blLegacyRow           = "`2016-03-02 10:11:12,`wx2421b1c4370ec43b,`1900000109,`0,`,`4200000000201603020000000001," +
		"`ORD2,`oUser2,`NATIVE,`REFUND,`CMB_CREDIT,`CNY,`0.0,`0,`2016-03-02 10:11:12,`,`50000000002016030200000000002," +
		"`RF2,`12,`0,`ORIGINAL,`PROCESSING,`Tea,`,`-0.07200,`0.60%"
)

// blBill joins lines as a bill with LF line ends.
func blBill(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// blProvider reads bills as a service provider asking for all of its
// sub-merchants; blDirect as a direct merchant. Both are the vectors'
// merchant.
var (
	blProvider = billOwner{mchID: mtMchID, allSubs: true}
	blDirect   = billOwner{mchID: mtMchID}
)

// blParse reads a bill body as DownloadRefundBill does for a provider,
// collecting rows.
func blParse(body string) ([]*RefundBillRecord, *RefundBillSummary, error) {
	return blParseAs(blProvider, body)
}

func blParseAs(owner billOwner, body string) ([]*RefundBillRecord, *RefundBillSummary, error) {
	var rows []*RefundBillRecord
	sum, err := readBill(strings.NewReader(body), owner, func(r *RefundBillRecord) error { rows = append(rows, r); return nil })
	return rows, sum, err
}

func TestParseRefundBillCurrentLayout(t *testing.T) {
	t.Parallel()
	rows, sum, err := blParse(blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01"))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	cst := time.FixedZone("CST", 8*3600)
	assert.True(t, r.TradeTime.Equal(time.Date(2019, 7, 23, 20, 53, 36, 0, cst)))
	assert.True(t, r.RefundSuccessTime.Equal(time.Date(2019, 7, 23, 20, 53, 40, 0, cst)))
	assert.Equal(t, "1900000110", r.SubMchID)
	assert.Equal(t, "4200000000201907230000000001", r.TransactionID)
	assert.Equal(t, "ORDER001", r.OutTradeNo)
	assert.Equal(t, "50000000002019072300000000001", r.RefundID)
	assert.Equal(t, "REFUND001", r.OutRefundNo)
	assert.EqualValues(t, 1, r.RefundFee)
	assert.EqualValues(t, 1, r.SettlementRefundFee)
	assert.EqualValues(t, 0, r.CouponRefundFee)
	assert.Equal(t, RefundStatusSuccess, r.Status)
	assert.Equal(t, "ORIGINAL", r.RefundType)
	assert.Equal(t, "REFUND", r.TradeState)
	assert.Equal(t, "0.60%", r.FeeRate)
	assert.Equal(t, "Goods", r.ProductName)
	v, ok := r.Column("退款金额")
	assert.True(t, ok)
	assert.Equal(t, "0.01", v)
	_, ok = r.Column("没有的列")
	assert.False(t, ok)
	n := 0
	for name, v := range r.Columns() {
		if n++; n == 29 {
			assert.Equal(t, "费率备注", name)
			assert.Empty(t, v)
		}
	}
	assert.Equal(t, 29, n)
	assert.EqualValues(t, 1, sum.Count)
	assert.EqualValues(t, 1, sum.RefundFee)
	assert.EqualValues(t, -2000, sum.HandlingFee, "0.00001 CNY units")
	assert.Equal(t, "-0.02000", sum.HandlingFee.String())
	v, _ = sum.Column("手续费总金额")
	assert.Equal(t, "-0.02000", v)
}

func TestParseRefundBillLegacyLayout(t *testing.T) {
	t.Parallel()
	rows, sum, err := blParseAs(blDirect, blBill(blLegacyHeader, blLegacyRow, blLegacySummaryHeader, "`1,`0.0,`12,`0,`-0.07200"))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Empty(t, r.SubMchID, "0 means no sub-merchant")
	assert.EqualValues(t, 1200, r.RefundFee, "12 yuan")
	assert.EqualValues(t, 1200, r.SettlementRefundFee, "no non-recharge coupons in the legacy layout")
	assert.EqualValues(t, -7200, r.HandlingFee)
	assert.True(t, r.RefundSuccessTime.IsZero())
	assert.Equal(t, RefundStatusProcessing, r.Status)
	assert.EqualValues(t, 1200, sum.RefundFee)
	assert.EqualValues(t, 1200, sum.SettlementRefundFee)
}

func TestMilliFenString(t *testing.T) {
	t.Parallel()
	for m, want := range map[MilliFen]string{0: "0.00000", -2000: "-0.02000", 7: "0.00007", 123456789: "1234.56789", -100000: "-1.00000"} {
		assert.Equal(t, want, m.String())
	}
}

// blRecord clears what only says where a record came from, so that records
// read from different bills compare equal.
func blRecord(r *RefundBillRecord) RefundBillRecord {
	c := *r
	c.line, c.hdr = "", nil
	return c
}

// blDownload serves body as the bill of a mutual-TLS server and downloads
// it as a direct merchant, collecting rows.
func blDownload(t *testing.T, body string) ([]*RefundBillRecord, *RefundBillSummary, error) {
	t.Helper()
	c, mux := setup(t)
	blServe(t, mux, body)
	var rows []*RefundBillRecord
	sum, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: time.Now()},
		func(r *RefundBillRecord) error { rows = append(rows, r); return nil })
	return rows, sum, err
}

// One meaning per amount: the same refunds written in both layouts read as
// identical records, whose amounts mean what RefundResponse's do. A refund
// of 30.00 with 3.00 paid back to a recharge coupon (the only kind a
// merchant of the legacy layout has), of an order of 50.00 with a coupon of
// 5.00; and a refund of 0.01 without coupons.
func TestRefundBillAmountsMeanTheSameInBothLayouts(t *testing.T) {
	t.Parallel()
	const (
		row1 = "`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000001,`O1,`,`JSAPI,`REFUND," +
			"`CFT,`CNY,`50.00,`5.00,`2024-06-03 10:15:42,`2024-06-03 10:16:12,`50300000000202406030000000001,`R1,"
		row2 = "`2024-06-03 11:00:00,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND," +
			"`CFT,`CNY,`0.00,`0.00,`2024-06-03 11:00:00,`,`50300000000202406030000000002,`R2,"
	)
	current := blBill(blHeader,
		row1+"`30.00,`3.00,`ORIGINAL,`SUCCESS,`,`,`-0.16000,`0.60%,`50.00,`30.00,`",
		row2+"`0.01,`0.00,`ORIGINAL,`PROCESSING,`,`,`0.00000,`0.60%,`0.00,`0.01,`",
		blSummaryHeader, "`2,`50.00,`30.01,`3.00,`-0.16000,`50.00,`30.01")
	legacy := blBill(blLegacyHeader,
		row1+"`30.00,`3.00,`ORIGINAL,`SUCCESS,`,`,`-0.16000,`0.60%",
		row2+"`0.01,`0.00,`ORIGINAL,`PROCESSING,`,`,`0.00000,`0.60%",
		blLegacySummaryHeader, "`2,`50.00,`30.01,`3.00,`-0.16000")
	cur, curSum, err := blDownload(t, current)
	require.NoError(t, err)
	leg, legSum, err := blDownload(t, legacy)
	require.NoError(t, err)
	require.Len(t, cur, 2)
	require.Len(t, leg, 2)
	for i := range cur {
		assert.Equal(t, blRecord(cur[i]), blRecord(leg[i]), "row %d", i)
	}
	r := cur[0]
	assert.EqualValues(t, 3000, r.RefundFee, "the whole refund")
	assert.EqualValues(t, 3000, r.SettlementRefundFee, "a recharge coupon is settled")
	assert.EqualValues(t, 300, r.CouponRefundFee)
	assert.EqualValues(t, 300, r.RechargeCouponRefundFee)
	assert.EqualValues(t, 5000, r.TotalFee)
	assert.EqualValues(t, 5000, r.SettlementTotalFee)
	assert.EqualValues(t, 500, r.CouponFee)
	assert.EqualValues(t, -16000, r.HandlingFee)

	curSum.line, curSum.hdr, legSum.line, legSum.hdr = "", nil, "", nil
	assert.Equal(t, curSum, legSum)
	assert.EqualValues(t, 3001, curSum.RefundFee)

	// A non-recharge coupon (current layout only): 退款金额 is the
	// settlement part, 申请退款金额 the whole.
	rows, sum, err := blDownload(t, blBill(blHeader,
		row1+"`27.00,`0.00,`ORIGINAL,`SUCCESS,`,`,`-0.16000,`0.60%,`50.00,`30.00,`",
		blSummaryHeader, "`1,`45.00,`27.00,`0.00,`-0.16000,`50.00,`30.00"))
	require.NoError(t, err)
	r = rows[0]
	assert.Equal(t, [4]int64{3000, 2700, 300, 0}, [4]int64{r.RefundFee, r.SettlementRefundFee, r.CouponRefundFee, r.RechargeCouponRefundFee})
	assert.Equal(t, [4]int64{3000, 2700, 300, 0}, [4]int64{sum.RefundFee, sum.SettlementRefundFee, sum.CouponRefundFee, sum.RechargeCouponRefundFee})
}

// BOM, CRLF, gzip, an extra unknown column, a comma inside a product name,
// trailing empty lines: all read the same rows.
func TestParseRefundBillVariants(t *testing.T) {
	t.Parallel()
	summary := "`2,`0.00,`0.02,`0.00,`0.00000,`0.00,`0.02"
	plain := blBill(blHeader, blRow, strings.Replace(blRow, "REFUND001", "REFUND002", 1), blSummaryHeader, summary)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := io.WriteString(zw, plain)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	for name, body := range map[string]string{
		"plain":         plain,
		"BOM":           "\ufeff" + plain,
		"CRLF":          strings.ReplaceAll(plain, "\n", "\r\n"),
		"gzip":          gz.String(),
		"no last LF":    strings.TrimSuffix(plain, "\n"),
		"empty lines":   plain + "\n\n",
		"extra column":  strings.NewReplacer(blHeader, blHeader+",新列", "`0.01,`\n", "`0.01,`,`x\n").Replace(plain),
		"comma in name": strings.ReplaceAll(plain, "`Goods,", "`Goods, large,"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rows, sum, err := blParse(body)
			require.NoError(t, err)
			require.Len(t, rows, 2)
			assert.Equal(t, []string{"REFUND001", "REFUND002"}, []string{rows[0].OutRefundNo, rows[1].OutRefundNo})
			assert.EqualValues(t, 2, sum.RefundFee)
			switch name {
			case "comma in name":
				assert.Equal(t, "Goods, large", rows[0].ProductName)
			case "extra column":
				v, ok := rows[1].Column("新列")
				assert.True(t, ok)
				assert.Equal(t, "x", v)
			}
		})
	}
}

func TestParseRefundBillRejects(t *testing.T) {
	t.Parallel()
	ok := blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000,`0.00,`0.01")
	for name, body := range map[string]string{
		"empty":                  "",
		"truncated, no summary":  blBill(blHeader, blRow),
		"truncated mid-row":      blHeader + "\n" + blRow[:40],
		"summary header only":    blBill(blHeader, blRow, blSummaryHeader),
		"count does not add up":  strings.Replace(ok, "`1,`0.00,`0.01", "`2,`0.00,`0.01", 1),
		"total does not add up":  strings.Replace(ok, "`1,`0.00,`0.01", "`1,`0.00,`0.02", 1),
		"three decimals":         strings.Replace(ok, "`0.01,`0.00,`ORIGINAL", "`0.011,`0.00,`ORIGINAL", 1),
		"not a number":           strings.Replace(ok, "`0.01,`0.00,`ORIGINAL", "`1e2,`0.00,`ORIGINAL", 1),
		"a value too few":        strings.Replace(ok, ",`0.00,`0.01,`\n", ",`0.00,`0.01\n", 1),
		"a value too many":       strings.Replace(ok, ",`0.00,`0.01,`\n", ",`0.00,`0.01,`,`\n", 1),
		"no backticks":           strings.ReplaceAll(ok, "`", ""),
		"not a bill":             "hello\n",
		"a payment bill":         blBill("交易时间,公众账号ID,商户号", "`a,`b,`c", blSummaryHeader, "`1"),
		"text after the summary": ok + "more\n",
		"bad time":               strings.Replace(ok, "2019-07-23 20:53:36,`wx", "2019/07/23,`wx", 1),
		"corrupt gzip":           "\x1f\x8b\x08\x00garbage",
		"line too long":          blHeader + "\n`" + strings.Repeat("x", maxBillLine+10) + "\n",
		// A summary value cut short must not pass for a smaller total.
		"requested total cut short":    strings.Replace(ok, "`0.00,`0.01\n", "`0.00,`0\n", 1),
		"coupon total does not add up": strings.Replace(ok, "`1,`0.00,`0.01,`0.00,", "`1,`0.00,`0.01,`0.05,", 1),
		"negative refund on a row": strings.Replace(blBill(blHeader, blRow, blRow, blSummaryHeader, "`2,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00"),
			"`0.01,`0.00,`ORIGINAL", "`-0.01,`0.00,`ORIGINAL", 1),
		"negative requested refund": strings.Replace(ok, "`0.00,`0.01,`\n", "`0.00,`-0.01,`\n", 1),
		// The summary agrees with the row: only the row's own rule refuses it.
		"settlement above the whole refund": blBill(blHeader, strings.Replace(blRow, "`0.01,`0.00,`ORIGINAL", "`0.02,`0.00,`ORIGINAL", 1),
			blSummaryHeader, "`1,`0.00,`0.02,`0.00,`0.00000,`0.00,`0.01"),
		"recharge coupon above settlement": blBill(blHeader, strings.Replace(blRow, "`0.01,`0.00,`ORIGINAL", "`0.01,`0.02,`ORIGINAL", 1),
			blSummaryHeader, "`1,`0.00,`0.01,`0.02,`0.00000,`0.00,`0.01"),
		"summary of the other layout": blBill(blHeader, blRow, blLegacySummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000"),
		"a row names no order":        strings.Replace(strings.Replace(ok, "`4200000000201907230000000001,", "`,", 1), "`ORDER001,", "`,", 1),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, sum, err := blParse(body)
			require.Error(t, err)
			assert.Nil(t, sum)
			assert.ErrorIs(t, err, ErrMalformed, "%v", err)
			var me *MessageError
			assert.True(t, errors.As(err, &me))
		})
	}
}

// each's error stops the parse and is returned as it is, even when it is
// a transport failure of another call.
func TestParseRefundBillEachError(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	blServe(t, mux, blBill(blHeader, blRow, blRow, blSummaryHeader, "`2,`0,`0.02,`0,`0,`0,`0.02"))
	for _, stop := range []error{errors.New("stop"), &TransportError{Op: opRefundQuery, Err: errors.New("reset")}} {
		n := 0
		_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: time.Now(), AllSubMerchants: true},
			func(*RefundBillRecord) error { n++; return stop })
		require.Equal(t, stop, err)
		assert.Equal(t, 1, n)
	}
}

// blServe answers /pay/downloadbill with body (gzipped when asked), and
// reports the request.
func blServe(t *testing.T, mux *http.ServeMux, body string) <-chan mtRequest {
	ch := make(chan mtRequest, 16)
	mux.HandleFunc(pathDownloadBill, func(w http.ResponseWriter, r *http.Request) {
		got := mtReadRequest(t, r, SignTypeMD5)
		select {
		case ch <- got:
		default:
		}
		if strings.HasPrefix(body, "<xml>") || got.Fields["tar_type"] != "GZIP" {
			_, _ = io.WriteString(w, body)
			return
		}
		zw := gzip.NewWriter(w)
		_, _ = io.WriteString(zw, body)
		_ = zw.Close()
	})
	return ch
}

func TestDownloadRefundBill(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	reqs := blServe(t, mux, blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000,`0.00,`0.01"))
	yesterday := time.Now().AddDate(0, 0, -1)
	var rows []*RefundBillRecord
	sum, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: yesterday, SubMchID: "1900000110"},
		func(r *RefundBillRecord) error { rows = append(rows, r); return nil })
	require.NoError(t, err)
	require.Len(t, rows, 1)
	assert.EqualValues(t, 1, sum.Count)
	f := mtReceive(t, reqs).Fields
	assert.Equal(t, yesterday.In(ChinaTime).Format("20060102"), f["bill_date"])
	assert.Equal(t, "REFUND", f["bill_type"])
	assert.Equal(t, "GZIP", f["tar_type"])
	assert.Equal(t, "1900000110", f["sub_mch_id"])
}

// One calendar: Date names its day in China Standard Time, whatever its
// location.
func TestRefundBillDateIsChinaTime(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	reqs := blServe(t, mux, blBill(blHeader, blSummaryHeader, "`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00"))
	yesterday := billDay(time.Now()).AddDate(0, 0, -1) // 00:00 China time
	want := yesterday.Format("20060102")
	for name, date := range map[string]time.Time{
		"China time":                   yesterday,
		"the same instant in UTC":      yesterday.UTC(), // the day before, 16:00, in UTC
		"late that day in UTC-10":      yesterday.Add(23 * time.Hour).In(time.FixedZone("HST", -10*3600)),
		"the last second in ChinaTime": yesterday.Add(24*time.Hour - time.Second),
	} {
		_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: date}, func(*RefundBillRecord) error { return nil })
		require.NoError(t, err, name)
		assert.Equal(t, want, mtReceive(t, reqs).Fields["bill_date"], name)
	}
}

// Bills that are this merchant's: each rule through a real TLS server,
// with a control that passes.
func TestDownloadRefundBillIsThisMerchants(t *testing.T) {
	t.Parallel()
	direct := strings.Replace(blRow, "`1900000110,", "`0,", 1)
	summary := blBill(blSummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000,`0.00,`0.01")
	bill := func(header, row string) string { return blBill(header, row) + summary }
	for _, tc := range []struct {
		name string
		req  RefundBillRequest
		body string
		want error // nil: accepted
		rows int   // rows handed over before the refusal
	}{
		{"control: a direct merchant's row", RefundBillRequest{}, bill(blHeader, direct), nil, 0},
		{"control: a sub-merchant's row, asked for", RefundBillRequest{SubMchID: "1900000110"}, bill(blHeader, blRow), nil, 0},
		{"control: a provider's bill of all sub-merchants", RefundBillRequest{AllSubMerchants: true}, bill(blHeader, blRow), nil, 0},
		{"control: another AppID of this mch_id", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "wx2421b1c4370ec43b", "wx0000000000000001", 1)), nil, 0},
		{"another 商户号", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`1900000109,", "`1900000999,", 1)), ErrMerchantMismatch, 0},
		{"another 商户号, provider", RefundBillRequest{AllSubMerchants: true}, bill(blHeader, strings.Replace(blRow, "`1900000109,", "`1900000999,", 1)), ErrMerchantMismatch, 0},
		{"another sub-merchant than asked", RefundBillRequest{SubMchID: "1900000111"}, bill(blHeader, blRow), ErrMerchantMismatch, 0},
		{"a direct merchant's row asked for a sub-merchant", RefundBillRequest{SubMchID: "1900000110"}, bill(blHeader, direct), ErrMerchantMismatch, 0},
		{"a sub-merchant in a direct merchant's bill", RefundBillRequest{}, bill(blHeader, blRow), ErrMerchantMismatch, 0},
		{"another 子商户号, legacy", RefundBillRequest{SubMchID: "1900000111"},
			blBill(blLegacyHeader, strings.Replace(blLegacyRow, "`0,", "`1900000110,", 1), blLegacySummaryHeader, "`1,`0.0,`12,`0,`-0.07200"), ErrMerchantMismatch, 0},
		{"a header naming 退款金额 twice", RefundBillRequest{}, bill(blHeader+",退款金额", direct+",`0.02"), ErrMalformed, 0},
		{"a header naming 商户退款单号 twice", RefundBillRequest{}, bill(blHeader+",商户退款单号", direct+",`OTHER"), ErrMalformed, 0},
		{"two columns for the sub-merchant", RefundBillRequest{}, bill(blHeader+",子商户号", direct+",`1900000110"), ErrMalformed, 0},
		{"layouts mixed", RefundBillRequest{}, bill(blHeader+",代金券或立减优惠退款金额", direct+",`0.00"), ErrMalformed, 0},
		{"no 商户号 column", RefundBillRequest{}, bill(strings.Replace(blHeader, ",商户号,", ",商户,", 1), direct), ErrMalformed, 0},
		{"a NUL in 商户退款单号", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`REFUND001,", "`REFUND\x00001,", 1)), ErrMalformed, 0},
		{"a NUL in 微信订单号", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`4200000000201907230000000001,", "`42000\x00,", 1)), ErrMalformed, 0},
		{"a space in 商户订单号", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`ORDER001,", "`ORDER 001,", 1)), ErrMalformed, 0},
		{"a 微信退款单号 of 33 characters", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`50000000002019072300000000001,", "`"+strings.Repeat("5", 33)+",", 1)), ErrMalformed, 0},
		{"an empty 微信退款单号", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`50000000002019072300000000001,", "`,", 1)), ErrMalformed, 0},
		{"invalid UTF-8 in a product name", RefundBillRequest{}, bill(blHeader, strings.Replace(direct, "`Goods,", "`Go\xffds,", 1)), ErrMalformed, 0},
		{"invalid UTF-8 in the summary", RefundBillRequest{}, blBill(blHeader, direct, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000,`0.00,`0.01\xff"), ErrMalformed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			blServe(t, mux, tc.body)
			req := tc.req
			req.Date = time.Now()
			n := 0
			sum, err := c.DownloadRefundBill(context.Background(), &req, func(*RefundBillRecord) error { n++; return nil })
			if tc.want == nil {
				require.NoError(t, err)
				assert.EqualValues(t, 1, sum.Count)
				return
			}
			require.ErrorIs(t, err, tc.want)
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Nil(t, sum)
			assert.Equal(t, tc.rows, n, "rows handed over before the refusal")
			assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "%v", err)
		})
	}
}

// Failover for bills: a 5xx or a lost connection before any row goes to
// the other domain; a domain marked down is skipped; once a row reached
// each, nothing is retried.
func TestDownloadRefundBillFailover(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	good := blBill(blHeader, strings.Replace(blRow, "`1900000110,", "`0,", 1), blSummaryHeader, "`1,`0.00,`0.01,`0.00,`0.00000,`0.00,`0.01")
	type domain struct {
		s    *mtServer
		hits atomic.Int64
	}
	start := func(t *testing.T, answer func(w http.ResponseWriter)) *domain {
		d := &domain{s: mtNewServer(t, tls.VerifyClientCertIfGiven, pki.caPool, nil)}
		d.s.mux.HandleFunc(pathDownloadBill, func(w http.ResponseWriter, r *http.Request) {
			d.hits.Add(1)
			mtReadRequest(t, r, SignTypeMD5)
			answer(w)
		})
		return d
	}
	serve := func(body string) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { _, _ = io.WriteString(w, body) }
	}
	status := func(code int) func(w http.ResponseWriter) {
		return func(w http.ResponseWriter) { http.Error(w, "<html>502 Bad Gateway</html>", code) }
	}
	reset := func(w http.ResponseWriter) { panic(http.ErrAbortHandler) }
	halfway := func(w http.ResponseWriter) {
		// A row, then the connection breaks off.
		_, _ = io.WriteString(w, blBill(blHeader, strings.Replace(blRow, "`1900000110,", "`0,", 1)))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	client := func(t *testing.T, primary, backup *domain) *Client {
		return mtNewClient(t, primary.s, WithPEM(pki.clientCertPEM, pki.clientKeyPEM), WithFailover(backup.s.URL))
	}
	download := func(c *Client) (int, error) {
		n := 0
		_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: time.Now()},
			func(*RefundBillRecord) error { n++; return nil })
		return n, err
	}

	for name, fail := range map[string]func(w http.ResponseWriter){
		"502": status(http.StatusBadGateway), "503": status(http.StatusServiceUnavailable), "reset": reset,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			primary, backup := start(t, fail), start(t, serve(good))
			c := client(t, primary, backup)
			n, err := download(c)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			assert.EqualValues(t, 1, primary.hits.Load())
			assert.EqualValues(t, 1, backup.hits.Load())
			// The primary is now marked down: the next download goes
			// straight to the backup.
			_, err = download(c)
			require.NoError(t, err)
			assert.EqualValues(t, 1, primary.hits.Load())
			assert.EqualValues(t, 2, backup.hits.Load())
		})
	}

	t.Run("a failure WeChat Pay reports is not failed over", func(t *testing.T) {
		t.Parallel()
		primary := start(t, serve("<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>"))
		backup := start(t, serve(good))
		_, err := download(client(t, primary, backup))
		require.ErrorIs(t, err, ErrBillNotFound)
		assert.Zero(t, backup.hits.Load())
	})

	t.Run("after a row reached each, nothing is retried", func(t *testing.T) {
		t.Parallel()
		primary, backup := start(t, halfway), start(t, serve(good))
		n, err := download(client(t, primary, backup))
		require.Error(t, err)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 1, n)
		assert.Zero(t, backup.hits.Load())
	})

	t.Run("both fail", func(t *testing.T) {
		t.Parallel()
		primary, backup := start(t, status(http.StatusBadGateway)), start(t, status(http.StatusGatewayTimeout))
		_, err := download(client(t, primary, backup))
		var me *MessageError
		require.ErrorAs(t, err, &me)
		assert.Equal(t, http.StatusGatewayTimeout, me.StatusCode)
		assert.Contains(t, err.Error(), "failing over")
	})
}

func TestDownloadRefundBillFailures(t *testing.T) {
	t.Parallel()
	each := func(*RefundBillRecord) error { return nil }
	yesterday := time.Now().AddDate(0, 0, -1)
	for _, tc := range []struct {
		name  string
		body  string
		check func(t *testing.T, err error)
	}{
		{"No Bill Exist", "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[No Bill Exist]]></return_msg><error_code><![CDATA[20002]]></error_code></xml>",
			func(t *testing.T, err error) {
				assert.ErrorIs(t, err, ErrBillNotFound)
				assert.Equal(t, "20002", ErrorCode(err))
				assert.False(t, IsRetryable(err))
			}},
		{"NO Bill Exist, as the docs spell it", "<xml><return_code>FAIL</return_code><return_msg>NO Bill Exist</return_msg></xml>",
			func(t *testing.T, err error) { assert.ErrorIs(t, err, ErrBillNotFound) }},
		{"Bill Creating", "<xml><return_code>FAIL</return_code><return_msg>Bill Creating</return_msg></xml>",
			func(t *testing.T, err error) {
				assert.True(t, IsRetryable(err))
				assert.Contains(t, err.Error(), "after 10:00")
				assert.NotErrorIs(t, err, ErrBillNotFound)
			}},
		{"invalid bill_date", "<xml><return_code>FAIL</return_code><return_msg>invalid bill_date</return_msg><error_code>20001</error_code></xml>",
			func(t *testing.T, err error) {
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "invalid bill_date", e.ReturnMsg)
				assert.False(t, IsRetryable(err))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			blServe(t, mux, tc.body)
			_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: yesterday}, each)
			require.Error(t, err)
			tc.check(t, err)
		})
	}

	c, mux := setup(t)
	hits := mtCountHits(mux, pathDownloadBill)
	for name, req := range map[string]*RefundBillRequest{
		"no date":                          {},
		"tomorrow":                         {Date: time.Now().AddDate(0, 0, 1)},
		"four months back":                 {Date: time.Now().AddDate(0, -4, 0)},
		"bad sub-merchant":                 {Date: yesterday, SubMchID: "1 2"},
		"one sub-merchant and all of them": {Date: yesterday, SubMchID: "1900000110", AllSubMerchants: true},
	} {
		_, err := c.DownloadRefundBill(context.Background(), req, each)
		require.ErrorIs(t, err, ErrInvalidRequest, name)
	}
	_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: yesterday}, nil)
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.Zero(t, hits.Load())
}

// blRowText writes row i of a generated bill: a refund of
// (i%1000).(i%100) yuan without coupons, of a direct merchant. w keeps a
// failed write's error for its Flush, which blWriteGenerated returns.
func blRowText(w *bufio.Writer, i int) {
	_, _ = fmt.Fprintf(w, "`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`42000012342024060%013d,`ORD%d,`o,`JSAPI,"+
		"`REFUND,`CFT,`CNY,`0.00,`0.00,`2024-06-03 10:15:42,`,`5030001234520240603%010d,`RF%d,`%d.%02d,`0.00,"+
		"`ORIGINAL,`PROCESSING,`商品,`,`0.00000,`0.60%%,`0.00,`%d.%02d,`\n", i, i, i, i, i%1000, i%100, i%1000, i%100)
}

// blWriteGenerated writes a bill of n generated rows with its summary.
func blWriteGenerated(w *bufio.Writer, n int) error {
	// The writes' errors come back from w.Flush, as in blRowText.
	_, _ = fmt.Fprintln(w, blHeader)
	var total int64
	for i := range n {
		blRowText(w, i)
		total += int64(i%1000)*100 + int64(i%100)
	}
	_, _ = fmt.Fprintln(w, blSummaryHeader)
	_, _ = fmt.Fprintf(w, "`%d,`0.00,`%d.%02d,`0.00,`0.00000,`0.00,`%d.%02d\n", n, total/100, total%100, total/100, total%100)
	return w.Flush()
}

// blGenerated streams a bill of n rows as it is read, never all of it in
// memory.
func blGenerated(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(blWriteGenerated(bufio.NewWriterSize(pw, 64<<10), n)) }()
	return pr
}

// A bill of many rows parses in bounded memory: the heap stays small while
// the rows stream through.
func TestParseRefundBillBoundedMemory(t *testing.T) {
	n := blLargeBill
	var peak uint64
	var ms runtime.MemStats
	rows := 0
	sum, err := readBill(blGenerated(n), blDirect, func(r *RefundBillRecord) error {
		if rows++; rows%(n/20) == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, n, sum.Count)
	assert.Equal(t, n, rows)
	assert.Less(t, peak, uint64(64<<20), "heap in use while parsing %d rows", n)
	t.Logf("%d rows, heap in use at most %.1f MiB", n, float64(peak)/(1<<20))
}

// blBenchRows is the size of the benchmarks' bill.
const blBenchRows = 100_000

// blBenchBill is the gzipped bill of blBenchRows generated rows, made once.
var blBenchBill = sync.OnceValue(func() []byte {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	w := bufio.NewWriterSize(zw, 64<<10)
	if err := blWriteGenerated(w, blBenchRows); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return gz.Bytes()
})

// BenchmarkRefundBill downloads the same gzipped bill of 100,000 rows over
// loopback TLS, twice: "floor" only gunzips it and splits every line into
// its values at ",`"; "DownloadRefundBill" is the whole SDK call, every row
// parsed, checked and handed to each. Compare their ns/row and allocs/row.
func BenchmarkRefundBill(b *testing.B) {
	bill := blBenchBill()
	c, s := mtSetup(b)
	s.mux.HandleFunc(pathDownloadBill, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(bill)
	})
	perRow := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*blBenchRows), "ns/row")
	}
	b.Run("floor", func(b *testing.B) {
		b.ReportAllocs()
		values := 0
		for b.Loop() {
			resp, err := c.hc.Post(s.URL+pathDownloadBill, "text/xml", strings.NewReader("<xml></xml>"))
			if err != nil {
				b.Fatal(err)
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				b.Fatal(err)
			}
			br := bufio.NewReaderSize(zr, 64<<10)
			for {
				line, err := br.ReadSlice('\n')
				if len(line) == 0 && err != nil {
					break
				}
				for {
					i := bytes.Index(line, []byte(",`"))
					values++
					if i < 0 {
						break
					}
					line = line[i+2:]
				}
			}
			resp.Body.Close()
		}
		perRow(b)
		if values == 0 {
			b.Fatal("no values")
		}
	})
	b.Run("DownloadRefundBill", func(b *testing.B) {
		b.ReportAllocs()
		req := &RefundBillRequest{Date: time.Now()}
		for b.Loop() {
			sum, err := c.DownloadRefundBill(context.Background(), req, func(*RefundBillRecord) error { return nil })
			if err != nil || sum.Count != blBenchRows {
				b.Fatal(err)
			}
		}
		perRow(b)
	})
}

// FuzzParseRefundBill: readBill never panics, and whatever it accepts adds
// up and is this merchant's: the rows' count and fen, summed again, are
// the summary's, every row names this mch_id, and the sub-merchant asked
// for (none for a direct merchant).
func FuzzParseRefundBill(f *testing.F) {
	f.Add(blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01"), uint8(0))
	f.Add(blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01"), uint8(1))
	f.Add(blBill(blHeader, strings.Replace(blRow, "`1900000110,", "`0,", 1), blSummaryHeader, "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01"), uint8(2))
	f.Add(blBill(blLegacyHeader, blLegacyRow, blLegacySummaryHeader, "`1,`0.0,`12,`0,`-0.07200"), uint8(2))
	f.Add("<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg></xml>", uint8(0))
	f.Add("", uint8(0))
	owners := []billOwner{blProvider, {mchID: mtMchID, subMchID: "1900000110"}, blDirect}
	f.Fuzz(func(t *testing.T, body string, who uint8) {
		owner := owners[int(who)%len(owners)]
		var sums billTotals
		var coupons int64
		sum, err := readBill(strings.NewReader(body), owner, func(r *RefundBillRecord) error {
			if r.MchID != owner.mchID || owner.subMchID != "" && r.SubMchID != owner.subMchID ||
				owner.subMchID == "" && !owner.allSubs && r.SubMchID != "" {
				t.Fatalf("accepted a row of another merchant: %q/%q for %+v", r.MchID, r.SubMchID, owner)
			}
			if r.SettlementRefundFee > r.RefundFee || r.CouponRefundFee > r.RefundFee || r.RechargeCouponRefundFee > r.CouponRefundFee {
				t.Fatalf("a part exceeds its whole: %+v", blRecord(r))
			}
			sums.add(r)
			coupons += r.CouponRefundFee
			return nil
		})
		if err != nil {
			if sum != nil {
				t.Fatal("summary and error both returned")
			}
			return
		}
		got := [5]int64{sum.Count, sum.RefundFee, sum.SettlementRefundFee, sum.RechargeCouponRefundFee, sum.CouponRefundFee}
		want := [5]int64{sums.rows, sums.whole, sums.settlement, sums.recharge, coupons}
		if got != want {
			t.Fatalf("accepted a bill that does not add up: summary %v, rows %v", got, want)
		}
	})
}
