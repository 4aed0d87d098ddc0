package wxrefundtest_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// The lines of the two bill layouts that do not depend on the ledger.
const (
	headerCurrent = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类," +
		"应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称," +
		"商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
	summaryCurrent = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
	headerLegacy   = "交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类," +
		"总金额,代金券或立减优惠金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,代金券或立减优惠退款金额,退款类型,退款状态," +
		"商品名称,商户数据包,手续费,费率"
	summaryLegacy = "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额"

	noBill = "<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>"
)

// billReply is the answer to a bill download.
type billReply struct {
	status      int
	contentType string
	body        []byte
}

// downloadBill signs p (with the server's appid, mch_id and a nonce unless
// p has them) and POSTs it to PathDownloadBill without a client
// certificate.
func downloadBill(t testing.TB, s *wxrefundtest.Server, p params) billReply {
	t.Helper()
	return downloadBillType(t, s, p, wxrefund.SignTypeMD5)
}

func downloadBillType(t testing.TB, s *wxrefundtest.Server, p params, st wxrefund.SignType) billReply {
	t.Helper()
	resp, err := httpClient(t, s, false).Post(s.URL()+wxrefundtest.PathDownloadBill, "text/xml",
		bytes.NewReader(encode(t, sign(s, p, st))))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return billReply{resp.StatusCode, resp.Header.Get("Content-Type"), body}
}

// refundBill downloads the REFUND bill of date as text.
func refundBill(t testing.TB, s *wxrefundtest.Server, date string, extra ...string) string {
	t.Helper()
	r := downloadBill(t, s, with(params{"bill_date": date, "bill_type": "REFUND"}, extra...))
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "text/plain; charset=utf-8", r.contentType, "%s", r.body)
	return string(r.body)
}

// billFail parses a failed download with encoding/xml, requiring a plain
// <xml> with return_code FAIL and nothing but return_msg and error_code.
func billFail(t testing.TB, r billReply) (msg, code string) {
	t.Helper()
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, strings.HasPrefix(r.contentType, "text/xml"), r.contentType)
	var doc struct {
		XMLName    xml.Name `xml:"xml"`
		ReturnCode string   `xml:"return_code"`
		ReturnMsg  string   `xml:"return_msg"`
		ErrorCode  string   `xml:"error_code"`
		Other      []struct {
			XMLName xml.Name
		} `xml:",any"`
	}
	require.NoError(t, xml.Unmarshal(r.body, &doc), "%s", r.body)
	require.Equal(t, "FAIL", doc.ReturnCode)
	require.Empty(t, doc.Other, "unexpected fields (a sign?) in %s", r.body)
	return doc.ReturnMsg, doc.ErrorCode
}

// bill is a parsed bill: every field without its backtick.
type bill struct {
	header, summaryHeader []string
	rows                  [][]string
	summary               []string
}

// parseBill reads a bill as a client should: four parts, by header, each
// value after a backtick, lines ending in "\n".
func parseBill(t testing.TB, text string) bill {
	t.Helper()
	require.True(t, strings.HasSuffix(text, "\n"), "the last line ends with a newline")
	require.NotContains(t, text, "\r")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3, "%q", text)
	var b bill
	b.header = strings.Split(lines[0], ",")
	b.summaryHeader = strings.Split(lines[len(lines)-2], ",")
	unquote := func(line string) []string {
		fields := strings.Split(line, ",")
		for i, f := range fields {
			require.True(t, strings.HasPrefix(f, "`"), "field %d of %q has no backtick", i, line)
			fields[i] = f[1:]
		}
		return fields
	}
	for _, l := range lines[1 : len(lines)-2] {
		row := unquote(l)
		require.Len(t, row, len(b.header), "%q", l)
		b.rows = append(b.rows, row)
	}
	b.summary = unquote(lines[len(lines)-1])
	require.Len(t, b.summary, len(b.summaryHeader))
	return b
}

// col returns the column named name of row.
func (b bill) col(t testing.TB, row []string, name string) string {
	t.Helper()
	for i, h := range b.header {
		if h == name {
			return row[i]
		}
	}
	t.Fatalf("no column %s in %q", name, b.header)
	return ""
}

