package wxrefund

import (
	"testing"

	"github.com/go-wxpay/wxrefund/internal/wire"
)

// ntBenchParams is a realistic 12-field apply-refund request.
func ntBenchParams() map[string]string {
	return map[string]string{
		"appid":           ntAppID,
		"mch_id":          ntMchID,
		"nonce_str":       "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
		"out_trade_no":    "ORD20240601123456",
		"out_refund_no":   "RF20240603000001",
		"total_fee":       "5000",
		"refund_fee":      "2000",
		"refund_fee_type": "CNY",
		"refund_desc":     "商品缺货",
		"refund_account":  "REFUND_SOURCE_UNSETTLED_FUNDS",
		"notify_url":      "https://merchant.example.com/wxpay/refund-notify",
		"sign_type":       "MD5",
	}
}

func BenchmarkSign(b *testing.B) {
	p := ntBenchParams()
	for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
		b.Run(string(st), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Sign(p, ntKey, st)
			}
		})
	}
}

func BenchmarkVerifySign(b *testing.B) {
	f, err := wire.Decode(ntReadVector(b, "refundquery_response_9_3.xml"), "xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := verifySign(f, ntKey, SignTypeMD5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	p := ntBenchParams()
	p["sign"] = Sign(p, ntKey, SignTypeMD5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Encode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	doc := ntReadVector(b, "refundquery_response_9_3.xml")
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(doc, "xml"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptNotify(b *testing.B) {
	body := ntReadVector(b, "notify_9_4.xml")
	c, err := NewClient(ntAppID, ntMchID, ntKey)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.DecryptNotify(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseQueryResponse(b *testing.B) {
	f, err := wire.Decode(ntReadVector(b, "refundquery_response_9_3.xml"), "xml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseQueryResponse(f, &QueryRefundRequest{OutTradeNo: f["out_trade_no"]}); err != nil {
			b.Fatal(err)
		}
	}
}
