package wxrefund

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
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
	blLegacyRow           = "`2016-03-02 10:11:12,`wx2421b1c4370ec43b,`10000100,`0,`,`4200000000201603020000000001," +
		"`ORD2,`oUser2,`NATIVE,`REFUND,`CMB_CREDIT,`CNY,`0.0,`0,`2016-03-02 10:11:12,`,`50000000002016030200000000002," +
		"`RF2,`12,`0,`ORIGINAL,`PROCESSING,`Tea,`,`-0.07200,`0.60%"
)

// blBill joins lines as a bill with LF line ends.
func blBill(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// blParse reads a bill body as DownloadRefundBill does, collecting rows.
func blParse(body string) ([]*RefundBillRecord, *RefundBillSummary, error) {
	var rows []*RefundBillRecord
	sum, err := readBill(strings.NewReader(body), func(r *RefundBillRecord) error { rows = append(rows, r); return nil })
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
	assert.EqualValues(t, 1, r.RequestedRefundFee)
	assert.EqualValues(t, 0, r.CouponRefundFee)
	assert.Equal(t, RefundStatusSuccess, r.Status)
	assert.Equal(t, "ORIGINAL", r.RefundType)
	assert.Equal(t, "REFUND", r.TradeState)
	assert.Equal(t, "0.60%", r.FeeRate)
	assert.Equal(t, "Goods", r.ProductName)
	assert.Equal(t, "0.01", r.Raw["退款金额"])
	assert.Len(t, r.Raw, 29)
	assert.EqualValues(t, 1, sum.Count)
	assert.EqualValues(t, 1, sum.RefundFee)
	assert.EqualValues(t, -2000, sum.Fee, "0.00001 CNY units")
	assert.EqualValues(t, 1, sum.RequestedRefundFee)
}

func TestParseRefundBillLegacyLayout(t *testing.T) {
	t.Parallel()
	rows, sum, err := blParse(blBill(blLegacyHeader, blLegacyRow, blLegacySummaryHeader, "`1,`0.0,`12,`0,`-0.07200"))
	require.NoError(t, err)
	require.Len(t, rows, 1)
	r := rows[0]
	assert.Empty(t, r.SubMchID, "0 means no sub-merchant")
	assert.EqualValues(t, 1200, r.RefundFee, "12 yuan")
	assert.EqualValues(t, 1200, r.RequestedRefundFee, "the legacy layout has no 申请退款金额")
	assert.EqualValues(t, -7200, r.Fee)
	assert.True(t, r.RefundSuccessTime.IsZero())
	assert.Equal(t, RefundStatusProcessing, r.Status)
	assert.EqualValues(t, 1200, sum.RefundFee)
}

// BOM, CRLF, gzip, an extra unknown column, a comma inside a product name,
// trailing empty lines: all read the same rows.
func TestParseRefundBillVariants(t *testing.T) {
	t.Parallel()
	summary := "`2,`0.00,`0.02,`0.00,`0.00000,`0.00,`0.02"
	plain := blBill(blHeader, blRow, strings.Replace(blRow, "REFUND001", "REFUND002", 1), blSummaryHeader, summary)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, plain)
	zw.Close()
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
			if name == "comma in name" {
				assert.Equal(t, "Goods, large", rows[0].ProductName)
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

// each's error stops the parse and is returned as it is.
func TestParseRefundBillEachError(t *testing.T) {
	t.Parallel()
	stop := errors.New("stop")
	n := 0
	_, err := readBill(strings.NewReader(blBill(blHeader, blRow, blRow, blSummaryHeader, "`2,`0,`0.02,`0,`0,`0,`0.02")),
		func(*RefundBillRecord) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	assert.Equal(t, 1, n)
}

// blServe answers /pay/downloadbill with body (gzipped when asked), and
// reports the request.
func blServe(t *testing.T, mux *http.ServeMux, body string) <-chan mtRequest {
	ch := make(chan mtRequest, 4)
	mux.HandleFunc(pathDownloadBill, func(w http.ResponseWriter, r *http.Request) {
		got := mtReadRequest(t, r, SignTypeMD5)
		ch <- got
		if strings.HasPrefix(body, "<xml>") || got.Fields["tar_type"] != "GZIP" {
			io.WriteString(w, body)
			return
		}
		zw := gzip.NewWriter(w)
		io.WriteString(zw, body)
		zw.Close()
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
	assert.Equal(t, yesterday.In(cst).Format("20060102"), f["bill_date"])
	assert.Equal(t, "REFUND", f["bill_type"])
	assert.Equal(t, "GZIP", f["tar_type"])
	assert.Equal(t, "1900000110", f["sub_mch_id"])
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
		"no date":          {},
		"tomorrow":         {Date: time.Now().AddDate(0, 0, 1)},
		"four months back": {Date: time.Now().AddDate(0, -4, 0)},
		"bad sub-merchant": {Date: yesterday, SubMchID: "1 2"},
	} {
		_, err := c.DownloadRefundBill(context.Background(), req, each)
		require.ErrorIs(t, err, ErrInvalidRequest, name)
	}
	_, err := c.DownloadRefundBill(context.Background(), &RefundBillRequest{Date: yesterday}, nil)
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.Zero(t, hits.Load())
}

// blGenerated streams a bill of n rows as it is read, never all of it in
// memory.
func blGenerated(n int) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		fmt.Fprintln(w, blHeader)
		for i := range n {
			fmt.Fprintf(w, "`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`42000012342024060%013d,`ORD%d,`o,`JSAPI,"+
				"`REFUND,`CFT,`CNY,`0.00,`0.00,`2024-06-03 10:15:42,`,`5030001234520240603%010d,`RF%d,`%d.%02d,`0.00,"+
				"`ORIGINAL,`PROCESSING,`商品,`,`0.00000,`0.60%%,`0.00,`%d.%02d,`\n", i, i, i, i, i%1000, i%100, i%1000, i%100)
		}
		var total int64
		for i := range n {
			total += int64(i%1000)*100 + int64(i%100)
		}
		fmt.Fprintln(w, blSummaryHeader)
		fmt.Fprintf(w, "`%d,`0.00,`%d.%02d,`0.00,`0.00000,`0.00,`%d.%02d\n", n, total/100, total%100, total/100, total%100)
		pw.CloseWithError(w.Flush())
	}()
	return pr
}

// A bill of many rows parses in bounded memory: the heap stays small while
// the rows stream through.
func TestParseRefundBillBoundedMemory(t *testing.T) {
	n := blLargeBill
	var peak uint64
	var ms runtime.MemStats
	rows := 0
	sum, err := readBill(blGenerated(n), func(r *RefundBillRecord) error {
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

func BenchmarkParseRefundBill(b *testing.B) {
	const n = 100_000
	b.ReportAllocs()
	for b.Loop() {
		if _, err := readBill(blGenerated(n), func(*RefundBillRecord) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
}

// FuzzParseRefundBill: readBill never panics, and whatever it accepts adds
// up: the rows' fen, summed again, are the summary's.
func FuzzParseRefundBill(f *testing.F) {
	f.Add(blBill(blHeader, blRow, blSummaryHeader, "`1,`0.00,`0.01,`0.00,`-0.02000,`0.00,`0.01"))
	f.Add(blBill(blLegacyHeader, blLegacyRow, blLegacySummaryHeader, "`1,`0.0,`12,`0,`-0.07200"))
	f.Add("<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg></xml>")
	f.Add("")
	f.Fuzz(func(t *testing.T, body string) {
		var count, total int64
		sum, err := readBill(strings.NewReader(body), func(r *RefundBillRecord) error {
			count++
			total += r.RefundFee
			return nil
		})
		if err != nil {
			if sum != nil {
				t.Fatal("summary and error both returned")
			}
			return
		}
		if sum.Count != count || sum.RefundFee != total {
			t.Fatalf("accepted a bill that does not add up: %d/%d rows, %d/%d fen", count, sum.Count, total, sum.RefundFee)
		}
	})
}