// total returns the summary value named name.
func (b bill) total(t testing.TB, name string) string {
	t.Helper()
	for i, h := range b.summaryHeader {
		if h == name {
			return b.summary[i]
		}
	}
	t.Fatalf("no total %s in %q", name, b.summaryHeader)
	return ""
}

// units parses a bill amount into 0.00001 yuan, requiring the number of
// decimals the bill uses.
func units(t testing.TB, s string, decimals int) int64 {
	t.Helper()
	neg := strings.HasPrefix(s, "-")
	whole, frac, ok := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	require.True(t, ok && len(frac) == decimals && whole != "", "%q is not an amount with %d decimals", s, decimals)
	frac += strings.Repeat("0", 5-decimals)
	n := atoi(t, whole)*100000 + atoi(t, frac)
	if neg {
		n = -n
	}
	return n
}

// requireTotals checks that the summary holds the number of rows and the
// sums of their columns, in either layout.
func requireTotals(t testing.TB, b bill) {
	t.Helper()
	sums := map[string]string{ // total -> column
		"应结订单总金额": "应结订单金额", "退款总金额": "退款金额", "充值券退款总金额": "充值券退款金额", "订单总金额": "订单金额",
		"申请退款总金额": "申请退款金额", "总交易额": "总金额", "总退款金额": "退款金额", "总代金券或立减优惠退款金额": "代金券或立减优惠退款金额",
	}
	require.Equal(t, strconv.Itoa(len(b.rows)), b.total(t, "总交易单数"))
	for _, name := range b.summaryHeader[1:] {
		decimals, column := 2, sums[name]
		if name == "手续费总金额" {
			decimals, column = 5, "手续费"
		}
		require.NotEmpty(t, column, "unknown total %s", name)
		var sum int64
		for _, row := range b.rows {
			sum += units(t, b.col(t, row, column), decimals)
		}
		require.Equal(t, sum, units(t, b.total(t, name), decimals), "%s is the sum of %s", name, column)
	}
}

func gunzip(t testing.TB, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err)
	out, err := io.ReadAll(zr)
	require.NoError(t, err)
	return string(out)
}

// billLedger builds the ledger the golden tests download, on a clock that
// starts at 2024-06-03 10:15:42 China time:
//
//	10:15:42 R1 refunds 20.00 of O1 (50.00, 5.00 by coupon): 2.00 coupon; SUCCESS at 10:16:12
//	10:15:42 R2 refunds 0.01 of O2 (10.00); stays PROCESSING
//	10:16:42 R3 refunds 9.99 of O2; closed
//	the next day at 10:16:42, R4 refunds 0.05 of O2
func billLedger(t testing.TB, opts ...wxrefundtest.Option) (*wxrefundtest.Server, map[string]string) {
	clk := newClock()
	s := newServer(t, append([]wxrefundtest.Option{wxrefundtest.WithClock(clk.Now)}, opts...)...)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TransactionID: "4200000000202406030000000001", TotalFee: 5000, CouponFee: 500})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O2", TransactionID: "4200000000202406030000000002", TotalFee: 1000})
	mustRefund(t, s, "O1", "R1", 5000, 2000)
	mustRefund(t, s, "O2", "R2", 1000, 1)
	clk.Advance(30 * time.Second)
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	clk.Advance(30 * time.Second)
	mustRefund(t, s, "O2", "R3", 1000, 999)
	require.NoError(t, s.Complete("R3", wxrefund.RefundStatusClosed))
	clk.Advance(24 * time.Hour)
	mustRefund(t, s, "O2", "R4", 1000, 5)
	ids := map[string]string{}
	for _, no := range []string{"R1", "R2", "R3", "R4"} {
		st, ok := s.RefundState(no)
		require.True(t, ok)
		ids[no] = st.RefundID
	}
	return s, ids
}

