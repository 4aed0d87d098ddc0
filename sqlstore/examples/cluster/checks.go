package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// world is what the checks look at once the run is over.
type world struct {
	rows        []refundRow                // the merchant's table
	atFake      []wxrefundtest.RefundState // every refund of every order at the fake
	deliveries  []wxrefundtest.Delivery    // every delivery by the fake
	calls       map[string][]int           // record's calls per refund: the instances
	conflictNo  string                     // the refund left for a person
	conflictFee int64                      // its refund_fee in the merchant's row
}

// check is one check's result.
type check struct {
	ok   bool
	what string
}

// verify runs the checks: "many instances, one truth".
func verify(wd world) []check {
	var out []check
	add := func(bad []string, what string) {
		if len(bad) > 0 {
			what += ": " + strings.Join(bad, "; ")
		}
		out = append(out, check{len(bad) == 0, what})
	}

	// record ran exactly once per refund, across the instances.
	var bad []string
	for _, r := range wd.rows {
		if n := len(wd.calls[r.OutRefundNo]); n != 1 {
			bad = append(bad, fmt.Sprintf("%s %d times", r.OutRefundNo, n))
		}
	}
	for no := range wd.calls {
		if !slices.ContainsFunc(wd.rows, func(r refundRow) bool { return r.OutRefundNo == no }) {
			bad = append(bad, "called for "+no+", which the merchant has no row of")
		}
	}
	slices.Sort(bad)
	add(bad, fmt.Sprintf("record ran exactly once for each of the %d refunds", len(wd.rows)))

	// WeChat Pay has every refund once, the merchant's rows and no other,
	// with the rows' amounts (but the conflict's).
	bad = nil
	count := map[string]int{}
	for _, st := range wd.atFake {
		count[st.OutRefundNo]++
	}
	for _, r := range wd.rows {
		if count[r.OutRefundNo] != 1 {
			bad = append(bad, fmt.Sprintf("%s %d times", r.OutRefundNo, count[r.OutRefundNo]))
		}
	}
	for _, st := range wd.atFake {
		i := slices.IndexFunc(wd.rows, func(r refundRow) bool { return r.OutRefundNo == st.OutRefundNo })
		switch {
		case i < 0:
			bad = append(bad, st.OutRefundNo+" is not the merchant's")
		case st.OutRefundNo == wd.conflictNo:
		case st.OutTradeNo != wd.rows[i].OutTradeNo || st.TotalFee != wd.rows[i].TotalFee || st.RefundFee != wd.rows[i].RefundFee:
			bad = append(bad, fmt.Sprintf("%s is %s %d of %d fen, the row says %s %d of %d", st.OutRefundNo,
				st.OutTradeNo, st.RefundFee, st.TotalFee, wd.rows[i].OutTradeNo, wd.rows[i].RefundFee, wd.rows[i].TotalFee))
		}
	}
	add(bad, fmt.Sprintf("WeChat Pay has each of the %d refunds exactly once, with the recorded amounts", len(wd.rows)))

	// Every row agrees with WeChat Pay's final status, but the conflict's.
	bad = nil
	for _, r := range wd.rows {
		i := slices.IndexFunc(wd.atFake, func(st wxrefundtest.RefundState) bool { return st.OutRefundNo == r.OutRefundNo })
		if r.OutRefundNo != wd.conflictNo && i >= 0 && r.State != string(wd.atFake[i].Status) {
			bad = append(bad, fmt.Sprintf("%s is %s, WeChat Pay says %s", r.OutRefundNo, r.State, wd.atFake[i].Status))
		}
	}
	add(bad, "every other row holds WeChat Pay's final status")

	// The conflict is still under review, with the merchant's amount.
	bad = nil
	i := slices.IndexFunc(wd.rows, func(r refundRow) bool { return r.OutRefundNo == wd.conflictNo })
	switch {
	case i < 0:
		bad = append(bad, "its row is gone")
	case wd.rows[i].State != stateReview || wd.rows[i].RefundFee != wd.conflictFee:
		bad = append(bad, fmt.Sprintf("the row is %s, %d fen", wd.rows[i].State, wd.rows[i].RefundFee))
	}
	add(bad, fmt.Sprintf("the conflict %s was not overwritten: %s, %d fen", wd.conflictNo, stateReview, wd.conflictFee))

	// Every delivery was acknowledged, and every notification delivered.
	bad = nil
	for _, d := range wd.deliveries {
		if !d.OK() {
			bad = append(bad, fmt.Sprintf("%s delivery %d: HTTP %d %s %s %s", d.OutRefundNo, d.Attempt, d.StatusCode, d.ReturnCode, d.ReturnMsg, d.Err))
		}
	}
	for _, st := range wd.atFake {
		if st.NotifyURL != "" && st.Notify != wxrefundtest.NotifyDelivered {
			bad = append(bad, fmt.Sprintf("%s: notification %s", st.OutRefundNo, st.Notify))
		}
	}
	add(bad, fmt.Sprintf("all %d deliveries were acknowledged", len(wd.deliveries)))
	return out
}
