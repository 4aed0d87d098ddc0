package wxrefund

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A redirect is never followed: a 307 would resend the signed refund, and
// present the merchant certificate, to whatever the Location names.
func TestRefundDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			userClient := &http.Client{} // its default policy follows redirects
			for _, opts := range [][]Option{nil, {WithHTTPClient(userClient)}} {
				c, mux := setup(t, opts...)
				elsewhere := mtCountHits(mux, "/elsewhere")
				mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/elsewhere", status)
				})
				_, err := c.Refund(context.Background(), mtRefundReq())
				var me *MessageError
				require.ErrorAs(t, err, &me)
				assert.Equal(t, status, me.StatusCode)
				assert.ErrorIs(t, err, ErrHTTPStatus)
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.Zero(t, elsewhere.Load(), "the redirect target was reached")
			}
			assert.Nil(t, userClient.CheckRedirect, "the user's client was modified")
		})
	}
}

func TestNilContextIsAnError(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	hits := mtCountHits(mux, pathRefund)
	queryHits := mtCountHits(mux, pathRefundQuery)
	//lint:ignore SA1012 a nil context is the input under test
	_, err := c.Refund(nil, mtRefundReq()) //nolint:staticcheck
	require.ErrorIs(t, err, ErrInvalidRequest)
	//lint:ignore SA1012 a nil context is the input under test
	_, err = c.QueryRefund(nil, &QueryRefundRequest{OutRefundNo: "RF1"}) //nolint:staticcheck
	require.ErrorIs(t, err, ErrInvalidRequest)
	assert.False(t, errors.Is(err, ErrOutcomeUnknown))
	assert.Zero(t, hits.Load()+queryHits.Load())
}

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