func TestBillGolden(t *testing.T) {
	t.Run("current", func(t *testing.T) {
		s, id := billLedger(t)
		want := headerCurrent + "\n" +
			"`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000001,`O1,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:15:42,`2024-06-03 10:16:12,`" + id["R1"] + ",`R1,`18.00,`0.00,`ORIGINAL,`SUCCESS,`,`," +
			"`-0.11000,`0.60%,`0.00,`20.00,`\n" +
			"`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:15:42,`,`" + id["R2"] + ",`R2,`0.01,`0.00,`ORIGINAL,`PROCESSING,`,`," +
			"`0.00000,`0.60%,`0.00,`0.01,`\n" +
			"`2024-06-03 10:16:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:16:42,`,`" + id["R3"] + ",`R3,`9.99,`0.00,`ORIGINAL,`REFUNDCLOSE,`,`," +
			"`-0.06000,`0.60%,`0.00,`9.99,`\n" +
			summaryCurrent + "\n" +
			"`3,`0.00,`28.00,`0.00,`-0.17000,`0.00,`30.00\n"
		got := refundBill(t, s, "20240603")
		require.Equal(t, want, got)
		b := parseBill(t, got)
		require.Len(t, b.header, 29)
		requireTotals(t, b)

		// The same bytes with HMAC-SHA256, and gzipped with tar_type GZIP.
		r := downloadBillType(t, s, params{"bill_date": "20240603", "bill_type": "REFUND"}, wxrefund.SignTypeHMACSHA256)
		require.Equal(t, want, string(r.body))
		r = downloadBill(t, s, params{"bill_date": "20240603", "bill_type": "REFUND", "tar_type": "GZIP"})
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "application/octet-stream", r.contentType)
		require.Equal(t, []byte{0x1f, 0x8b}, r.body[:2], "a gzip stream")
		require.Equal(t, want, gunzip(t, r.body))

		// The next day has R4 only, whatever happened to the order since.
		want4 := headerCurrent + "\n" +
			"`2024-06-04 10:16:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-04 10:16:42,`,`" + id["R4"] + ",`R4,`0.05,`0.00,`ORIGINAL,`PROCESSING,`,`," +
			"`0.00000,`0.60%,`0.00,`0.05,`\n" +
			summaryCurrent + "\n" +
			"`1,`0.00,`0.05,`0.00,`0.00000,`0.00,`0.05\n"
		require.Equal(t, want4, refundBill(t, s, "20240604"))

		for _, day := range []string{"20240602", "20240605", "19700101"} {
			r := downloadBill(t, s, params{"bill_date": day, "bill_type": "REFUND", "tar_type": "GZIP"})
			require.Equal(t, noBill, string(r.body), "%s: not gzipped, no sign", day)
			msg, code := billFail(t, r)
			require.Equal(t, "No Bill Exist", msg)
			require.Equal(t, "20002", code)
		}
	})

	t.Run("legacy", func(t *testing.T) {
		s, id := billLedger(t, wxrefundtest.WithBillLayout(wxrefundtest.BillLayoutLegacy))
		want := headerLegacy + "\n" +
			"`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000001,`O1,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:15:42,`2024-06-03 10:16:12,`" + id["R1"] + ",`R1,`20.00,`2.00,`ORIGINAL,`SUCCESS,`,`," +
			"`-0.11000,`0.60%\n" +
			"`2024-06-03 10:15:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:15:42,`,`" + id["R2"] + ",`R2,`0.01,`0.00,`ORIGINAL,`PROCESSING,`,`," +
			"`0.00000,`0.60%\n" +
			"`2024-06-03 10:16:42,`wx8888888888888888,`1900000109,`0,`,`4200000000202406030000000002,`O2,`,`JSAPI,`REFUND,`CFT,`CNY," +
			"`0.00,`0.00,`2024-06-03 10:16:42,`,`" + id["R3"] + ",`R3,`9.99,`0.00,`ORIGINAL,`REFUNDCLOSE,`,`," +
			"`-0.06000,`0.60%\n" +
			summaryLegacy + "\n" +
			"`3,`0.00,`30.00,`2.00,`-0.17000\n"
		got := refundBill(t, s, "20240603")
		require.Equal(t, want, got)
		b := parseBill(t, got)
		require.Len(t, b.header, 26)
		requireTotals(t, b)
		r := downloadBill(t, s, params{"bill_date": "20240603", "bill_type": "REFUND", "tar_type": "GZIP"})
		require.Equal(t, want, gunzip(t, r.body))
	})

	_, err := wxrefundtest.NewServer(wxrefundtest.WithBillLayout(7))
	require.Error(t, err)
}

