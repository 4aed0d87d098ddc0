package wxrefund

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mtQuerySample returns the fields of the query response vector
// (testdata/vectors/refundquery_response_9_3.xml).
func mtQuerySample(t testing.TB) map[string]string {
	t.Helper()
	f, err := mtDecode(mtReadVector(t, "refundquery_response_9_3.xml"), "xml")
	require.NoError(t, err)
	return f
}

// mtQueryIDs are the four identifier fields of a query.
var mtQueryIDs = []string{"transaction_id", "out_trade_no", "out_refund_no", "refund_id"}

func TestQueryRefundIdentifiers(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	reqs := mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(req map[string]string) map[string]string {
		f := mtQueryOK()
		if no := req["out_refund_no"]; no != "" {
			f["out_refund_no_0"] = no // the answer is about the refund asked about
		}
		return f
	})

	ok := []struct {
		name string
		req  QueryRefundRequest
		key  string
		val  string
	}{
		{"TransactionID", QueryRefundRequest{TransactionID: "4200001234202406011234567890"}, "transaction_id", "4200001234202406011234567890"},
		{"OutTradeNo", QueryRefundRequest{OutTradeNo: "ORD20240601123456"}, "out_trade_no", "ORD20240601123456"},
		{"OutRefundNo", QueryRefundRequest{OutRefundNo: "RF_-|*@1"}, "out_refund_no", "RF_-|*@1"},
		{"RefundID", QueryRefundRequest{RefundID: "50300012345202406031234567890"}, "refund_id", "50300012345202406031234567890"},
	}
	for _, tc := range ok {
		t.Run(tc.name+" alone", func(t *testing.T) {
			resp, err := c.QueryRefund(context.Background(), &tc.req)
			require.NoError(t, err)
			require.Len(t, resp.Refunds, 1)
			got := mtReceive(t, reqs)
			assert.Equal(t, "/pay/refundquery", got.Path)
			assert.Equal(t, tc.val, got.Fields[tc.key])
			for _, k := range mtQueryIDs {
				if k != tc.key {
					assert.NotContains(t, got.Fields, k)
				}
			}
			assert.NotContains(t, got.Fields, "offset")
		})
	}

	bad := []struct {
		name  string
		req   *QueryRefundRequest
		field string
	}{
		{"nil", nil, ""},
		{"none", &QueryRefundRequest{}, "TransactionID"},
		{"none, with an offset", &QueryRefundRequest{Offset: 10}, "TransactionID"},
		{"TransactionID and OutTradeNo", &QueryRefundRequest{TransactionID: "4200001234202406011234567890", OutTradeNo: "ORD1"}, "OutTradeNo"},
		{"OutTradeNo and OutRefundNo", &QueryRefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1"}, "OutRefundNo"},
		{"OutRefundNo and RefundID", &QueryRefundRequest{OutRefundNo: "RF1", RefundID: "503"}, "RefundID"},
		{"TransactionID and RefundID", &QueryRefundRequest{TransactionID: "42", RefundID: "503"}, "RefundID"},
		{"all four", &QueryRefundRequest{TransactionID: "42", OutTradeNo: "O", OutRefundNo: "R", RefundID: "5"}, "OutTradeNo"},
		{"OutRefundNo with a space", &QueryRefundRequest{OutRefundNo: "RF 1"}, "OutRefundNo"},
		{"OutRefundNo too long", &QueryRefundRequest{OutRefundNo: strings.Repeat("R", 65)}, "OutRefundNo"},
		{"RefundID with XML", &QueryRefundRequest{RefundID: "<x/>"}, "RefundID"},
		{"Offset negative", &QueryRefundRequest{OutTradeNo: "ORD20240601123456", Offset: -1}, "Offset"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.QueryRefund(context.Background(), tc.req)
			require.Error(t, err)
			assert.Nil(t, resp)
			require.ErrorIs(t, err, ErrInvalidRequest)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tc.field, ve.Field)
			assert.Empty(t, reqs, "an invalid query reached the server")
		})
	}
}

