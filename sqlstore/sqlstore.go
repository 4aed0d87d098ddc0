// Package sqlstore is a [wxrefund.NotifyClaimer] on database/sql, for
// merchant backends that run several instances: every instance's
// wxrefund.Client.NotifyHandler shares one table, so a notification that
// WeChat Pay delivers to several instances at once is processed once, and
// one whose instance died is taken over after the claim's lease.
//
// It speaks MySQL and MariaDB, PostgreSQL and SQLite; the driver is yours
// (github.com/go-sql-driver/mysql, github.com/jackc/pgx/v5/stdlib or
// github.com/lib/pq, modernc.org/sqlite, ...):
//
//	db, err := sql.Open("mysql", dsn) // with your driver imported
//	...
//	store, err := sqlstore.New(db, sqlstore.MySQL)
//	...
//	if err := store.CreateTable(ctx); err != nil { // once, at start-up
//		...
//	}
//	http.Handle("/wxpay/refund-notify", c.NotifyHandler(record, wxrefund.WithNotifyStore(store)))
//
// Each operation is one atomic statement; keys are always passed as
// arguments, never written into SQL. Times are the instances' own clocks in
// Unix milliseconds, so the instances' clocks must agree to well within the
// lease (NTP does). Prune deletes old rows; run it daily, say.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// Dialect is the SQL a database speaks: MySQL (MariaDB too), Postgres or
// SQLite.
type Dialect struct {
	name        string
	placeholder func(n int) string // the n-th (from 1) argument's placeholder
	keyType     string             // the key column's type: compared byte for byte
	claim       string             // claims, or takes over an expired claim (see Claim)
	mark        string             // records processed (see MarkProcessed)
	returning   bool               // claim returns the row's token
}

// The dialects.
var (
	// MySQL is MySQL 5.7 or later and MariaDB 10.3 or later (InnoDB).
	MySQL = Dialect{
		name:        "mysql",
		placeholder: func(int) string { return "?" },
		keyType:     "VARBINARY(200)",
		// The assignments run left to right, each seeing the ones
		// before: the condition's columns (state, lease_until) change
		// last.
		claim: `INSERT INTO %[1]s (notify_key, state, token, lease_until, updated_at) VALUES (?, 1, ?, ?, ?)
ON DUPLICATE KEY UPDATE
 token = IF(state = 1 AND lease_until <= VALUES(updated_at), VALUES(token), token),
 updated_at = IF(state = 1 AND lease_until <= VALUES(updated_at), VALUES(updated_at), updated_at),
 lease_until = IF(state = 1 AND lease_until <= VALUES(updated_at), VALUES(lease_until), lease_until)`,
		mark: `INSERT INTO %[1]s (notify_key, state, token, lease_until, updated_at) VALUES (?, 2, '', 0, ?)
ON DUPLICATE KEY UPDATE state = 2, token = '', lease_until = 0, updated_at = VALUES(updated_at)`,
	}
	// Postgres is PostgreSQL 9.5 or later.
	Postgres = Dialect{
		name:        "postgres",
		placeholder: func(n int) string { return fmt.Sprintf("$%d", n) },
		keyType:     "VARCHAR(200)",
		claim: `INSERT INTO %[1]s AS t (notify_key, state, token, lease_until, updated_at) VALUES ($1, 1, $2, $3, $4)
ON CONFLICT (notify_key) DO UPDATE SET token = EXCLUDED.token, lease_until = EXCLUDED.lease_until, updated_at = EXCLUDED.updated_at
WHERE t.state = 1 AND t.lease_until <= EXCLUDED.updated_at
RETURNING t.token`,
		returning: true,
		mark: `INSERT INTO %[1]s (notify_key, state, token, lease_until, updated_at) VALUES ($1, 2, '', 0, $2)
ON CONFLICT (notify_key) DO UPDATE SET state = 2, token = '', lease_until = 0, updated_at = EXCLUDED.updated_at`,
	}
	// SQLite is SQLite 3.35 or later.
	SQLite = Dialect{
		name:        "sqlite",
		placeholder: func(int) string { return "?" },
		keyType:     "TEXT",
		claim: `INSERT INTO %[1]s AS t (notify_key, state, token, lease_until, updated_at) VALUES (?, 1, ?, ?, ?)
ON CONFLICT (notify_key) DO UPDATE SET token = excluded.token, lease_until = excluded.lease_until, updated_at = excluded.updated_at
WHERE t.state = 1 AND t.lease_until <= excluded.updated_at
RETURNING token`,
		returning: true,
		mark: `INSERT INTO %[1]s (notify_key, state, token, lease_until, updated_at) VALUES (?, 2, '', 0, ?)
ON CONFLICT (notify_key) DO UPDATE SET state = 2, token = '', lease_until = 0, updated_at = excluded.updated_at`,
	}
)