// TestBillAmounts checks the amounts of single refunds, coupon split and
// fee rounding (0.60% of the settlement refund, half up, given back).
func TestBillAmounts(t *testing.T) {
	for _, tc := range []struct {
		total, coupon, fee int64 // order total and coupon, refund fee (fen)
		settle, applied    string
		handling           string
	}{
		{100, 0, 1, "0.01", "0.01", "0.00000"},
		{10000, 0, 83, "0.83", "0.83", "0.00000"},   // 0.498 fen
		{10000, 0, 84, "0.84", "0.84", "-0.01000"},  // 0.504 fen
		{10000, 0, 250, "2.50", "2.50", "-0.02000"}, // 1.5 fen, half up
		{10000, 0, 10000, "100.00", "100.00", "-0.60000"},
		{10000, 10000, 10000, "0.00", "100.00", "0.00000"}, // all coupon
		{123456789, 0, 123456789, "1234567.89", "1234567.89", "-7407.41000"},
	} {
		t.Run(fmt.Sprint(tc.total, tc.coupon, tc.fee), func(t *testing.T) {
			s := newServer(t, wxrefundtest.WithClock(newClock().Now))
			addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O", TotalFee: tc.total, CouponFee: tc.coupon})
			mustRefund(t, s, "O", "R", tc.total, tc.fee)
			b := parseBill(t, refundBill(t, s, "20240603"))
			require.Len(t, b.rows, 1)
			row := b.rows[0]
			require.Equal(t, tc.settle, b.col(t, row, "退款金额"))
			require.Equal(t, tc.applied, b.col(t, row, "申请退款金额"))
			require.Equal(t, tc.handling, b.col(t, row, "手续费"))
			require.Equal(t, "0.00", b.col(t, row, "充值券退款金额"))
			requireTotals(t, b)
		})
	}
}

func TestBillErrors(t *testing.T) {
	s, _ := billLedger(t)
	ok := params{"bill_date": "20240603", "bill_type": "REFUND"}
	for _, tc := range []struct {
		name string
		p    params
		msg  string
	}{
		{"short date", with(ok, "bill_date", "2024063"), "invalid bill_date"},
		{"dashes", with(ok, "bill_date", "2024-06-03"), "invalid bill_date"},
		{"no such day", with(ok, "bill_date", "20240230"), "invalid bill_date"},
		{"month 13", with(ok, "bill_date", "20241301"), "invalid bill_date"},
		{"letters", with(ok, "bill_date", "2024O603"), "invalid bill_date"},
		{"no date", params{"bill_type": "REFUND"}, "missing parameter"},
		{"tar_type ZIP", with(ok, "tar_type", "ZIP"), "invalid tar_type, Only GZIP supported"},
		{"tar_type gzip", with(ok, "tar_type", "gzip"), "invalid tar_type, Only GZIP supported"},
		{"bill_type FOO", with(ok, "bill_type", "FOO"), "invalid bill_type"},
		{"bill_type ALL", with(ok, "bill_type", "ALL"), "bill_type ALL not supported by wxrefundtest (only REFUND)"},
		{"bill_type SUCCESS", with(ok, "bill_type", "SUCCESS"), "bill_type SUCCESS not supported by wxrefundtest (only REFUND)"},
		{"bill_type RECHARGE_REFUND", with(ok, "bill_type", "RECHARGE_REFUND"), "bill_type RECHARGE_REFUND not supported by wxrefundtest (only REFUND)"},
		{"no bill_type", params{"bill_date": "20240603"}, "bill_type ALL (the default) not supported by wxrefundtest (only REFUND)"},
		{"other mch_id", with(ok, "mch_id", "1230000109"), "invalid mch_id"},
		{"other appid", with(ok, "appid", "wx0000000000000000"), "invalid appid"},
		{"long nonce", with(ok, "nonce_str", strings.Repeat("n", 33)), "nonce_str too long"},
		{"empty nonce", with(ok, "nonce_str", ""), "missing parameter"},
		{"sub_mch_id of a direct merchant", with(ok, "sub_mch_id", subA), "普通商户不允许传sub_mch_id"},
		{"sign_type", with(ok, "sign_type", "SHA1"), "invalid sign_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, code := billFail(t, downloadBill(t, s, tc.p))
			require.Equal(t, tc.msg, msg)
			require.Equal(t, "20001", code)
		})
	}

	post := func(method string, body []byte) billReply {
		req, err := http.NewRequest(method, s.URL()+wxrefundtest.PathDownloadBill, bytes.NewReader(body))
		require.NoError(t, err)
		resp, err := httpClient(t, s, false).Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return billReply{resp.StatusCode, resp.Header.Get("Content-Type"), raw}
	}
	signed := sign(s, ok, wxrefund.SignTypeMD5)
	for _, tc := range []struct {
		name, method string
		body         []byte
		msg          string
	}{
		{"GET", http.MethodGet, nil, "require POST method"},
		{"empty", http.MethodPost, nil, "empty post data"},
		{"not XML", http.MethodPost, []byte("bill_date=20240603"), "data format error"},
		{"wrong sign", http.MethodPost, encode(t, with(signed, "sign", offByOne(signed["sign"]))), "SIGN ERROR"},
		{"unsigned", http.MethodPost, encode(t, with(signed, "sign", "")), "SIGN ERROR"},
		{"changed after signing", http.MethodPost, encode(t, with(signed, "bill_date", "20240604")), "SIGN ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, code := billFail(t, post(tc.method, tc.body))
			require.Equal(t, tc.msg, msg)
			require.Equal(t, "20001", code)
		})
	}
	r := post(http.MethodPost, bytes.Repeat([]byte("x"), 65<<10))
	require.Equal(t, http.StatusRequestEntityTooLarge, r.status)

	// A client certificate is not needed, but does no harm.
	resp, err := httpClient(t, s, true).Post(s.URL()+wxrefundtest.PathDownloadBill, "text/xml", bytes.NewReader(encode(t, signed)))
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, strings.HasPrefix(string(raw), headerCurrent+"\n"))
}

