package wxrefund

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// This file holds what NotifyHandler needs to survive WeChat Pay's
// redeliveries: its options, the store of processed notifications, and the
// per-notification lock.

// NotifyOption configures NotifyHandler.
type NotifyOption func(*notifyConfig)

type notifyConfig struct {
	store NotifyStore
	log   *slog.Logger
}

// NotifyStore remembers which notifications were processed, so that a
// redelivery is acknowledged without calling the handler again. Keys are
// opaque strings of at most 200 bytes, one per notification and status
// (a refund that goes from PROCESSING to SUCCESS is notified once per final
// status). Processed reports whether MarkProcessed was called for key.
//
// A store shared by all of a merchant's instances (a database table with a
// unique key, see the README) makes that hold across instances; the memory
// store of NewMemoryNotifyStore holds within one process.
type NotifyStore interface {
	Processed(ctx context.Context, key string) (bool, error)
	MarkProcessed(ctx context.Context, key string) error
}

// WithNotifyStore makes NotifyHandler acknowledge, without calling its
// handler, a notification that s records as processed, and record each one
// the handler processed without error.
func WithNotifyStore(s NotifyStore) NotifyOption {
	return func(c *notifyConfig) { c.store = s }
}

// WithNotifyLogger makes NotifyHandler log, at warning level, every
// delivery it does not acknowledge and why (an invalid body, another
// merchant's, a handler or store failure), with the request's remote
// address. Records never hold the API key, ciphertext or decrypted values.
func WithNotifyLogger(l *slog.Logger) NotifyOption {
	return func(c *notifyConfig) { c.log = l }
}

func (c *notifyConfig) logReject(r *http.Request, status int, reason string, err error) {
	if c.log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("reason", reason), slog.Int("status", status), slog.String("remote", r.RemoteAddr)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(r.Context(), slog.LevelWarn, "wxrefund: notification not acknowledged", attrs...)
}

// notifyKeyOf identifies a notification for NotifyStore and the lock: the
// merchant (and sub-merchant), the refund and its final status.
func notifyKeyOf(n *RefundNotification) string {
	key := "wxrefund:" + n.MchID + ":" + n.SubMchID + ":" + n.OutRefundNo + ":" + string(n.Status)
	if len(key) > 200 { // only a hostile or broken notification has such ids
		sum := sha256.Sum256([]byte(key))
		key = "wxrefund:sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

// keyedMutex serializes the deliveries of one notification; entries are
// dropped when nobody holds or waits for them.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// NewMemoryNotifyStore returns a NotifyStore kept in memory: at most
// maxEntries keys (the oldest go first), each forgotten ttl after it was
// recorded. It serves one process; WeChat Pay redelivers a notification for
// about a day, so a ttl of 25 hours covers its schedule. maxEntries < 1
// means 100,000; ttl <= 0 means 25 hours.
func NewMemoryNotifyStore(maxEntries int, ttl time.Duration) NotifyStore {
	if maxEntries < 1 {
		maxEntries = 100_000
	}
	if ttl <= 0 {
		ttl = 25 * time.Hour
	}
	return &memoryStore{max: maxEntries, ttl: ttl, m: map[string]*list.Element{}, order: list.New(), now: time.Now}
}

type memoryStore struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	m     map[string]*list.Element // of memoryEntry, oldest at the front of order
	order *list.List
	now   func() time.Time
}

type memoryEntry struct {
	key     string
	expires time.Time
}

func (s *memoryStore) Processed(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	_, ok := s.m[key]
	return ok, nil
}

func (s *memoryStore) MarkProcessed(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if e, ok := s.m[key]; ok {
		s.order.Remove(e)
	}
	for s.order.Len() >= s.max {
		oldest := s.order.Front()
		delete(s.m, oldest.Value.(memoryEntry).key)
		s.order.Remove(oldest)
	}
	s.m[key] = s.order.PushBack(memoryEntry{key: key, expires: s.now().Add(s.ttl)})
	return nil
}

// expire drops the entries past their ttl: the oldest, at the front.
func (s *memoryStore) expire() {
	now := s.now()
	for e := s.order.Front(); e != nil && !now.Before(e.Value.(memoryEntry).expires); e = s.order.Front() {
		delete(s.m, e.Value.(memoryEntry).key)
		s.order.Remove(e)
	}
}
