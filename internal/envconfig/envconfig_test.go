package envconfig

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

var allVars = []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_APIKEY", "WXPAY_CERT_FILE", "WXPAY_KEY_FILE",
	"WXPAY_P12_FILE", "WXPAY_P12_PASSWORD", "WXPAY_BASE_URL", "WXPAY_CA_FILE"}

func clearEnv(t *testing.T) {
	for _, v := range allVars {
		t.Setenv(v, "")
	}
}

func TestClientExplainsWhatIsMissing(t *testing.T) {
	clearEnv(t)
	_, err := Client(true)
	require.Error(t, err)
	for _, name := range []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_APIKEY", "WXPAY_CERT_FILE", "Environment variables:"} {
		assert.Contains(t, err.Error(), name)
	}

	t.Setenv("WXPAY_APPID", "wx8888888888888888")
	t.Setenv("WXPAY_MCHID", "1900000109")
	t.Setenv("WXPAY_APIKEY", "Illustr8tiveApiV2Key0123456789Ab")
	_, err = Client(true)
	require.ErrorContains(t, err, "WXPAY_CERT_FILE and WXPAY_KEY_FILE (or WXPAY_P12_FILE)")
	_, err = Client(false) // queries and notifications need no certificate
	require.NoError(t, err)

	t.Setenv("WXPAY_CA_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	_, err = Client(false)
	require.ErrorContains(t, err, "WXPAY_CA_FILE")
}

// The variables that examples/fakeserver prints are enough to refund
// against it.
func TestClientAgainstTheFake(t *testing.T) {
	clearEnv(t)
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 100}))

	dir := t.TempDir()
	certPEM, keyPEM := fake.MerchantCertPEM()
	for name, data := range map[string][]byte{"ca.pem": fake.CACertPEM(), "cert.pem": certPEM, "key.pem": keyPEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	appID, mchID, apiKey := fake.Credentials()
	t.Setenv("WXPAY_APPID", appID)
	t.Setenv("WXPAY_MCHID", mchID)
	t.Setenv("WXPAY_APIKEY", apiKey)
	t.Setenv("WXPAY_CERT_FILE", filepath.Join(dir, "cert.pem"))
	t.Setenv("WXPAY_KEY_FILE", filepath.Join(dir, "key.pem"))
	t.Setenv("WXPAY_BASE_URL", fake.URL())
	t.Setenv("WXPAY_CA_FILE", filepath.Join(dir, "ca.pem"))

	c, err := Client(true)
	require.NoError(t, err)
	resp, err := c.Refund(context.Background(), &wxrefund.RefundRequest{
		OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 100, RefundFee: 40})
	require.NoError(t, err)
	assert.EqualValues(t, 40, resp.RefundFee)
}