func TestBillPartner(t *testing.T) {
	clk := newClock()
	s := newPartner(t, wxrefundtest.WithClock(clk.Now))
	today := "20240603"
	// No refund yet: no bill, for the provider or a sub-merchant.
	require.Equal(t, noBill, string(downloadBill(t, s, params{"bill_date": today, "bill_type": "REFUND"}).body))

	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA1", "out_refund_no": "RA1",
		"total_fee": "5000", "refund_fee": "2000", "sub_mch_id": subA}))
	clk.Advance(time.Second)
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PB1", "out_refund_no": "RB1",
		"total_fee": "3000", "refund_fee": "3000", "sub_mch_id": subB}))
	clk.Advance(time.Second)
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA2", "out_refund_no": "RA2",
		"total_fee": "1000", "refund_fee": "999", "sub_mch_id": subA}))

	all := parseBill(t, refundBill(t, s, today))
	requireTotals(t, all)
	var got [][2]string
	for _, row := range all.rows {
		got = append(got, [2]string{all.col(t, row, "商户退款单号"), all.col(t, row, "特约商户号")})
		require.Equal(t, wxrefundtest.DefaultMchID, all.col(t, row, "商户号"), "the provider's mch_id")
		require.Equal(t, wxrefundtest.DefaultAppID, all.col(t, row, "公众账号ID"), "the provider's appid")
	}
	require.Equal(t, [][2]string{{"RA1", subA}, {"RB1", subB}, {"RA2", subA}}, got, "every sub-merchant, in the order accepted")
	require.Equal(t, "59.99", all.total(t, "申请退款总金额"))

	a := parseBill(t, refundBill(t, s, today, "sub_mch_id", subA))
	requireTotals(t, a)
	require.Len(t, a.rows, 2)
	for _, row := range a.rows {
		require.Equal(t, subA, a.col(t, row, "特约商户号"))
	}
	require.Equal(t, "29.99", a.total(t, "申请退款总金额"))
	require.Equal(t, "27.99", a.total(t, "退款总金额"))

	b := parseBill(t, refundBill(t, s, today, "sub_mch_id", subB, "sub_appid", appOfB))
	requireTotals(t, b)
	require.Len(t, b.rows, 1)
	require.Equal(t, "RB1", b.col(t, b.rows[0], "商户退款单号"))

	// The legacy layout names the column 子商户号.
	legacy := newPartner(t, wxrefundtest.WithBillLayout(wxrefundtest.BillLayoutLegacy), wxrefundtest.WithClock(newClock().Now))
	requireOK(t, call(t, legacy, wxrefundtest.PathRefund, params{"out_trade_no": "PB1", "out_refund_no": "RB1",
		"total_fee": "3000", "refund_fee": "3000", "sub_mch_id": subB}))
	lb := parseBill(t, refundBill(t, legacy, "20240603"))
	require.Equal(t, subB, lb.col(t, lb.rows[0], "子商户号"))
	requireTotals(t, lb)

	for _, tc := range []struct {
		extra []string
		msg   string
	}{
		{[]string{"sub_mch_id", "1900000199"}, "受理关系不存在"},
		{[]string{"sub_mch_id", subA, "sub_appid", appOfB}, "sub_mch_id与sub_appid不匹配"},
		{[]string{"sub_appid", appOfB}, "受理机构必须传入sub_mch_id"},
	} {
		msg, code := billFail(t, downloadBill(t, s, with(params{"bill_date": today, "bill_type": "REFUND"}, tc.extra...)))
		require.Equal(t, tc.msg, msg)
		require.Equal(t, "20001", code)
	}

	// A sub-merchant without refunds that day has no bill.
	clk.Advance(24 * time.Hour)
	requireOK(t, call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "PA2", "out_refund_no": "RA3",
		"total_fee": "1000", "refund_fee": "1", "sub_mch_id": subA}))
	require.Equal(t, noBill, string(downloadBill(t, s, params{"bill_date": "20240604", "bill_type": "REFUND", "sub_mch_id": subB}).body))
	require.Len(t, parseBill(t, refundBill(t, s, "20240604")).rows, 1)
}

