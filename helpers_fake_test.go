package wxrefund_test

// Test harness for the external tests (package wxrefund_test) that run a
// Client against the fake WeChat Pay of package wxrefundtest, which package
// wxrefund's own tests cannot import. Its names carry the prefix xt.

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// xtFake starts the fake WeChat Pay with the given orders and returns it
// with a Client for it (opts come after the fake's own); both are closed
// when the test ends.
func xtFake(t *testing.T, orders []wxrefundtest.Order, opts ...wxrefund.Option) (*wxrefundtest.Server, *wxrefund.Client) {
	t.Helper()
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	for _, o := range orders {
		require.NoError(t, fake.AddOrder(o))
	}
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(), opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return fake, c
}