func TestQueryRefundOffset(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	reqs := mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(req map[string]string) map[string]string {
		f := mtQueryOK()
		if req["offset"] != "" {
			f["total_refund_count"] = "12"
		}
		return f
	})
	for _, tc := range []struct {
		offset    int
		sent      string // "" = not sent
		wantTotal int
	}{
		{0, "", 0},
		{1, "1", 12},
		{10, "10", 12},
	} {
		resp, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutTradeNo: "ORD20240601123456", Offset: tc.offset})
		require.NoError(t, err, "offset %d", tc.offset)
		got := mtReceive(t, reqs)
		if tc.sent == "" {
			assert.NotContains(t, got.Fields, "offset", "offset %d", tc.offset)
		} else {
			assert.Equal(t, tc.sent, got.Fields["offset"], "offset %d", tc.offset)
		}
		assert.Equal(t, tc.wantTotal, resp.TotalRefundCount)
	}
}

func TestQueryRefundSpecSample(t *testing.T) {
	t.Parallel()
	sample := mtReadVector(t, "refundquery_response_9_3.xml")
	c, mux := setup(t)
	reqs := make(chan mtRequest, 1)
	mux.HandleFunc(pathRefundQuery, func(w http.ResponseWriter, r *http.Request) {
		reqs <- mtReadRequest(t, r, SignTypeMD5)
		mtWriteXML(w, sample)
	})

	got, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutTradeNo: "ORD20240601123456"})
	require.NoError(t, err)
	assert.Equal(t, "ORD20240601123456", mtReceive(t, reqs).Fields["out_trade_no"])

	cst := time.FixedZone("UTC+8", 8*3600)
	want := &QueryRefundResponse{
		TransactionID:      "4200001234202406011234567890",
		OutTradeNo:         "ORD20240601123456",
		TotalFee:           5000,
		SettlementTotalFee: 4500,
		CashFee:            4500,
		FeeType:            "CNY",
		TotalRefundCount:   0,
		RefundFee:          3000,
		CouponRefundFee:    300,
		CashRefundFee:      2700,
		Refunds: []RefundRecord{
			{
				OutRefundNo:         "RF20240603000001",
				RefundID:            "50300012345202406031234567890",
				RefundChannel:       "ORIGINAL",
				RefundFee:           2000,
				SettlementRefundFee: 1800,
				CouponRefundFee:     200,
				Coupons:             []Coupon{{ID: "20000000123", Type: CouponTypeNoCash, Fee: 200}},
				Status:              RefundStatusSuccess,
				RefundAccount:       RefundAccountUnsettledFunds,
				RecvAccount:         "支付用户零钱",
			},
			{
				OutRefundNo:         "RF20240604000002",
				RefundID:            "50300012345202406041234567891",
				RefundChannel:       "ORIGINAL",
				RefundFee:           1000,
				SettlementRefundFee: 900,
				CouponRefundFee:     100,
				Coupons:             []Coupon{{ID: "20000000123", Type: CouponTypeNoCash, Fee: 100}},
				Status:              RefundStatusProcessing,
				RefundAccount:       RefundAccountUnsettledFunds,
				RecvAccount:         "招商银行信用卡1234",
			},
		},
	}

	// Times compare by instant; check them apart from the rest.
	require.Len(t, got.Refunds, 2)
	success := got.Refunds[0].SuccessTime
	assert.True(t, success.Equal(time.Date(2024, 6, 3, 10, 15, 42, 0, cst)), "got %v", success)
	assert.True(t, success.Equal(time.Date(2024, 6, 3, 2, 15, 42, 0, time.UTC)), "got %v", success)
	_, offset := success.Zone()
	assert.Equal(t, 8*3600, offset)
	assert.Equal(t, "2024-06-03 10:15:42", success.Format(TimeLayout))
	assert.True(t, got.Refunds[1].SuccessTime.IsZero(), "a PROCESSING refund has no success time")
	got.Refunds[0].SuccessTime = time.Time{}

	assert.Equal(t, mtQuerySample(t), got.Raw)
	got.Raw = nil
	assert.Equal(t, want, got)
	assert.True(t, got.Refunds[0].Status.Final())
	assert.False(t, got.Refunds[1].Status.Final())
}

func TestQueryRefundResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(f map[string]string)
		check  func(t *testing.T, resp *QueryRefundResponse, err error)
	}{
		{
			name:   "refund_count far beyond the body",
			mutate: func(f map[string]string) { f["refund_count"] = "1000000" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_count beyond the records",
			mutate: func(f map[string]string) { f["refund_count"] = "3" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_count negative",
			mutate: func(f map[string]string) { f["refund_count"] = "-1" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_count not a number",
			mutate: func(f map[string]string) { f["refund_count"] = "two" },
			check:  mtQueryMalformed,
		},
		{
			name:   "coupon_refund_count_0 far beyond the body",
			mutate: func(f map[string]string) { f["coupon_refund_count_0"] = "1000000" },
			check:  mtQueryMalformed,
		},
		{
			name:   "coupon_refund_count_1 beyond the coupons",
			mutate: func(f map[string]string) { f["coupon_refund_count_1"] = "2" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_fee_0 not an integer",
			mutate: func(f map[string]string) { f["refund_fee_0"] = "20.00" },
			check:  mtQueryMalformed,
		},
		{
			name:   "coupon_refund_fee_0_0 not an integer",
			mutate: func(f map[string]string) { f["coupon_refund_fee_0_0"] = "2e2" },
			check:  mtQueryMalformed,
		},
		{
			name:   "total_fee overflows int64",
			mutate: func(f map[string]string) { f["total_fee"] = "9223372036854775808" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_success_time_0 in another layout",
			mutate: func(f map[string]string) { f["refund_success_time_0"] = "2024-06-03T10:15:42+08:00" },
			check:  mtQueryMalformed,
		},
		{
			name:   "refund_success_time_0 impossible date",
			mutate: func(f map[string]string) { f["refund_success_time_0"] = "2024-02-30 10:15:42" },
			check:  mtQueryMalformed,
		},
		{
			name:   "total_refund_count negative",
			mutate: func(f map[string]string) { f["total_refund_count"] = "-1" },
			check:  mtQueryMalformed,
		},
		{
			name:   "legacy NOTSURE kept, not final",
			mutate: func(f map[string]string) { f["refund_status_1"] = "NOTSURE" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, RefundStatusNotSure, resp.Refunds[1].Status)
				assert.False(t, resp.Refunds[1].Status.Final())
			},
		},
		{
			name:   "legacy FAIL kept, final",
			mutate: func(f map[string]string) { f["refund_status_1"] = "FAIL" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, RefundStatusFail, resp.Refunds[1].Status)
				assert.True(t, resp.Refunds[1].Status.Final())
			},
		},
		{
			name:   "unknown status kept, not final",
			mutate: func(f map[string]string) { f["refund_status_1"] = "SOMETHING_NEW" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, RefundStatus("SOMETHING_NEW"), resp.Refunds[1].Status)
				assert.False(t, resp.Refunds[1].Status.Final())
			},
		},
		{
			name: "unknown channel and coupon type kept",
			mutate: func(f map[string]string) {
				f["refund_channel_0"] = "SOMETHING_NEW"
				f["coupon_type_0_0"] = "PLATINUM"
			},
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, "SOMETHING_NEW", resp.Refunds[0].RefundChannel)
				assert.Equal(t, "PLATINUM", resp.Refunds[0].Coupons[0].Type)
			},
		},
		{
			// WeChat Pay's docs do not say whether $n restarts at 0 on each page.
			name:   "records numbered from the page's offset",
			mutate: func(f map[string]string) { mtRenumberRecords(f, 10) },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				require.Len(t, resp.Refunds, 2)
				want, err := parseQueryResponse(mtQuerySample(t), mtSampleQuestion)
				require.NoError(t, err)
				assert.Equal(t, want.Refunds, resp.Refunds)
				assert.NotEmpty(t, resp.Refunds[0].Coupons)
			},
		},
		{
			name: "records numbered with a gap",
			mutate: func(f map[string]string) {
				mtRenumberRecords(f, 10)
				for k, v := range f {
					if strings.HasSuffix(k, "_11") || strings.Contains(k, "_11_") {
						delete(f, k)
						f[strings.Replace(k, "_11", "_12", 1)] = v
					}
				}
			},
			check: mtQueryMalformed,
		},
		{
			name:   "paging total",
			mutate: func(f map[string]string) { f["total_refund_count"] = "36" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, 36, resp.TotalRefundCount)
			},
		},
		{
			name:   "no refunds",
			mutate: func(f map[string]string) { f["refund_count"] = "0" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				require.NoError(t, err)
				assert.Empty(t, resp.Refunds)
			},
		},
		{
			name: "REFUNDNOTEXIST",
			mutate: func(f map[string]string) {
				clear(f)
				for k, v := range mtBizFail(CodeRefundNotExist, "退款订单查询失败") {
					f[k] = v
				}
			},
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				assert.Nil(t, resp)
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, CodeRefundNotExist, e.ErrCode)
				assert.Equal(t, "FAIL", e.ResultCode)
				assert.ErrorIs(t, err, &Error{ErrCode: CodeRefundNotExist})
				assert.Equal(t, CodeRefundNotExist, ErrorCode(err))
				assert.False(t, IsRetryable(err))
				assert.NotErrorIs(t, err, ErrOutcomeUnknown, "queries never leave a refund outcome unknown")
			},
		},
		{
			name: "SYSTEMERROR",
			mutate: func(f map[string]string) {
				clear(f)
				for k, v := range mtBizFail(CodeSystemError, "系统超时") {
					f[k] = v
				}
			},
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				assert.ErrorIs(t, err, &Error{ErrCode: CodeSystemError})
				assert.True(t, IsRetryable(err))
				assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			},
		},
		{
			name:   "wrong mch_id echo",
			mutate: func(f map[string]string) { f["mch_id"] = "1900000110" },
			check: func(t *testing.T, resp *QueryRefundResponse, err error) {
				assert.Nil(t, resp)
				assert.ErrorIs(t, err, ErrMerchantMismatch)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp, err := mtQueryAnswered(t, mtSampleQuestion, tc.mutate)
			tc.check(t, resp, err)
		})
	}
}