func TestFailNextBill(t *testing.T) {
	s, _ := billLedger(t)
	ok := params{"bill_date": "20240603", "bill_type": "REFUND"}

	s.FailNextBill("Bill Creating", "", 1)
	r := downloadBill(t, s, with(ok, "tar_type", "GZIP"))
	require.Equal(t, "<xml><return_code>FAIL</return_code><return_msg>Bill Creating</return_msg></xml>", string(r.body))
	billFail(t, r)
	require.True(t, strings.HasPrefix(refundBill(t, s, "20240603"), headerCurrent), "one failure only")

	// Queued runs; requests refused for their parameters do not take one.
	s.FailNextBill("Bill Creating", "", 1)
	s.FailNextBill("SYSTEMERROR", "20003", 2)
	msg, _ := billFail(t, downloadBill(t, s, with(ok, "bill_date", "2024")))
	require.Equal(t, "invalid bill_date", msg)
	for _, want := range [][2]string{{"Bill Creating", ""}, {"SYSTEMERROR", "20003"}, {"SYSTEMERROR", "20003"}} {
		msg, code := billFail(t, downloadBill(t, s, ok))
		require.Equal(t, want, [2]string{msg, code})
	}
	refundBill(t, s, "20240603")

	// An injected failure replaces No Bill Exist too; ClearFaults clears.
	s.FailNextBill("a <b> & c", "1", 1)
	r = downloadBill(t, s, with(ok, "bill_date", "20240101"))
	require.Equal(t, "<xml><return_code>FAIL</return_code><return_msg>a &lt;b&gt; &amp; c</return_msg><error_code>1</error_code></xml>", string(r.body))
	s.FailNextBill("Bill Creating", "", 5)
	s.ClearFaults()
	refundBill(t, s, "20240603")

	// The admin API.
	status, raw := admin(t, s, http.MethodPost, "/fake/bills/fail", `{"return_msg":"Bill Creating","times":1}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	msg, code := billFail(t, downloadBill(t, s, ok))
	require.Equal(t, "Bill Creating", msg)
	require.Empty(t, code)
	for _, body := range []string{`{"times":1}`, `{"return_msg":"x","error_code":"2 0","times":1}`, `{"return_msg":"\u0001","times":1}`, `{"msg":"x"}`} {
		status, raw = admin(t, s, http.MethodPost, "/fake/bills/fail", body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", body, raw)
	}
	refundBill(t, s, "20240603")
}

func TestSetBill(t *testing.T) {
	s, _ := billLedger(t)
	ok := params{"bill_date": "20240603", "bill_type": "REFUND"}
	ledger := refundBill(t, s, "20240603")

	var calls atomic.Int32
	custom := "custom,bill\n`1,`2\n"
	// The calendar date in China Standard Time: 2024-06-02 20:00 in UTC-10
	// is already 2024-06-03 in China.
	s.SetBill(time.Date(2024, 6, 2, 20, 0, 0, 0, time.FixedZone("HST", -10*3600)), func(w io.Writer) error {
		calls.Add(1)
		_, err := io.WriteString(w, custom)
		return err
	})
	require.Equal(t, custom, refundBill(t, s, "20240603"))
	require.Equal(t, custom, gunzip(t, downloadBill(t, s, with(ok, "tar_type", "GZIP")).body))
	require.Equal(t, custom, refundBill(t, s, "20240603", "sub_mch_id", ""), "served as it is")
	require.EqualValues(t, 3, calls.Load(), "called for each download")
	require.NotEqual(t, custom, refundBill(t, s, "20240604"))

	// A day without refunds serves it too.
	s.SetBill(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), func(w io.Writer) error { _, err := io.WriteString(w, custom); return err })
	require.Equal(t, custom, refundBill(t, s, "20240101"))

	s.SetBill(time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC), nil)
	require.Equal(t, ledger, refundBill(t, s, "20240603"))

	// A body that fails breaks the download off, plain or gzipped.
	s.SetBill(time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC), func(w io.Writer) error {
		_, _ = io.WriteString(w, strings.Repeat("`half a bill\n", 10000))
		return errors.New("disk full")
	})
	for _, tar := range []string{"", "GZIP"} {
		resp, err := httpClient(t, s, false).Post(s.URL()+wxrefundtest.PathDownloadBill, "text/xml",
			bytes.NewReader(encode(t, sign(s, with(ok, "tar_type", tar), wxrefund.SignTypeMD5))))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		require.Error(t, err, "tar_type %q: the client sees a failed download", tar)
	}
}

