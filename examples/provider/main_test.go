package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The provider's whole day, end to end against the fake.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out strings.Builder
	require.NoError(t, run(ctx, &out))
	for _, want := range []string{
		"sub-merchant 1900000201: refund RF-A-1 of 2000 fen accepted",
		"sub-merchant 1900000202: refund RF-B-1 of 8000 fen accepted",
		"without SubMchID: this mch_id is a service provider's: set SubMchID",
		"query: RF-B-1 of sub-merchant 1900000202 is PROCESSING",
		"notification: RF-A-2 of sub-merchant 1900000201 is SUCCESS",
		"bill of all sub-merchants: 3 refunds, 10500 fen, all ours",
		"bill of sub-merchant 1900000201: 2 refunds, 2500 fen, all ours",
	} {
		assert.Contains(t, out.String(), want)
	}
}
