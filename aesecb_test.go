package wxrefund

import (
	"bytes"
	"crypto/aes"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund/internal/wire"
)

// The Client derives its notification key once, from the API key: the 32
// ASCII characters of the lowercase hex MD5 are the AES-256 key.
func TestNotifyKeyDerivation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ apiKey, aesKey string }{
		{ntWPYKey, ntWPYAES},
		{ntKey, ntAESKey},
	} {
		c := ntClient(t, ntAppID, ntMchID, tc.apiKey)
		want, err := aes.NewCipher([]byte(tc.aesKey))
		require.NoError(t, err)
		for _, blk := range [][]byte{make([]byte, 16), []byte("<root><out_refun"), bytes.Repeat([]byte{0xa5}, 16)} {
			a, d := make([]byte, 16), make([]byte, 16)
			want.Encrypt(a, blk)
			wire.NotifyKey(tc.apiKey).Encrypt(d, blk)
			assert.Equal(t, a, d, "wire.NotifyKey for %s", tc.apiKey)
			// The Client decrypts what the expected key encrypted.
			pt, err := c.sec.decrypt(wire.EncryptECB(want, blk))
			require.NoError(t, err, "client key for %s", tc.apiKey)
			assert.Equal(t, blk, pt)
		}
		// Uppercase hex would be a different key.
		upper, err := aes.NewCipher([]byte(strings.ToUpper(tc.aesKey)))
		require.NoError(t, err)
		pt, err := c.sec.decrypt(wire.EncryptECB(upper, []byte("<root><out_refun")))
		if err == nil {
			assert.NotEqual(t, []byte("<root><out_refun"), pt)
		}
	}
}

func TestDecryptReqInfo(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	for n := 0; n <= 40; n++ {
		pt := bytes.Repeat([]byte("退"), n)[:n]
		got, err := c.decryptReqInfo(ntReqInfo(ntKey, pt))
		require.NoError(t, err, "length %d", n)
		assert.Equal(t, pt, got, "length %d", n)
	}
}

func TestDecryptReqInfoRejects(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	const secret = "<root><out_refund_no>RF-SECRET-1</out_refund_no></root>"
	good := ntReqInfo(ntKey, []byte(secret))
	ct, err := base64.StdEncoding.DecodeString(good)
	require.NoError(t, err)
	b64 := base64.StdEncoding.EncodeToString
	raw := func(pt []byte) string { return ntRawReqInfo(ntKey, pt) }
	blockOf := func(tail ...byte) []byte {
		blk := bytes.Repeat([]byte("A"), 16)
		copy(blk[16-len(tail):], tail)
		return append([]byte(secret[:16]), blk...)
	}
	for name, reqInfo := range map[string]string{
		"empty":                   "",
		"not base64":              "%%%%",
		"base64 missing padding":  strings.TrimRight(b64(ct[:17]), "="),
		"raw URL base64":          base64.RawURLEncoding.EncodeToString(ct),
		"length 15":               b64(ct[:15]),
		"length 17":               b64(ct[:17]),
		"length 16 less one char": good[:len(good)-1],
		"last quantum dropped":    good[:len(good)-4],
		"last block dropped":      b64(ct[:len(ct)-16]),
		"wrong key":               ntReqInfo("Illustr8tiveApiV2Key0123456789AB", []byte(secret)),
		"pad byte 0":              raw(blockOf(0)),
		"pad byte 17":             raw(blockOf(17)),
		"pad byte 255":            raw(blockOf(255)),
		"pad bytes 03 03 02":      raw(blockOf(3, 3, 2)),
		"pad 16 first byte 15":    raw(append([]byte{15}, bytes.Repeat([]byte{16}, 15)...)),
		"pad longer than allowed": raw(append([]byte(secret[:12]), 16, 16, 16, 16)),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := c.decryptReqInfo(reqInfo)
			require.ErrorIs(t, err, ErrDecrypt)
			assert.Nil(t, got)
			ntAssertNoSecrets(t, err, ntKey, ntAESKey, hex.EncodeToString([]byte(ntAESKey)), "RF-SECRET-1", secret[:16])
		})
	}
}
