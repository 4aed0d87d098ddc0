package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// This file holds the commands about the refund bill: bill and reconcile.

// billDate reads -date (YYYY-MM-DD, a day in China Standard Time).
func billDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, usageErr("-date is required: the bill's day, YYYY-MM-DD in China Standard Time (bills are made the next morning)")
	}
	d, err := time.ParseInLocation("2006-01-02", s, wxrefund.ChinaTime)
	if err != nil {
		return time.Time{}, usageErr("-date %q: want YYYY-MM-DD", s)
	}
	return d, nil
}

// billColumns are the columns bill writes: the SDK's field name, with the
// bill's own name beside it for people.
var billColumns = []string{
	"TradeTime 交易时间", "MchID 商户号", "SubMchID 特约商户号", "TransactionID 微信订单号", "OutTradeNo 商户订单号",
	"RefundID 微信退款单号", "OutRefundNo 商户退款单号", "RefundFee 退款总额", "SettlementRefundFee 应结退款金额",
	"CouponRefundFee 代金券退款金额", "RechargeCouponRefundFee 充值券退款金额", "Status 退款状态",
	"RefundRequestTime 退款申请时间", "RefundSuccessTime 退款成功时间", "HandlingFee 手续费", "ProductName 商品名称",
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(wxrefund.ChinaTime).Format(wxrefund.TimeLayout)
}

func billRow(r *wxrefund.RefundBillRecord) []string {
	return []string{timeText(r.TradeTime), r.MchID, r.SubMchID, r.TransactionID, r.OutTradeNo, r.RefundID, r.OutRefundNo,
		yuan(r.RefundFee), yuan(r.SettlementRefundFee), yuan(r.CouponRefundFee), yuan(r.RechargeCouponRefundFee),
		string(r.Status), timeText(r.RefundRequestTime), timeText(r.RefundSuccessTime), r.HandlingFee.String(), r.ProductName}
}

// billJSON is a bill row as bill writes it in JSON lines: the SDK's field
// names, amounts in fen.
type billJSON struct {
	TradeTime, RefundRequestTime, RefundSuccessTime                          string
	AppID, MchID, SubMchID, TransactionID, OutTradeNo, RefundID, OutRefundNo string
	RefundFee, SettlementRefundFee, CouponRefundFee, RechargeCouponRefundFee int64
	Status                                                                   wxrefund.RefundStatus
	HandlingFee                                                              wxrefund.MilliFen
	ProductName, Attach                                                      string
}

