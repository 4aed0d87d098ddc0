package wxrefund

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The order the paging tests walk.
const mtPagingOrder = "ORD20240601PAGING"

// mtPagingNo and mtPagingID are the out_refund_no and refund_id of the
// order's i-th refund.
func mtPagingNo(i int) string { return fmt.Sprintf("RF%06d", i) }
func mtPagingID(i int) string { return fmt.Sprintf("503000123452024060%010d", i) }

// mtPagingNos returns the out_refund_no of refunds from to to-1.
func mtPagingNos(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, mtPagingNo(i))
	}
	return s
}

// mtPage answers a refund query of mtPagingOrder with the n refunds from
// from, numbered _0 to _n-1, and total_refund_count when total > 0.
func mtPage(from, n, total int) map[string]string {
	f := mtBase()
	f["transaction_id"] = "4200001234202406011234567890"
	f["out_trade_no"] = mtPagingOrder
	f["total_fee"] = "100000000"
	f["cash_fee"] = "100000000"
	f["refund_count"] = strconv.Itoa(n)
	if total > 0 {
		f["total_refund_count"] = strconv.Itoa(total)
	}
	for i := range n {
		s := strconv.Itoa(i)
		f["out_refund_no_"+s] = mtPagingNo(from + i)
		f["refund_id_"+s] = mtPagingID(from + i)
		f["refund_fee_"+s] = "1"
		f["refund_status_"+s] = "SUCCESS"
	}
	return f
}

// mtParamError is WeChat Pay's answer to an offset past the last refund.
func mtParamError() map[string]string {
	return mtBizFail(CodeParamError, "offset超过退款总笔数")
}

// mtPages answers an order of total refunds (total_refund_count on every
// page) ten at a time, and PARAM_ERROR past the end.
func mtPages(total int) func(offset int) map[string]string {
	return func(offset int) map[string]string {
		if offset >= total {
			return mtParamError()
		}
		return mtPage(offset, min(10, total-offset), total)
	}
}