// mtQueryAnswered sends req to a server that answers with the sample
// response, changed by mutate and then signed (so its signature is valid).
func mtQueryAnswered(t *testing.T, req *QueryRefundRequest, mutate func(f map[string]string)) (*QueryRefundResponse, error) {
	t.Helper()
	c, mux := setup(t)
	mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string {
		f := mtQuerySample(t)
		mutate(f)
		return f
	})
	return c.QueryRefund(context.Background(), req)
}

// mtSampleQuestion is a query the refundquery_response_9_3 vector answers.
var mtSampleQuestion = &QueryRefundRequest{OutTradeNo: "ORD20240601123456"}

func mtQueryMalformed(t *testing.T, resp *QueryRefundResponse, err error) {
	t.Helper()
	assert.Nil(t, resp)
	require.ErrorIs(t, err, ErrMalformed)
	assert.NotErrorIs(t, err, ErrSignatureMismatch)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

func TestQueryRefundSignature(t *testing.T) {
	t.Parallel()
	sample := mtQuerySample(t)
	tests := []struct {
		name     string
		clientST SignType
		serverST SignType // what the server signs its answer with
		wantErr  error
	}{
		{"MD5 client, MD5 answer", SignTypeMD5, SignTypeMD5, nil},
		{"HMAC client, HMAC answer", SignTypeHMACSHA256, SignTypeHMACSHA256, nil},
		{"HMAC client, MD5 answer", SignTypeHMACSHA256, SignTypeMD5, ErrSignatureMismatch},
		{"MD5 client, HMAC answer", SignTypeMD5, SignTypeHMACSHA256, ErrSignatureMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithSignType(tc.clientST))
			reqs := make(chan mtRequest, 1)
			mux.HandleFunc(pathRefundQuery, func(w http.ResponseWriter, r *http.Request) {
				reqs <- mtReadRequest(t, r, tc.clientST) // checks sign_type and the request's signature
				mtWriteFields(t, w, mtSigned(sample, tc.serverST))
			})
			resp, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutTradeNo: "ORD20240601123456"})
			got := mtReceive(t, reqs)
			if tc.clientST == SignTypeHMACSHA256 {
				assert.Len(t, got.Fields["sign"], 64)
			} else {
				assert.Len(t, got.Fields["sign"], 32)
			}
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				assert.Nil(t, resp)
				return
			}
			require.NoError(t, err)
			assert.Len(t, resp.Refunds, 2)
		})
	}
}