func runBill(a *app, args []string) error {
	fs, cf := a.newFlagSet("bill", commandSynopsis("bill"))
	date := fs.String("date", "", "the bill's day, YYYY-MM-DD in China Standard Time (required)")
	format := fs.String("format", "csv", "csv (UTF-8 with a BOM, yuan with two decimals) or jsonl (amounts in fen; HandlingFee in 0.00001 CNY)")
	out := fs.String("out", "", "file to write (default standard output); written whole or not at all")
	all := fs.Bool("all-sub-merchants", false, "service-provider mode: the bill of every sub-merchant")
	if err := parse(fs, args); err != nil {
		return err
	}
	day, err := billDate(*date)
	if err != nil {
		return err
	}
	if *format != "csv" && *format != "jsonl" {
		return usageErr("-format %q: want csv or jsonl", *format)
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	cl, err := c.client(false)
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()

	w := a.stdout
	var file *os.File
	if *out != "" {
		if file, err = os.CreateTemp(dirOf(*out), ".wxrefund-bill-*"); err != nil {
			return failf(exitUsage, "cannot write -out %s: %v", *out, err)
		}
		// On success the file is closed (checked) and renamed: these then do
		// nothing. On failure they remove the partial bill.
		defer func() { _ = os.Remove(file.Name()) }()
		defer func() { _ = file.Close() }()
		w = file
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var cw *csv.Writer
	if *format == "csv" {
		if _, err := bw.WriteString("\ufeff"); err != nil {
			return err
		}
		cw = csv.NewWriter(bw)
		if err := cw.Write(billColumns); err != nil {
			return err
		}
	}
	ctx, cancel := a.callContext(c)
	defer cancel()
	rows := 0
	start := time.Now()
	sum, err := cl.DownloadRefundBill(ctx, &wxrefund.RefundBillRequest{Date: day, SubMchID: c.subMchID, AllSubMerchants: *all},
		func(r *wxrefund.RefundBillRecord) error {
			rows++
			if a.interactive && rows%20000 == 0 {
				a.eprintf("\r%d rows…", rows)
			}
			if cw != nil {
				return cw.Write(billRow(r))
			}
			return printJSON(bw, billJSON{TradeTime: timeText(r.TradeTime), RefundRequestTime: timeText(r.RefundRequestTime),
				RefundSuccessTime: timeText(r.RefundSuccessTime), AppID: r.AppID, MchID: r.MchID, SubMchID: r.SubMchID,
				TransactionID: r.TransactionID, OutTradeNo: r.OutTradeNo, RefundID: r.RefundID, OutRefundNo: r.OutRefundNo,
				RefundFee: r.RefundFee, SettlementRefundFee: r.SettlementRefundFee, CouponRefundFee: r.CouponRefundFee,
				RechargeCouponRefundFee: r.RechargeCouponRefundFee, Status: r.Status, HandlingFee: r.HandlingFee,
				ProductName: r.ProductName, Attach: r.Attach})
		})
	if a.interactive && rows >= 20000 {
		a.eprintf("\n")
	}
	if errors.Is(err, wxrefund.ErrBillNotFound) {
		return &exitError{code: exitFailed, err: err, msg: "WeChat Pay has no refund bill for " + *date + ": no refund was accepted that day, or the bill is not made yet (from 09:00 the next day)"}
	}
	if err != nil {
		return err
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return failf(exitFailed, "writing the bill: %v", err)
	}
	if file != nil {
		if err := file.Sync(); err != nil {
			return failf(exitFailed, "writing the bill: %v", err)
		}
		if err := file.Close(); err != nil {
			return failf(exitFailed, "writing the bill: %v", err)
		}
		if err := os.Rename(file.Name(), *out); err != nil {
			return failf(exitFailed, "writing the bill: %v", err)
		}
	}
	report := a.stderr
	if *out != "" {
		report = a.stdout
	}
	if c.json && *out != "" {
		return printJSON(a.stdout, map[string]any{"Date": *date, "Rows": rows, "AddsUp": true, "Summary": sum})
	}
	a.note(fmt.Fprintf(report, "bill of %s: %d refunds, %s yuan in all (settlement %s, coupons %s), handling fee %s yuan; the rows add up to the summary (%v)\n",
		*date, sum.Count, yuan(sum.RefundFee), yuan(sum.SettlementRefundFee), yuan(sum.CouponRefundFee), sum.HandlingFee,
		time.Since(start).Round(time.Millisecond)))
	return nil
}

// dirOf is the folder of path, for a temporary file beside it.
func dirOf(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[:i+1]
	}
	return "."
}

// ownRefunds reads the merchant's own refunds: a CSV with a header naming
// out_refund_no and refund_fee (fen).
func ownRefunds(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("cannot read -refunds: %v", err)
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, usageErr("-refunds %s: no header line (want out_refund_no,refund_fee): %v", path, err)
	}
	noCol, feeCol := -1, -1
	for i, h := range header {
		switch strings.TrimPrefix(strings.TrimSpace(strings.ToLower(h)), "\ufeff") {
		case "out_refund_no":
			noCol = i
		case "refund_fee":
			feeCol = i
		}
	}
	if noCol < 0 || feeCol < 0 {
		return nil, usageErr("-refunds %s: the header must name out_refund_no and refund_fee (in fen)", path)
	}
	out := map[string]int64{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, usageErr("-refunds %s: %v", path, err)
		}
		if len(rec) <= max(noCol, feeCol) {
			return nil, usageErr("-refunds %s, line %d: too few fields", path, line)
		}
		no := strings.TrimSpace(rec[noCol])
		fee, err := strconv.ParseInt(strings.TrimSpace(rec[feeCol]), 10, 64)
		if err != nil || no == "" || fee < 0 {
			return nil, usageErr("-refunds %s, line %d: want an out_refund_no and a refund_fee in whole fen", path, line)
		}
		if _, dup := out[no]; dup {
			return nil, usageErr("-refunds %s, line %d: out_refund_no %s twice", path, line, no)
		}
		out[no] = fee
	}
}