// String names the dialect: "mysql", "postgres" or "sqlite".
func (d Dialect) String() string { return d.name }

// DefaultTable is the table a Store uses unless WithTable names another.
const DefaultTable = "wxrefund_notify"

// The states of a row.
const (
	stateClaimed   = 1
	stateProcessed = 2
)

// Store is a wxrefund.NotifyClaimer on a database table. Create it with New
// and its table with CreateTable. It is safe for concurrent use, by any
// number of processes sharing the database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	table   string
	now     func() time.Time
	q       struct{ claim, mark, state, release, prune string }
}

var _ wxrefund.NotifyClaimer = (*Store)(nil)

// Option configures New.
type Option func(*Store) error

var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// WithTable sets the table's name: letters, digits and underscores, not
// starting with a digit, at most 63 characters. The default is
// DefaultTable.
func WithTable(name string) Option {
	return func(s *Store) error {
		if !tableName.MatchString(name) {
			return fmt.Errorf("sqlstore: WithTable(%q): want letters, digits and _, at most 63, not starting with a digit", name)
		}
		s.table = name
		return nil
	}
}

// New returns a Store on db that speaks dialect. It does not touch the
// database: call CreateTable before the first notification.
func New(db *sql.DB, dialect Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: New: db is nil")
	}
	if dialect.claim == "" {
		return nil, errors.New("sqlstore: New: unknown dialect (use sqlstore.MySQL, sqlstore.Postgres or sqlstore.SQLite)")
	}
	s := &Store{db: db, dialect: dialect, table: DefaultTable, now: time.Now}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, err
		}
	}
	p := dialect.placeholder
	s.q.claim = fmt.Sprintf(dialect.claim, s.table)
	s.q.mark = fmt.Sprintf(dialect.mark, s.table)
	s.q.state = fmt.Sprintf("SELECT state, token FROM %s WHERE notify_key = %s", s.table, p(1))
	s.q.release = fmt.Sprintf("DELETE FROM %s WHERE notify_key = %s AND state = %d AND token = %s", s.table, p(1), stateClaimed, p(2))
	s.q.prune = fmt.Sprintf("DELETE FROM %s WHERE updated_at < %s AND (state = %d OR lease_until < %s)",
		s.table, p(1), stateProcessed, p(2))
	return s, nil
}

