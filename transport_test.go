package wxrefund

import (
	"net/http"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// NewClient must leave the process-wide http.DefaultTransport alone (cloning
// it would set up HTTP/2 on it and give it a TLS config). Other tests may use
// the default transport first, so the check runs in a fresh process.
func TestNewClientLeavesDefaultTransportAlone(t *testing.T) {
	if os.Getenv("WXREFUND_DEFAULT_TRANSPORT_CHILD") == "1" {
		dt := http.DefaultTransport.(*http.Transport)
		require.Nil(t, dt.TLSClientConfig, "precondition: a fresh process")
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(mtCerts().clientCertPEM, mtCerts().clientKeyPEM))
		require.NoError(t, err)
		assert.Nil(t, dt.TLSClientConfig, "NewClient changed http.DefaultTransport")
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestNewClientLeavesDefaultTransportAlone$", "-test.count=1")
	cmd.Env = append(os.Environ(), "WXREFUND_DEFAULT_TRANSPORT_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child process:\n%s", out)
}