// difference is one line of reconcile's report.
type difference struct {
	OutRefundNo      string
	Kind             string // missing at WeChat Pay, missing in yours, amount differs, twice in the bill
	Yours, WeChatPay int64  // fen; -1 where missing
	RefundID, Status string
}

func runReconcile(a *app, args []string) error {
	fs, cf := a.newFlagSet("reconcile", commandSynopsis("reconcile"))
	date := fs.String("date", "", "the bill's day, YYYY-MM-DD in China Standard Time (required)")
	refunds := fs.String("refunds", "", "CSV of your refunds of that day: out_refund_no,refund_fee (fen) (required)")
	all := fs.Bool("all-sub-merchants", false, "service-provider mode: the bill of every sub-merchant")
	if err := parse(fs, args); err != nil {
		return err
	}
	day, err := billDate(*date)
	if err != nil {
		return err
	}
	if *refunds == "" {
		return usageErr("-refunds is required: a CSV of your refunds of that day with out_refund_no and refund_fee (fen)")
	}
	mine, err := ownRefunds(*refunds)
	if err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	cl, err := c.client(false)
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := a.callContext(c)
	defer cancel()
	var diffs []difference
	seen := map[string]bool{}
	// An out_refund_no is unique per merchant: twice in one merchant's
	// bill is a difference too (sub-merchants may each use the same one).
	inBill := map[[2]string]int{}
	sum, err := cl.DownloadRefundBill(ctx, &wxrefund.RefundBillRequest{Date: day, SubMchID: c.subMchID, AllSubMerchants: *all},
		func(r *wxrefund.RefundBillRecord) error {
			no := strings.Clone(r.OutRefundNo)
			seen[no] = true
			key := [2]string{strings.Clone(r.SubMchID), no}
			inBill[key]++
			fee, ok := mine[no]
			switch {
			case inBill[key] > 1:
				diffs = append(diffs, difference{no, "twice in the bill", -1, r.RefundFee, strings.Clone(r.RefundID), string(r.Status)})
			case !ok:
				diffs = append(diffs, difference{no, "missing in yours", -1, r.RefundFee, strings.Clone(r.RefundID), string(r.Status)})
			case fee != r.RefundFee:
				diffs = append(diffs, difference{no, "amount differs", fee, r.RefundFee, strings.Clone(r.RefundID), string(r.Status)})
			}
			return nil
		})
	if errors.Is(err, wxrefund.ErrBillNotFound) {
		err, sum = nil, &wxrefund.RefundBillSummary{} // no refund that day at WeChat Pay
	}
	if err != nil {
		return err
	}
	for _, no := range sortedFenKeys(mine) {
		if !seen[no] {
			diffs = append(diffs, difference{OutRefundNo: no, Kind: "missing at WeChat Pay", Yours: mine[no], WeChatPay: -1})
		}
	}
	if c.json {
		for _, d := range diffs {
			if err := printJSON(a.stdout, d); err != nil {
				return err
			}
		}
	} else if len(diffs) > 0 {
		rows := make([][]string, len(diffs))
		for i, d := range diffs {
			rows[i] = []string{d.OutRefundNo, d.Kind, fenOrDash(d.Yours), fenOrDash(d.WeChatPay), d.RefundID, d.Status}
		}
		a.table([]string{"out_refund_no", "difference", "yours", "wechat_pay", "refund_id", "status"}, rows)
	}
	a.eprintf("reconcile %s: %d refunds in the bill, %d in yours, %d differences\n", *date, sum.Count, len(mine), len(diffs))
	if len(diffs) > 0 {
		return failf(exitFailed, "%d differences between the bill of %s and %s", len(diffs), *date, *refunds)
	}
	return nil
}

func fenOrDash(fen int64) string {
	if fen < 0 {
		return "-"
	}
	return yuan(fen)
}

func sortedFenKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