// TestAllRefundsPaging walks orders through servers that page well and
// badly: every walk ends after a few queries, and a walk that cannot have
// read every refund the server announced ends with an error, not short.
func TestAllRefundsPaging(t *testing.T) {
	t.Parallel()
	type tc struct {
		name       string
		req        *QueryRefundRequest // nil: by OutTradeNo mtPagingOrder
		page       func(offset int) map[string]string
		breakAfter int      // > 0: break out of the loop after this many records
		want       []string // out_refund_no of the records yielded, in order
		queries    int      // the queries the server must have received
		wantErr    string   // "" for a clean end; else a walk error with this text
		paramError bool     // the walk error wraps the PARAM_ERROR answer
	}
	tests := []tc{
		// Controls: well-formed walks end cleanly.
		{name: "control 25 refunds over 3 pages", page: mtPages(25),
			want: mtPagingNos(0, 25), queries: 3},
		{name: "control PARAM_ERROR after exactly the announced total",
			page: func(offset int) map[string]string {
				switch offset {
				case 0:
					return mtPage(0, 10, 20)
				case 10:
					return mtPage(10, 10, 0) // full, no total: ask on
				}
				return mtParamError()
			},
			want: mtPagingNos(0, 20), queries: 3},
		{name: "control PARAM_ERROR past pages without a total",
			page: func(offset int) map[string]string {
				if offset >= 20 {
					return mtParamError()
				}
				return mtPage(offset, 10, 0)
			},
			want: mtPagingNos(0, 20), queries: 3},
		{name: "control short page without a total ends",
			page: func(offset int) map[string]string { return mtPage(offset, min(10, 13-offset), 0) },
			want: mtPagingNos(0, 13), queries: 2},
		{name: "control overlapping pages yield each refund once",
			page: func(offset int) map[string]string {
				switch offset {
				case 0:
					return mtPage(0, 10, 0)
				case 10:
					return mtPage(5, 10, 0) // repeats 5-9
				}
				return mtPage(15, 3, 0)
			},
			want: mtPagingNos(0, 18), queries: 3},
		{name: "control by OutRefundNo yields that refund",
			req:  &QueryRefundRequest{OutRefundNo: mtPagingNo(0)},
			page: func(int) map[string]string { return mtPage(0, 1, 0) },
			want: mtPagingNos(0, 1), queries: 1},
		{name: "control break stops the walk", page: mtPages(25), breakAfter: 12,
			want: mtPagingNos(0, 12), queries: 2},
		{name: "control exactly MaxOrderRefunds", page: mtPages(MaxOrderRefunds),
			want: mtPagingNos(0, MaxOrderRefunds), queries: MaxOrderRefunds / 10},

		// Rule 1: a page with records but no new refund.
		{name: "rule1 same page at every offset under its total",
			page: func(int) map[string]string { return mtPage(0, 10, 100) },
			want: mtPagingNos(0, 10), queries: 2,
			wantErr: "the page at offset 10 brings no refund not seen before"},
		{name: "rule1 same full page at every offset without a total",
			page: func(int) map[string]string { return mtPage(0, 10, 0) },
			want: mtPagingNos(0, 10), queries: 2,
			wantErr: "the page at offset 10 brings no refund not seen before"},

		// Rule 2: MaxOrderRefunds.
		{name: "rule2 same page forever announcing 100000",
			page:    func(int) map[string]string { return mtPage(0, 10, 100000) },
			queries: 1,
			wantErr: "a page announces 100000 refunds, more than MaxOrderRefunds (1000)"},
		{name: "rule2 new refunds forever without a total",
			page:    func(offset int) map[string]string { return mtPage(offset, 10, 0) },
			want:    mtPagingNos(0, MaxOrderRefunds),
			queries: MaxOrderRefunds/10 + 1,
			wantErr: "more than MaxOrderRefunds (1000) refunds"},

		// Rule 3: totals.
		{name: "rule3 page beyond its own total",
			page: func(offset int) map[string]string { return mtPage(offset, 10, 25) }, // 20+10 > 25
			want: mtPagingNos(0, 20), queries: 3,
			wantErr: "the page at offset 20 ends at refund 30, beyond its total_refund_count 25"},
		{name: "rule3 shrinking total",
			page: func(offset int) map[string]string {
				if offset == 0 {
					return mtPage(0, 10, 25)
				}
				return mtPage(offset, 5, 15)
			},
			want: mtPagingNos(0, 10), queries: 2,
			wantErr: "total_refund_count fell from 25 to 15"},

		// Rule 4: PARAM_ERROR short of the announced total.
		{name: "rule4 PARAM_ERROR at 20 of 25 announced",
			page: func(offset int) map[string]string {
				if offset >= 20 {
					return mtParamError()
				}
				return mtPage(offset, 10, 25)
			},
			want: mtPagingNos(0, 20), queries: 3, paramError: true,
			wantErr: "5 of the 25 refunds announced are missing"},

		// Rule 5: an empty page short of the announced total.
		{name: "rule5 empty page at 20 of 25 announced",
			page: func(offset int) map[string]string {
				if offset >= 20 {
					return mtPage(offset, 0, 25)
				}
				return mtPage(offset, 10, 25)
			},
			want: mtPagingNos(0, 20), queries: 3,
			wantErr: "5 of the 25 refunds announced are missing"},
		{name: "rule5 empty first page announcing 25",
			page:    func(offset int) map[string]string { return mtPage(offset, 0, 25) },
			queries: 1,
			wantErr: "25 of the 25 refunds announced are missing"},
		{name: "rule5 short page without a total at 10 of 25 announced",
			page: func(offset int) map[string]string {
				if offset == 0 {
					return mtPage(0, 10, 25)
				}
				return mtPage(offset, 3, 0)
			},
			want: mtPagingNos(0, 13), queries: 2,
			wantErr: "12 of the 25 refunds announced are missing"},
		{name: "rule3 pages that repeat refunds and leave others out",
			page: func(offset int) map[string]string {
				switch offset {
				case 0:
					return mtPage(0, 10, 25)
				case 10:
					return mtPage(5, 10, 25) // repeats 5-9, so 15-19 never come
				}
				return mtPage(20, 5, 25)
			},
			want: append(mtPagingNos(0, 15), mtPagingNos(20, 25)...), queries: 3,
			wantErr: "20 distinct refunds for the 25 announced"},
		{name: "rule3 repeats then PARAM_ERROR at the announced total",
			page: func(offset int) map[string]string {
				switch offset {
				case 0:
					return mtPage(0, 10, 20)
				case 10:
					return mtPage(5, 10, 0) // full, no total, repeats 5-9
				}
				return mtParamError()
			},
			want: mtPagingNos(0, 15), queries: 3,
			wantErr: "15 distinct refunds for the 20 announced"},
		{name: "rule3 repeats then an empty page at the announced total",
			page: func(offset int) map[string]string {
				switch offset {
				case 0:
					return mtPage(0, 10, 20)
				case 10:
					return mtPage(5, 10, 0) // full, no total, repeats 5-9
				}
				return mtPage(20, 0, 0)
			},
			want: mtPagingNos(0, 15), queries: 3,
			wantErr: "15 distinct refunds for the 20 announced"},
		{name: "rule5 control empty page without a total ends",
			page: func(offset int) map[string]string { return mtPage(offset, 10*(1-offset/10), 0) },
			want: mtPagingNos(0, 10), queries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			var queries atomic.Int64
			mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(req map[string]string) map[string]string {
				queries.Add(1)
				offset := 0
				if s := req["offset"]; s != "" {
					var err error
					offset, err = strconv.Atoi(s)
					assert.NoError(t, err)
				}
				return tt.page(offset)
			})
			// Old walks that never end are cut off here.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			req := tt.req
			if req == nil {
				req = &QueryRefundRequest{OutTradeNo: mtPagingOrder}
			}

			var got []string
			var errs []error
			for r, err := range c.AllRefunds(ctx, req) {
				if err != nil {
					assert.Zero(t, r, "a failure comes with a zero record")
					errs = append(errs, err)
					continue // a failure must end the walk: nothing may follow
				}
				require.Empty(t, errs, "a record after a failure")
				got = append(got, r.OutRefundNo)
				if len(got) == tt.breakAfter {
					break
				}
			}

			assert.Equal(t, tt.want, got, "records yielded")
			assert.EqualValues(t, tt.queries, queries.Load(), "queries the server received")
			assert.Less(t, queries.Load(), int64(MaxOrderRefunds/10+2), "the walk ends")
			if tt.wantErr == "" {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1, "one failure, yielded once")
			err := errs[0]
			require.ErrorIs(t, err, ErrMalformed)
			var me *MessageError
			require.ErrorAs(t, err, &me)
			assert.Equal(t, "refundquery", me.Op)
			assert.Equal(t, 200, me.StatusCode)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "one prefix: %q", err.Error())
			var we *Error
			if tt.paramError {
				require.ErrorAs(t, err, &we)
				assert.Equal(t, CodeParamError, we.ErrCode)
				assert.Equal(t, CodeParamError, ErrorCode(err))
				assert.False(t, IsRetryable(err), "PARAM_ERROR needs a fix first")
			} else {
				assert.False(t, errors.As(err, &we), "no WeChat Pay failure in %v", err)
			}
		})
	}
}
