package wxrefund

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund/internal/testpki"
)

// ctCert returns a merchant certificate issued to cn and valid from notBefore
// to notAfter, and its key, as PEM.
func ctCert(t *testing.T, cn string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	c, err := mtCerts().ca.Merchant(cn, testpki.Validity(notBefore, notAfter))
	require.NoError(t, err)
	return c.CertPEM, c.KeyPEM
}

// A certificate that cannot be the merchant's fails in NewClient, saying
// why; CertificateExpiry reports the one that loads.
func TestCertificateChecksAtStartup(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tests := []struct {
		name      string
		cn        string
		from, to  time.Time
		wantError string // "" = loads
	}{
		{"this merchant's", mtMchID, now.Add(-time.Hour), now.Add(365 * 24 * time.Hour), ""},
		{"CN that is not a merchant id", "1900000109 TEST-ONLY merchant", now.Add(-time.Hour), now.Add(time.Hour), ""},
		{"another merchant's", "1230000109", now.Add(-time.Hour), now.Add(time.Hour), "issued to merchant 1230000109, not to " + mtMchID},
		{"expired", mtMchID, now.Add(-48 * time.Hour), now.Add(-24 * time.Hour), "expired on"},
		{"not yet valid", mtMchID, now.Add(24 * time.Hour), now.Add(48 * time.Hour), "not valid before"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			certPEM, keyPEM := ctCert(t, tc.cn, tc.from, tc.to)
			c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(certPEM, keyPEM))
			if tc.wantError != "" {
				require.ErrorIs(t, err, ErrCertificate)
				assert.Contains(t, err.Error(), tc.wantError)
				assert.Nil(t, c)
				return
			}
			require.NoError(t, err)
			assert.True(t, c.CertificateExpiry().Equal(tc.to.Truncate(time.Second)), "%v vs %v", c.CertificateExpiry(), tc.to)
		})
	}

	c, err := NewClient(mtAppID, mtMchID, mtAPIKey)
	require.NoError(t, err)
	assert.True(t, c.CertificateExpiry().IsZero(), "no certificate, no expiry")
	assert.True(t, (*Client)(nil).CertificateExpiry().IsZero())
}