func TestQueryRefundTamperedSample(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(pathRefundQuery, func(w http.ResponseWriter, r *http.Request) {
		mtReadRequest(t, r, SignTypeMD5)
		f := mtQuerySample(t) // carries its original, valid sign
		f["refund_status_1"] = "SUCCESS"
		mtWriteFields(t, w, f)
	})
	_, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutTradeNo: "ORD20240601123456"})
	require.ErrorIs(t, err, ErrSignatureMismatch)
}

func TestQueryRefundWithoutCertificate(t *testing.T) {
	t.Parallel()
	s, hits := mtNginxServer(t)
	reqs := mtHandle(t, s.mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string { return mtQueryOK() })
	c := mtNewClient(t, s) // no certificate option
	resp, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
	require.NoError(t, err)
	require.Len(t, resp.Refunds, 1)
	assert.Equal(t, RefundStatusSuccess, resp.Refunds[0].Status)
	assert.Empty(t, mtReceive(t, reqs).PeerCerts, "a certificate was presented")
	assert.EqualValues(t, 1, hits.Load())
}

func TestQueryRefundTransportErrors(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc(pathRefundQuery, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream failed", http.StatusBadGateway)
	})
	_, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
	var me *MessageError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, "refundquery", me.Op)
	assert.Equal(t, http.StatusBadGateway, me.StatusCode)
	assert.ErrorIs(t, err, ErrHTTPStatus)
	assert.True(t, IsRetryable(err))
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

// A hostile record count must be refused before it sizes an allocation: one
// RefundRecord per claimed refund would be hundreds of megabytes here. Not
// parallel, so that other tests' allocations do not count.
func TestQueryRefundHostileCountDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		key string
		n   int
	}{
		{"refund_count", 1000000},
		{"refund_count", 1 << 40},
		{"coupon_refund_count_0", 1000000},
		{"coupon_refund_count_1", 1 << 40},
	} {
		key := tc.key
		f := mtQuerySample(t)
		f[key] = strconv.Itoa(tc.n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		resp, err := parseQueryResponse(f, mtSampleQuestion)
		runtime.ReadMemStats(&after)
		require.ErrorIs(t, err, ErrMalformed, key)
		assert.Nil(t, resp)
		assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "%s: bytes allocated", key)
	}
}

// mtRecordKey splits a record field name such as coupon_refund_fee_1_0 into
// its name, record index and coupon suffix.
var mtRecordKey = regexp.MustCompile(`^(.+?)_(\d+)(_\d+)?$`)

// mtRenumberRecords adds shift to every record index $n of a query response.
func mtRenumberRecords(f map[string]string, shift int) {
	moved := map[string]string{}
	for k, v := range f {
		m := mtRecordKey.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		delete(f, k)
		moved[fmt.Sprintf("%s_%d%s", m[1], n+shift, m[3])] = v
	}
	for k, v := range moved {
		f[k] = v
	}
}

// An identifier longer than WeChat Pay allows is refused before sending.
func TestQueryRefundIdentifierLengths(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	hits := mtCountHits(mux, pathRefundQuery)
	for _, tc := range []struct {
		field string
		req   QueryRefundRequest
	}{
		{"TransactionID", QueryRefundRequest{TransactionID: strings.Repeat("4", 33)}},
		{"OutTradeNo", QueryRefundRequest{OutTradeNo: strings.Repeat("o", 33)}},
		{"RefundID", QueryRefundRequest{RefundID: strings.Repeat("5", 33)}},
		{"OutRefundNo", QueryRefundRequest{OutRefundNo: strings.Repeat("r", 65)}},
	} {
		_, err := c.QueryRefund(context.Background(), &tc.req)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, tc.field)
		assert.Equal(t, tc.field, ve.Field)
	}
	assert.Zero(t, hits.Load())
}
