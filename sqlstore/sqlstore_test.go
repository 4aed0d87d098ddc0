package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/go-wxpay/wxrefund"
)

// The variables that point the tests at MySQL (or MariaDB) and PostgreSQL.
// .ci/databases.sh starts both and prints them; without them those
// dialects are skipped (SQLite, embedded, always runs).
const (
	envMySQL    = "SQLSTORE_MYSQL_DSN"    // such as wxrefund:wxrefund@tcp(127.0.0.1:3306)/wxrefund
	envPostgres = "SQLSTORE_POSTGRES_DSN" // such as postgres://wxrefund:wxrefund@127.0.0.1:5432/wxrefund?sslmode=disable
)

// backend is a database the tests run against.
type backend struct {
	name    string // the dialect's
	driver  string
	dsn     string
	dialect Dialect
}

// backends returns SQLite (a file in a temporary folder) and the server
// dialects whose variables are set; it logs which are skipped.
func backends(t testing.TB) []backend {
	t.Helper()
	dir := t.TempDir()
	out := []backend{{"sqlite", "sqlite", sqliteDSN(filepath.Join(dir, "store.db")), SQLite}}
	for _, b := range []struct {
		env, driver string
		dialect     Dialect
	}{{envMySQL, "mysql", MySQL}, {envPostgres, "pgx", Postgres}} {
		dsn := os.Getenv(b.env)
		if dsn == "" {
			t.Logf("skipping %s: set %s (bash .ci/databases.sh prints it)", b.dialect, b.env)
			continue
		}
		out = append(out, backend{b.dialect.String(), b.driver, dsn, b.dialect})
	}
	return out
}

// sqliteDSN opens a SQLite file that several connections and processes
// write: WAL, and waiting up to 10 s for another writer's lock.
func sqliteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
}

// open opens b and closes it when the test ends.
func (b backend) open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(b.driver, b.dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.PingContext(context.Background()), "%s", b.name)
	return db
}

