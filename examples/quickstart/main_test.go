package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestQuickstart runs the README's first command end to end.
func TestQuickstart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"refund " + refundOne + " accepted",
		"outcome unknown",
		"retried with the same out_refund_no: accepted",
		"same refund_id",
		"notification for " + refundOne + ": SUCCESS",
		"notification for " + refundTwo + ": SUCCESS",
		"the fake recorded the acknowledgement of " + refundTwo,
		"quickstart: OK",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
