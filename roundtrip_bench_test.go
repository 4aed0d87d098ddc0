package wxrefund_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// rtBody writes fields, signed with MD5 and apiKey, as an <xml> answer.
func rtBody(fields map[string]string, apiKey string) []byte {
	fields["sign"] = wxrefund.Sign(fields, apiKey, wxrefund.SignTypeMD5)
	var b strings.Builder
	b.WriteString("<xml>")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fields {
			if !yield(k) {
				return
			}
		}
	}) {
		b.WriteString("<" + k + "><![CDATA[" + fields[k] + "]]></" + k + ">")
	}
	b.WriteString("</xml>")
	return []byte(b.String())
}

// BenchmarkRoundTrip: Refund and QueryRefund over loopback mutual TLS,
// against a minimal server that answers a canned signed body (the SDK's
// share of a call) and against wxrefundtest (a full fake). It reports TLS
// handshakes per 1,000 calls: a Client keeps its connection.
func BenchmarkRoundTrip(b *testing.B) {
	fake, err := wxrefundtest.NewServer()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fake.Close)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD20240601123456", OutRefundNo: "RF20240603000001",
		TotalFee: 5000, RefundFee: 2000}
	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: req.OutTradeNo, TotalFee: req.TotalFee}); err != nil {
		b.Fatal(err)
	}
	appID, mchID, apiKey := fake.Credentials()
	base := map[string]string{"return_code": "SUCCESS", "return_msg": "OK", "appid": appID, "mch_id": mchID,
		"nonce_str": "n0nce", "result_code": "SUCCESS", "out_trade_no": req.OutTradeNo,
		"transaction_id": "4200001234202406011234567890"}
	refund := map[string]string{"out_refund_no": req.OutRefundNo, "refund_id": "50300012345202406031234567890",
		"refund_fee": "2000", "total_fee": "5000", "cash_fee": "5000"}
	query := map[string]string{"total_fee": "5000", "cash_fee": "5000", "refund_count": "1",
		"out_refund_no_0": req.OutRefundNo, "refund_id_0": "50300012345202406031234567890",
		"refund_fee_0": "2000", "refund_status_0": "PROCESSING"}
	for k, v := range base {
		refund[k], query[k] = v, v
	}
	canned := http.NewServeMux()
	for path, body := range map[string][]byte{
		wxrefundtest.PathRefund:      rtBody(refund, apiKey),
		wxrefundtest.PathRefundQuery: rtBody(query, apiKey),
	} {
		canned.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/xml")
			_, _ = w.Write(body)
		})
	}
	srv := httptest.NewUnstartedServer(canned)
	srv.TLS = fake.TLSConfig() // the fake's server certificate, and it asks for the merchant's
	srv.StartTLS()
	b.Cleanup(srv.Close)

	client := func(baseURL string) *wxrefund.Client {
		c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(), wxrefund.WithBaseURL(baseURL))...)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	cc, fc := client(srv.URL), client(fake.URL())
	q := &wxrefund.QueryRefundRequest{OutRefundNo: req.OutRefundNo}
	for _, tc := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"refund/canned", func(ctx context.Context) error { _, err := cc.Refund(ctx, req); return err }},
		{"query/canned", func(ctx context.Context) error { _, err := cc.QueryRefund(ctx, q); return err }},
		{"refund/wxrefundtest", func(ctx context.Context) error { _, err := fc.Refund(ctx, req); return err }},
		{"query/wxrefundtest", func(ctx context.Context) error { _, err := fc.QueryRefund(ctx, q); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var handshakes atomic.Int64
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				TLSHandshakeStart: func() { handshakes.Add(1) },
			})
			b.ReportAllocs()
			calls := 0
			for b.Loop() {
				if err := tc.call(ctx); err != nil {
					b.Fatal(err)
				}
				calls++
			}
			b.ReportMetric(float64(handshakes.Load())*1000/float64(calls), "handshakes/1000calls")
		})
	}
}