// CreateTable creates the Store's table if it does not exist:
//
//	notify_key   the notification's key (at most 200 bytes), compared byte for byte
//	state        1 claimed, 2 processed
//	token        the claim's token ("" once processed)
//	lease_until  when the claim's lease ends, Unix milliseconds
//	updated_at   when the row was last claimed or processed, Unix milliseconds
func (s *Store) CreateTable(ctx context.Context) error {
	q := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
 notify_key %s NOT NULL PRIMARY KEY,
 state SMALLINT NOT NULL,
 token VARCHAR(64) NOT NULL,
 lease_until BIGINT NOT NULL,
 updated_at BIGINT NOT NULL
)`, s.table, s.dialect.keyType)
	if _, err := s.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("sqlstore: creating table %s: %w", s.table, err)
	}
	return nil
}

// checkKey refuses what the table cannot hold.
func checkKey(key string) error {
	if key == "" || len(key) > 200 {
		return fmt.Errorf("sqlstore: a key of %d bytes: want 1 to 200", len(key))
	}
	return nil
}

// Processed reports whether key was recorded processed.
func (s *Store) Processed(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	state, err := s.state(ctx, key)
	return state == stateProcessed, err
}

// state reads key's state, 0 when there is no row.
func (s *Store) state(ctx context.Context, key string) (int, error) {
	var state int
	var token string
	err := s.db.QueryRowContext(ctx, s.q.state, key).Scan(&state, &token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("sqlstore: reading a notification's state: %w", err)
	}
	return state, nil
}

// MarkProcessed records key processed, ending any claim on it.
func (s *Store) MarkProcessed(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.mark, key, s.now().UnixMilli()); err != nil {
		return fmt.Errorf("sqlstore: recording a notification processed: %w", err)
	}
	return nil
}

// Claim takes key for lease in one statement: it inserts a claim, or takes
// over a claim whose lease has ended, and otherwise changes nothing. It
// then tells from the row (returned by the statement, or read after it)
// whether the claim is the caller's, and if not whether key is processed;
// when the row changed in between it reports ClaimHeld, and WeChat Pay
// delivers again.
func (s *Store) Claim(ctx context.Context, key string, lease time.Duration) (wxrefund.Claim, error) {
	if err := checkKey(key); err != nil {
		return wxrefund.Claim{}, err
	}
	if lease <= 0 {
		return wxrefund.Claim{}, fmt.Errorf("sqlstore: a lease of %v: want a positive one", lease)
	}
	token, err := newToken()
	if err != nil {
		return wxrefund.Claim{}, err
	}
	now := s.now()
	args := []any{key, token, now.Add(lease).UnixMilli(), now.UnixMilli()}
	if s.dialect.returning {
		var got string
		err := s.db.QueryRowContext(ctx, s.q.claim, args...).Scan(&got)
		switch {
		case err == nil && got == token:
			return wxrefund.Claim{State: wxrefund.ClaimAcquired, Token: token}, nil
		case err != nil && !errors.Is(err, sql.ErrNoRows): // no row: the WHERE left it alone
			return wxrefund.Claim{}, fmt.Errorf("sqlstore: claiming a notification: %w", err)
		}
	} else if _, err := s.db.ExecContext(ctx, s.q.claim, args...); err != nil {
		return wxrefund.Claim{}, fmt.Errorf("sqlstore: claiming a notification: %w", err)
	}
	// Read what the row holds now: the claim is ours when it holds our
	// token, which no other caller can have written. (Without RETURNING,
	// this is how MySQL tells; RowsAffected would depend on the DSN's
	// clientFoundRows.)
	var state int
	var got string
	err = s.db.QueryRowContext(ctx, s.q.state, key).Scan(&state, &got)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Released or pruned in between: refuse, WeChat Pay delivers again.
		return wxrefund.Claim{State: wxrefund.ClaimHeld}, nil
	case err != nil:
		return wxrefund.Claim{}, fmt.Errorf("sqlstore: reading a claim: %w", err)
	case state == stateClaimed && got == token:
		return wxrefund.Claim{State: wxrefund.ClaimAcquired, Token: token}, nil
	case state == stateProcessed:
		return wxrefund.Claim{State: wxrefund.ClaimProcessed}, nil
	}
	return wxrefund.Claim{State: wxrefund.ClaimHeld}, nil
}

// Release deletes the claim on key made with token, if it is still that
// claim; a processed key and a claim taken over since are left alone.
func (s *Store) Release(ctx context.Context, key, token string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.q.release, key, token); err != nil {
		return fmt.Errorf("sqlstore: releasing a claim: %w", err)
	}
	return nil
}

// Prune deletes the rows of notifications processed more than olderThan
// ago, and claims whose lease ended more than olderThan ago, and returns
// how many it deleted. WeChat Pay delivers a notification for about a day
// (15 deliveries over 24 hours and 4 minutes), so keep olderThan above
// that: 48 hours, say.
func (s *Store) Prune(ctx context.Context, olderThan time.Duration) (int64, error) {
	if olderThan <= 0 {
		return 0, fmt.Errorf("sqlstore: Prune(%v): want a positive age", olderThan)
	}
	cutoff := s.now().Add(-olderThan).UnixMilli()
	res, err := s.db.ExecContext(ctx, s.q.prune, cutoff, cutoff)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: pruning: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: pruning: %w", err)
	}
	return n, nil
}

// newToken is a claim's token: 128 random bits in hex.
func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("sqlstore: a claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// String describes the store without its connection: its dialect and
// table.
func (s *Store) String() string {
	return "sqlstore(" + s.dialect.name + ", " + s.table + ")"
}
