package wxrefundtest

import (
	"context"
	"fmt"

	"github.com/go-wxpay/wxrefund"
)

// This file lets a test wait for what the Server does in the background
// (notification deliveries, refunds completed by WithAutoComplete) without
// polling: every change wakes the waiters.

// changedLocked wakes everything waiting in waitFor. Called with s.mu held.
func (s *Server) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until done, called with s.mu held, reports true; or ctx
// ends; or the Server closes. fn names the caller in errors, and seen
// (called with s.mu held) says what was seen when the wait failed.
func (s *Server) waitFor(ctx context.Context, fn string, done func() bool, seen func() string) error {
	for {
		s.mu.Lock()
		if done() {
			s.mu.Unlock()
			return nil
		}
		closed, ch, what := s.closed, s.changed, ""
		if closed || ctx.Err() != nil {
			what = seen()
		}
		s.mu.Unlock()
		switch {
		case closed:
			return fmt.Errorf("wxrefundtest: %s: %w (%s)", fn, ErrClosed, what)
		case ctx.Err() != nil:
			return fmt.Errorf("wxrefundtest: %s: %w (%s)", fn, ctx.Err(), what)
		}
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// WaitNotified waits until the merchant acknowledged a notification of the
// refund outRefundNo (a Delivery that is OK) and returns that delivery. It
// fails when ctx ends first, or the Server closes, with an error that says
// how many deliveries were seen. Complete (or WithAutoComplete) starts the
// deliveries.
//
//	s.Complete("R1", wxrefund.RefundStatusSuccess)
//	d, err := s.WaitNotified(ctx, "R1") // ctx with a deadline
func (s *Server) WaitNotified(ctx context.Context, outRefundNo string) (Delivery, error) {
	var got Delivery
	err := s.waitFor(ctx, "WaitNotified("+outRefundNo+")", func() bool {
		for _, d := range s.deliveries {
			if d.OutRefundNo == outRefundNo && d.OK() {
				got = d
				return true
			}
		}
		return false
	}, func() string { return s.deliveriesSeen(outRefundNo) })
	return got, err
}

// WaitDeliveries waits until the notification of the refund outRefundNo was
// delivered n times (n >= 1), acknowledged or not, and returns those
// deliveries, oldest first. It fails as WaitNotified does.
func (s *Server) WaitDeliveries(ctx context.Context, outRefundNo string, n int) ([]Delivery, error) {
	if n < 1 {
		return nil, fmt.Errorf("wxrefundtest: WaitDeliveries(%s, %d): want n >= 1", outRefundNo, n)
	}
	var got []Delivery
	err := s.waitFor(ctx, fmt.Sprintf("WaitDeliveries(%s, %d)", outRefundNo, n), func() bool {
		got = got[:0]
		for _, d := range s.deliveries {
			if d.OutRefundNo == outRefundNo {
				if got = append(got, d); len(got) == n {
					return true
				}
			}
		}
		return false
	}, func() string { return s.deliveriesSeen(outRefundNo) })
	if err != nil {
		return nil, err
	}
	return got, nil
}

// deliveriesSeen describes the deliveries of outRefundNo. Called with s.mu
// held.
func (s *Server) deliveriesSeen(outRefundNo string) string {
	n, ok := 0, 0
	for _, d := range s.deliveries {
		if d.OutRefundNo == outRefundNo {
			n++
			if d.OK() {
				ok++
			}
		}
	}
	r := s.refunds[outRefundNo]
	switch {
	case r == nil:
		return "no such refund"
	case r.status == wxrefund.RefundStatusProcessing:
		return "the refund is still PROCESSING: Complete it first"
	case r.notifyURL == "":
		return "the refund has no notify URL"
	}
	return fmt.Sprintf("%d deliveries, %d acknowledged", n, ok)
}

// WaitStatus waits until the refund outRefundNo exists with status (such as
// SUCCESS, after WithAutoComplete) and returns its state. It fails when ctx
// ends first, or the Server closes, with an error that says the status
// seen.
func (s *Server) WaitStatus(ctx context.Context, outRefundNo string, status wxrefund.RefundStatus) (RefundState, error) {
	var got RefundState
	err := s.waitFor(ctx, fmt.Sprintf("WaitStatus(%s, %s)", outRefundNo, status), func() bool {
		r := s.refunds[outRefundNo]
		if r == nil || r.status != status {
			return false
		}
		got = r.state()
		return true
	}, func() string {
		if r := s.refunds[outRefundNo]; r != nil {
			return "the refund is " + string(r.status)
		}
		return "no such refund"
	})
	return got, err
}
