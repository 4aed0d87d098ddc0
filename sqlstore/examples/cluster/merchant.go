package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// merchant is the merchant's own table of refunds: one row per
// out_refund_no, written "sent" before the request leaves, "accepted" once
// WeChat Pay has it, then its final status (SUCCESS, REFUNDCLOSE or
// CHANGE) from the notification; "review" when a person must look.
type merchant struct {
	db      *sql.DB
	dialect string // "mysql", "postgres" or "sqlite"
	table   string // a name of letters, digits and _: never user input
}

// refundRow is a row of the merchant's table.
type refundRow struct {
	OutRefundNo, OutTradeNo string
	TotalFee, RefundFee     int64 // fen
	State                   string
	Updated                 int64 // Unix milliseconds
}

// q writes the table's name into query and, for PostgreSQL, numbers its ?
// placeholders.
func (m *merchant) q(query string) string {
	query = strings.ReplaceAll(query, "{t}", m.table)
	if m.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (m *merchant) createTable(ctx context.Context) error {
	_, err := m.db.ExecContext(ctx, m.q(`CREATE TABLE IF NOT EXISTS {t} (
 out_refund_no VARCHAR(64) NOT NULL PRIMARY KEY,
 out_trade_no VARCHAR(32) NOT NULL,
 total_fee BIGINT NOT NULL,
 refund_fee BIGINT NOT NULL,
 state VARCHAR(16) NOT NULL,
 updated BIGINT NOT NULL
)`))
	if err != nil {
		return fmt.Errorf("create table %s: %w", m.table, err)
	}
	return nil
}

func (m *merchant) insert(ctx context.Context, r refundRow) error {
	_, err := m.db.ExecContext(ctx, m.q(`INSERT INTO {t} (out_refund_no, out_trade_no, total_fee, refund_fee, state, updated)
VALUES (?, ?, ?, ?, ?, ?)`), r.OutRefundNo, r.OutTradeNo, r.TotalFee, r.RefundFee, r.State, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("record refund %s: %w", r.OutRefundNo, err)
	}
	return nil
}

// advance moves the row to state if it is in state from; a row already
// further along (a notification came first) is left alone.
func (m *merchant) advance(ctx context.Context, outRefundNo, state, from string) error {
	_, err := m.db.ExecContext(ctx, m.q(`UPDATE {t} SET state = ?, updated = ? WHERE out_refund_no = ? AND state = ?`),
		state, time.Now().UnixMilli(), outRefundNo, from)
	if err != nil {
		return fmt.Errorf("mark refund %s %s: %w", outRefundNo, state, err)
	}
	return nil
}

// errNoRow is get's error for a refund the table does not have.
var errNoRow = errors.New("no such refund")

func (m *merchant) get(ctx context.Context, outRefundNo string) (refundRow, error) {
	rows, err := m.query(ctx, `WHERE out_refund_no = ?`, outRefundNo)
	switch {
	case err != nil:
		return refundRow{}, err
	case len(rows) == 0:
		return refundRow{}, fmt.Errorf("refund %s: %w", outRefundNo, errNoRow)
	}
	return rows[0], nil
}

func (m *merchant) withState(ctx context.Context, state string) ([]refundRow, error) {
	return m.query(ctx, `WHERE state = ?`, state)
}

func (m *merchant) all(ctx context.Context) ([]refundRow, error) { return m.query(ctx, "") }

func (m *merchant) query(ctx context.Context, where string, args ...any) ([]refundRow, error) {
	rows, err := m.db.QueryContext(ctx, m.q(`SELECT out_refund_no, out_trade_no, total_fee, refund_fee, state, updated
FROM {t} `+where+` ORDER BY out_refund_no`), args...)
	if err != nil {
		return nil, fmt.Errorf("read refunds: %w", err)
	}
	defer func() { _ = rows.Close() }() // rows.Err below reports a failed read
	var out []refundRow
	for rows.Next() {
		var r refundRow
		if err := rows.Scan(&r.OutRefundNo, &r.OutTradeNo, &r.TotalFee, &r.RefundFee, &r.State, &r.Updated); err != nil {
			return nil, fmt.Errorf("read refunds: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read refunds: %w", err)
	}
	return out, nil
}

// record is the NotifyHandler callback's work: it stores the notification's
// final status in the refund's row, idempotently, and returns nil only once
// it is stored. NotifyHandler with a sqlstore.Store calls it once per
// notification across the instances; it would be correct called twice.
//
// Only a row that is "sent" or "accepted" with the notification's amounts
// takes the status. A row with other amounts is marked "review" (and one
// already under review stays so): the notification is acknowledged, and a
// person looks. A notification of a refund the table does not have fails,
// so that WeChat Pay delivers it again while someone finds out why.
func (m *merchant) record(ctx context.Context, n *wxrefund.RefundNotification) error {
	res, err := m.db.ExecContext(ctx, m.q(`UPDATE {t} SET state = ?, updated = ?
WHERE out_refund_no = ? AND out_trade_no = ? AND total_fee = ? AND refund_fee = ? AND state IN (?, ?)`),
		string(n.Status), time.Now().UnixMilli(), n.OutRefundNo, n.OutTradeNo, n.TotalFee, n.RefundFee, stateSent, stateAccepted)
	if err != nil {
		return err
	}
	if k, err := res.RowsAffected(); err != nil || k == 1 {
		return err
	}
	row, err := m.get(ctx, n.OutRefundNo)
	if err != nil {
		return err
	}
	if row.OutTradeNo != n.OutTradeNo || row.TotalFee != n.TotalFee || row.RefundFee != n.RefundFee {
		return m.advanceFrom(ctx, n.OutRefundNo, stateReview, stateSent, stateAccepted)
	}
	return nil // already recorded: a duplicate
}

// advanceFrom is advance from either of two states.
func (m *merchant) advanceFrom(ctx context.Context, outRefundNo, state, from1, from2 string) error {
	_, err := m.db.ExecContext(ctx, m.q(`UPDATE {t} SET state = ?, updated = ? WHERE out_refund_no = ? AND state IN (?, ?)`),
		state, time.Now().UnixMilli(), outRefundNo, from1, from2)
	return err
}
