package wxrefund

import (
	"context"
	"net/http"
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