func TestSyntheticRefundBill(t *testing.T) {
	date := time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	for _, layout := range []wxrefundtest.BillLayout{wxrefundtest.BillLayoutCurrent, wxrefundtest.BillLayoutLegacy} {
		s := newServer(t, wxrefundtest.WithPartner(subA, subB), wxrefundtest.WithBillLayout(layout))
		var buf bytes.Buffer
		require.NoError(t, s.SyntheticRefundBill(date, 25)(&buf))
		b := parseBill(t, buf.String())
		require.Len(t, b.rows, 25)
		requireTotals(t, b)
		first, last := b.rows[0], b.rows[24]
		require.Equal(t, "2024-06-03 00:00:00", b.col(t, first, "交易时间"))
		require.Equal(t, "2024-06-03 23:59:59", b.col(t, last, "交易时间"))
		require.Equal(t, "SYNR0000000000", b.col(t, first, "商户退款单号"))
		require.Equal(t, "SYNO0000000024", b.col(t, last, "商户订单号"))
		require.Equal(t, "SUCCESS", b.col(t, last, "退款状态"))
		require.Len(t, b.col(t, last, "微信订单号"), 28)
		require.Len(t, b.col(t, last, "微信退款单号"), 29)
		sub := "特约商户号"
		if layout == wxrefundtest.BillLayoutLegacy {
			sub = "子商户号"
		}
		require.Equal(t, subA, b.col(t, b.rows[0], sub))
		require.Equal(t, subB, b.col(t, b.rows[1], sub))
		// Refunds of 0.01 to 0.25, rows 9 and 19 with 0.01 and 0.02 by coupon.
		if layout == wxrefundtest.BillLayoutLegacy {
			require.Equal(t, "3.25", b.total(t, "总退款金额"))
			require.Equal(t, "0.03", b.total(t, "总代金券或立减优惠退款金额"))
		} else {
			require.Equal(t, "3.25", b.total(t, "申请退款总金额"))
			require.Equal(t, "3.22", b.total(t, "退款总金额"))
		}
	}

	// One row; none.
	s := newServer(t)
	var buf bytes.Buffer
	require.NoError(t, s.SyntheticRefundBill(date, 1)(&buf))
	b := parseBill(t, buf.String())
	require.Len(t, b.rows, 1)
	require.Equal(t, "0", b.col(t, b.rows[0], "特约商户号"))
	buf.Reset()
	require.NoError(t, s.SyntheticRefundBill(date, 0)(&buf))
	require.Equal(t, headerCurrent+"\n"+summaryCurrent+"\n`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00\n", buf.String())

	// Through the admin API.
	status, raw := admin(t, s, http.MethodPost, "/fake/bills/synthetic", `{"bill_date":"20240603","rows":3}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	require.Len(t, parseBill(t, refundBill(t, s, "20240603")).rows, 3)
	status, _ = admin(t, s, http.MethodPost, "/fake/bills/synthetic", `{"bill_date":"20240603","rows":0}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, noBill, string(downloadBill(t, s, params{"bill_date": "20240603", "bill_type": "REFUND"}).body))
	for _, body := range []string{`{"bill_date":"2024-06-03","rows":1}`, `{"bill_date":"20240603","rows":-1}`, `{"rows":1}`} {
		status, raw = admin(t, s, http.MethodPost, "/fake/bills/synthetic", body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %s", body, raw)
	}
}

// TestLargeBill downloads a generated bill of a million rows, plain and
// gzipped, line by line, and checks that neither the server nor this client
// ever held it in memory: the live heap stays far below the bill's size.
func TestLargeBill(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a million-row bill")
	}
	rows := largeBillRows
	s := newServer(t)
	date := time.Date(2024, 6, 3, 0, 0, 0, 0, time.UTC)
	s.SetBill(date, s.SyntheticRefundBill(date, rows))

	for _, tar := range []string{"", "GZIP"} {
		t.Run("tar_type="+tar, func(t *testing.T) {
			peak := watchHeap(t)
			resp, err := httpClient(t, s, false).Post(s.URL()+wxrefundtest.PathDownloadBill, "text/xml",
				bytes.NewReader(encode(t, sign(s, params{"bill_date": "20240603", "bill_type": "REFUND", "tar_type": tar},
					wxrefund.SignTypeMD5))))
			require.NoError(t, err)
			defer resp.Body.Close()
			var body io.Reader = resp.Body
			if tar == "GZIP" {
				zr, err := gzip.NewReader(resp.Body)
				require.NoError(t, err)
				body = zr
			}
			var n, lines, refund, bytesRead int64
			var summary string
			inSummary := false
			sc := bufio.NewScanner(body)
			for sc.Scan() {
				line := sc.Text()
				bytesRead += int64(len(line)) + 1
				lines++
				switch {
				case lines == 1:
					require.Equal(t, headerCurrent, line)
				case strings.HasPrefix(line, "总交易单数"):
					inSummary = true
				case inSummary:
					summary = line
				case strings.HasPrefix(line, "`"):
					n++
					fields := strings.Split(line, ",")
					require.Len(t, fields, 29, "line %d", lines)
					refund += fen(fields[27])
				}
			}
			require.NoError(t, sc.Err())
			require.EqualValues(t, rows, n)
			require.NotEmpty(t, summary)
			require.Equal(t, refund, fen(strings.Split(summary, ",")[6]))
			require.Greater(t, bytesRead, int64(rows)*200, "the bill is over 200 bytes a row")
			p := peak()
			t.Logf("%d MiB streamed; peak heap %d MiB", bytesRead>>20, p>>20)
			require.Less(t, p, uint64(64<<20), "peak heap while %d MiB streamed", bytesRead>>20)
		})
	}
}

// fen parses a non-negative bill amount with two decimals after its
// backtick, such as "`12.34", into fen; -1 when it is not one.
func fen(field string) int64 {
	whole, frac, ok := strings.Cut(strings.TrimPrefix(field, "`"), ".")
	w, err1 := strconv.ParseInt(whole, 10, 64)
	f, err2 := strconv.ParseInt(frac, 10, 64)
	if !ok || len(frac) != 2 || err1 != nil || err2 != nil {
		return -1
	}
	return w*100 + f
}

// watchHeap samples the live heap until the returned function is called,
// which returns the highest sample.
func watchHeap(t testing.TB) func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var mu sync.Mutex
	var peak uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			peak = max(peak, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop := func() uint64 {
		once.Do(func() { close(done); <-stopped })
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
	t.Cleanup(func() { stop() })
	return stop
}