// uniqueTable is a table name no other test run uses.
func uniqueTable(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// newStore returns a Store on a fresh table of b, dropped when the test
// ends, with a clock the test moves.
func newStore(t *testing.T, b backend, db *sql.DB) (*Store, *time.Time) {
	t.Helper()
	table := uniqueTable("wxnotify")
	s, err := New(db, b.dialect, WithTable(table))
	require.NoError(t, err)
	now := time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	require.NoError(t, s.CreateTable(context.Background()))
	require.NoError(t, s.CreateTable(context.Background()), "again: IF NOT EXISTS")
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP TABLE "+table) })
	return s, &now
}

// TestStore runs claim, release, lease expiry, mark, prune and awkward keys
// on each dialect.
func TestStore(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := b.open(t)
			s, now := newStore(t, b, db)
			claim := func(key string, lease time.Duration) wxrefund.Claim {
				t.Helper()
				c, err := s.Claim(ctx, key, lease)
				require.NoError(t, err)
				return c
			}
			processed := func(key string) bool {
				t.Helper()
				ok, err := s.Processed(ctx, key)
				require.NoError(t, err)
				return ok
			}

			// Claim: one holder at a time.
			a := claim("k1", time.Minute)
			require.Equal(t, wxrefund.ClaimAcquired, a.State)
			require.Len(t, a.Token, 32)
			assert.Equal(t, wxrefund.ClaimHeld, claim("k1", time.Minute).State)
			assert.False(t, processed("k1"), "a claim is not processed")

			// Release: only the holder's token.
			require.NoError(t, s.Release(ctx, "k1", "0123456789abcdef0123456789abcdef"))
			assert.Equal(t, wxrefund.ClaimHeld, claim("k1", time.Minute).State)
			require.NoError(t, s.Release(ctx, "k1", a.Token))
			b1 := claim("k1", time.Minute)
			require.Equal(t, wxrefund.ClaimAcquired, b1.State, "released")

			// Lease expiry: taken over; the late holder's release leaves
			// the new claim alone.
			*now = now.Add(59 * time.Second)
			assert.Equal(t, wxrefund.ClaimHeld, claim("k1", time.Minute).State, "not yet expired")
			*now = now.Add(time.Second)
			c1 := claim("k1", time.Minute)
			require.Equal(t, wxrefund.ClaimAcquired, c1.State, "taken over at the end of the lease")
			require.NotEqual(t, b1.Token, c1.Token)
			require.NoError(t, s.Release(ctx, "k1", b1.Token))
			assert.Equal(t, wxrefund.ClaimHeld, claim("k1", time.Minute).State)

			// Mark: processed for good; a release leaves it.
			require.NoError(t, s.MarkProcessed(ctx, "k1"))
			assert.True(t, processed("k1"))
			assert.Equal(t, wxrefund.ClaimProcessed, claim("k1", time.Minute).State)
			require.NoError(t, s.Release(ctx, "k1", c1.Token))
			assert.True(t, processed("k1"))
			*now = now.Add(time.Hour)
			assert.Equal(t, wxrefund.ClaimProcessed, claim("k1", time.Minute).State, "no lease on a processed key")
			require.NoError(t, s.MarkProcessed(ctx, "k1"), "again")
			require.NoError(t, s.MarkProcessed(ctx, "never-claimed"))
			assert.True(t, processed("never-claimed"))

			// Awkward keys: 200 bytes with quotes, %, _ and a backslash
			// are data, never SQL; keys differing in case are distinct.
			awkward := strings.Repeat(`'";%_\`, 33) + "k1"
			require.Len(t, awkward, 200)
			assert.Equal(t, wxrefund.ClaimAcquired, claim(awkward, time.Minute).State)
			assert.Equal(t, wxrefund.ClaimHeld, claim(awkward, time.Minute).State)
			assert.Equal(t, wxrefund.ClaimAcquired, claim("K1", time.Minute).State, "K1 is not k1")
			assert.Equal(t, wxrefund.ClaimAcquired, claim(strings.Repeat("%", 199)+"_", time.Minute).State)
			require.NoError(t, s.MarkProcessed(ctx, awkward))
			assert.True(t, processed(awkward))
			assert.False(t, processed(strings.Repeat("%", 200)), "% is no wildcard")
			for _, bad := range []string{"", strings.Repeat("x", 201)} {
				_, err := s.Claim(ctx, bad, time.Minute)
				assert.Error(t, err)
				assert.Error(t, s.MarkProcessed(ctx, bad))
			}
			_, err := s.Claim(ctx, "k2", 0)
			assert.Error(t, err, "a lease of 0")

			// Prune: processed rows and expired claims older than the age.
			*now = now.Add(72 * time.Hour)
			require.NoError(t, s.MarkProcessed(ctx, "recent"))
			assert.Equal(t, wxrefund.ClaimAcquired, claim("recent-claim", time.Minute).State)
			n, err := s.Prune(ctx, 48*time.Hour)
			require.NoError(t, err)
			assert.EqualValues(t, 5, n, "k1, never-claimed and awkward processed, K1 and the % key claimed")
			assert.True(t, processed("recent"))
			assert.Equal(t, wxrefund.ClaimHeld, claim("recent-claim", time.Minute).State)
			assert.Equal(t, wxrefund.ClaimAcquired, claim("k1", time.Minute).State, "pruned: unknown again")
			_, err = s.Prune(ctx, 0)
			assert.Error(t, err)
		})
	}
}

// A database that goes away mid-way: every operation fails with an error,
// nothing panics.
func TestStoreDatabaseGone(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := b.open(t)
			s, _ := newStore(t, b, db)
			require.NoError(t, s.MarkProcessed(ctx, "k"))
			table := s.table
			require.NoError(t, db.Close())
			_, err := s.Claim(ctx, "k2", time.Minute)
			assert.Error(t, err)
			_, err = s.Processed(ctx, "k")
			assert.Error(t, err)
			assert.Error(t, s.MarkProcessed(ctx, "k2"))
			assert.Error(t, s.Release(ctx, "k2", "t"))
			_, err = s.Prune(ctx, time.Hour)
			assert.Error(t, err)
			assert.Error(t, s.CreateTable(ctx))
			// Drop the table through a new connection.
			db2 := b.open(t)
			_, _ = db2.ExecContext(ctx, "DROP TABLE "+table)
		})
	}
}

func TestNew(t *testing.T) {
	db, err := sql.Open("sqlite", sqliteDSN(filepath.Join(t.TempDir(), "x.db")))
	require.NoError(t, err)
	defer func() { _ = db.Close() }()
	_, err = New(nil, SQLite)
	assert.Error(t, err)
	_, err = New(db, Dialect{})
	assert.Error(t, err)
	for _, bad := range []string{"", "1abc", "a-b", "a b", "t; DROP TABLE x", strings.Repeat("a", 64)} {
		_, err = New(db, SQLite, WithTable(bad))
		assert.Error(t, err, bad)
	}
	s, err := New(db, Postgres, WithTable("notify_2024"))
	require.NoError(t, err)
	assert.Equal(t, "sqlstore(postgres, notify_2024)", s.String())
	assert.Contains(t, s.q.claim, "$4")
	assert.Equal(t, "mysql", MySQL.String())
}
