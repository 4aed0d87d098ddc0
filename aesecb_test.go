package wxrefund

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
			notifyKey(tc.apiKey).Encrypt(d, blk)
			assert.Equal(t, a, d, "notifyKey for %s", tc.apiKey)
			// The Client decrypts what the expected key encrypted.
			pt, err := decryptECB(c.keys().notify, mtEncryptECB(want, blk))
			require.NoError(t, err, "client key for %s", tc.apiKey)
			assert.Equal(t, blk, pt)
		}
		// Uppercase hex would be a different key.
		upper, err := aes.NewCipher([]byte(strings.ToUpper(tc.aesKey)))
		require.NoError(t, err)
		pt, err := decryptECB(c.keys().notify, mtEncryptECB(upper, []byte("<root><out_refun")))
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
		got, err := mtDecryptReqInfo(c, ntReqInfo(ntKey, pt))
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
			got, err := mtDecryptReqInfo(c, reqInfo)
			require.ErrorIs(t, err, ErrDecrypt)
			assert.Nil(t, got)
			ntAssertNoSecrets(t, err, ntKey, ntAESKey, hex.EncodeToString([]byte(ntAESKey)), "RF-SECRET-1", secret[:16])
		})
	}
}

// ---------------------------------------------------------------------------
// decryptECB and notifyKey at the block level. Package-level names here carry
// the prefix xt.

func xtMD5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func xtBase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// xtEncryptRaw encrypts whole blocks without adding padding, to build
// ciphertexts whose plaintext has an arbitrary (bad) padding shape.
func xtEncryptRaw(t testing.TB, b cipher.Block, pt []byte) []byte {
	t.Helper()
	require.Zero(t, len(pt)%16)
	ct := make([]byte, len(pt))
	for i := 0; i < len(pt); i += 16 {
		b.Encrypt(ct[i:i+16], pt[i:i+16])
	}
	return ct
}

// The notification key is AES-256 keyed with the 32 ASCII characters of the
// lowercase hex MD5 of the API key (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16),
// not AES-128 keyed with the 16 raw digest bytes.
func TestNotifyKeyIsHexMD5AES256(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ apiKey, aesKey string }{
		{ntWPYKey, ntWPYAES},
		{ntKey, ntAESKey},
		{"192006250b4c09247ec02edce69f6a2d", xtMD5Hex("192006250b4c09247ec02edce69f6a2d")},
	} {
		want, err := aes.NewCipher([]byte(tc.aesKey)) // the 32 ASCII characters
		require.NoError(t, err)
		got := notifyKey(tc.apiKey)
		assert.Equal(t, aes.BlockSize, got.BlockSize())

		for _, in := range [][]byte{make([]byte, 16), []byte("0123456789abcdef"), bytes.Repeat([]byte{0xff}, 16)} {
			a, b := make([]byte, 16), make([]byte, 16)
			want.Encrypt(a, in)
			got.Encrypt(b, in)
			assert.Equal(t, a, b, "api key %s", tc.apiKey)
		}
		// Not the raw 16-byte digest as an AES-128 key.
		raw, err := hex.DecodeString(tc.aesKey)
		require.NoError(t, err)
		wrong, err := aes.NewCipher(raw)
		require.NoError(t, err)
		a, b := make([]byte, 16), make([]byte, 16)
		wrong.Encrypt(a, make([]byte, 16))
		got.Encrypt(b, make([]byte, 16))
		assert.NotEqual(t, a, b)
	}
}

// FIPS-197 appendix C.3 (AES-256): one block through mtEncryptECB, followed
// by a full block of padding, and back through decryptECB.
func TestDecryptECBKnownAnswer(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	pt, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	want, _ := hex.DecodeString("8ea2b7ca516745bfeafc49904b496089")
	b, err := aes.NewCipher(key)
	require.NoError(t, err)

	ct := mtEncryptECB(b, pt)
	require.Len(t, ct, 32)
	assert.Equal(t, want, ct[:16])
	pad := make([]byte, 16)
	b.Decrypt(pad, ct[16:])
	assert.Equal(t, bytes.Repeat([]byte{16}, 16), pad)

	back, err := decryptECB(b, bytes.Clone(ct))
	require.NoError(t, err)
	assert.Equal(t, pt, back)
	// ECB: equal plaintext blocks give equal ciphertext blocks (no IV, no chaining).
	ct2 := mtEncryptECB(b, append(append([]byte{}, pt...), pt...))
	assert.Equal(t, ct2[:16], ct2[16:32])
}

func TestDecryptECBRoundTrip(t *testing.T) {
	t.Parallel()
	b := notifyKey(ntKey)
	for n := 0; n <= 40; n++ {
		pt := make([]byte, n)
		for i := range pt {
			pt[i] = byte(i*7 + n)
		}
		orig := bytes.Clone(pt)
		ct := mtEncryptECB(b, pt)
		assert.Equal(t, orig, pt, "mtEncryptECB must not modify its input")
		assert.Equal(t, (n/16+1)*16, len(ct), "length %d", n)

		// The last block decrypts to the plaintext tail and p bytes of p.
		raw := make([]byte, len(ct))
		for i := 0; i < len(ct); i += 16 {
			b.Decrypt(raw[i:i+16], ct[i:i+16])
		}
		p := 16 - n%16
		assert.Equal(t, orig, raw[:n])
		assert.Equal(t, bytes.Repeat([]byte{byte(p)}, p), raw[n:])

		// decryptECB works in place (the old decoder copied): ct ends up
		// holding the plaintext and its padding, and the result is a
		// prefix of ct, not a new buffer.
		got, err := decryptECB(b, ct)
		require.NoError(t, err, "length %d", n)
		assert.Equal(t, orig, got, "length %d", n)
		assert.Equal(t, raw, ct, "length %d: ct holds the padded plaintext", n)
		assert.Equal(t, cap(ct), cap(got), "length %d: result shares ct's array", n)
		if n > 0 {
			assert.Same(t, &ct[0], &got[0], "length %d", n)
		}
	}
}

func TestDecryptECBBadPadding(t *testing.T) {
	t.Parallel()
	b := notifyKey(ntKey)
	secret := []byte("RF20240603000001") // a plaintext value that must never leak
	block := func(tail ...byte) []byte {
		pt := append([]byte{}, secret...)
		blk := make([]byte, 16)
		copy(blk, "<root>SECRETXYZ")
		copy(blk[16-len(tail):], tail)
		return append(pt, blk...)
	}
	tests := []struct {
		name string
		pt   []byte
	}{
		{"pad byte 0", block(0)},
		{"pad byte 17", block(17)},
		{"pad byte 32", block(32)},
		{"pad byte 255", block(255)},
		{"pad bytes differ 03 03 02", block(3, 3, 2)},
		{"pad bytes differ 02 03 03", block(2, 3, 3)},
		{"pad bytes differ in the middle", block(4, 4, 9, 4)},
		{"pad 16 but not 16 of them", block(16, 16, 16, 16)},
		{"pad 16 over a short block", append(append([]byte{}, secret[:3]...), bytes.Repeat([]byte{16}, 13)...)},
		{"full pad block with one wrong byte", append(append([]byte{}, secret...), append(bytes.Repeat([]byte{16}, 15), 15)...)},
		{"pad 16 one block wrong first byte", append([]byte{0}, bytes.Repeat([]byte{16}, 15)...)},
		{"pad 5 with 4 fives", block(0, 5, 5, 5, 5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ct := xtEncryptRaw(t, b, tc.pt)
			got, err := decryptECB(b, ct)
			require.ErrorIs(t, err, ErrDecrypt)
			assert.Nil(t, got)
			ntAssertNoSecrets(t, err, ntKey, ntAESKey, string(secret), "SECRETXYZ")
			// decryptECB decrypts in place, so on a padding error it clears
			// ct rather than leave the (wrong) plaintext there.
			assert.Equal(t, make([]byte, len(ct)), ct)
		})
	}
}

func TestDecryptECBGoodPaddingEdges(t *testing.T) {
	t.Parallel()
	b := notifyKey(ntKey)
	// Pad 1 and pad 16 are both valid.
	got, err := decryptECB(b, xtEncryptRaw(t, b, append(bytes.Repeat([]byte("a"), 15), 1)))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte("a"), 15), got)
	got, err = decryptECB(b, xtEncryptRaw(t, b, bytes.Repeat([]byte{16}, 16)))
	require.NoError(t, err)
	assert.Empty(t, got)
	// Plaintext that ends in bytes equal to the pad value is not over-stripped.
	got, err = decryptECB(b, xtEncryptRaw(t, b, append(bytes.Repeat([]byte{2}, 14), 2, 2)))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{2}, 14), got)
}

func TestDecryptECBBadLength(t *testing.T) {
	t.Parallel()
	b := notifyKey(ntKey)
	good := mtEncryptECB(b, []byte("0123456789abcdefSECRET"))
	for _, ct := range [][]byte{nil, {}, good[:15], good[:17], good[:31], good[:1], append(bytes.Clone(good), 0)} {
		orig := bytes.Clone(ct)
		got, err := decryptECB(b, ct)
		require.ErrorIs(t, err, ErrDecrypt, "length %d", len(ct))
		assert.Nil(t, got)
		ntAssertNoSecrets(t, err, ntKey, ntAESKey, "SECRET")
		// A length error comes before any decryption: ct is untouched.
		assert.Equal(t, orig, ct, "length %d", len(ct))
	}
}

func TestDecryptECBWrongKey(t *testing.T) {
	t.Parallel()
	const right, wrong = ntKey, "Illustr8tiveApiV2Key0123456789AB"
	ct := mtEncryptECB(notifyKey(right), []byte("<root><out_refund_no>SECRET</out_refund_no></root>"))
	got, err := decryptECB(notifyKey(wrong), ct)
	if err == nil {
		// A wrong key yields a valid-looking pad with probability ~1/256;
		// these fixed keys were checked not to.
		t.Fatalf("wrong key decrypted to %q", got)
	}
	require.ErrorIs(t, err, ErrDecrypt)
	ntAssertNoSecrets(t, err, right, wrong, xtMD5Hex(right), xtMD5Hex(wrong), "SECRET")
}

// The committed notification vectors decrypt with decryptECB alone, and
// re-encrypting the plaintext gives back their req_info byte for byte.
func TestNotifyVectorsDecryptECB(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, apiKey, wantOutRefundNo string
		ctLen, pad                    int
	}{
		{"notify_wechatpy.xml", ntWPYKey, "1234", 800, 5},
		{"notify_9_4.xml", ntKey, "RF20240603000001", 0, 0},
	} {
		outer, err := mtDecode(mtReadVector(t, tc.file), "xml")
		require.NoError(t, err)
		ct := xtBase64(t, outer["req_info"])
		if tc.ctLen != 0 {
			assert.Len(t, ct, tc.ctLen)
		}
		b := notifyKey(tc.apiKey)
		pt, err := decryptECB(b, bytes.Clone(ct))
		require.NoError(t, err)
		if tc.pad != 0 {
			assert.Equal(t, len(ct)-tc.pad, len(pt))
		}
		inner, err := mtDecode(pt, "root")
		require.NoError(t, err)
		assert.Equal(t, tc.wantOutRefundNo, inner["out_refund_no"])
		// Re-encrypting the plaintext reproduces the vector byte for byte.
		assert.Equal(t, ct, mtEncryptECB(b, pt))
	}
	// notify_9_4.xml decrypts to the fields of notify_9_4_plaintext.xml (the
	// same content, written out with line breaks).
	outer, err := mtDecode(mtReadVector(t, "notify_9_4.xml"), "xml")
	require.NoError(t, err)
	pt, err := decryptECB(notifyKey(ntKey), xtBase64(t, outer["req_info"]))
	require.NoError(t, err)
	want, err := mtDecode(mtReadVector(t, "notify_9_4_plaintext.xml"), "root")
	require.NoError(t, err)
	got, err := mtDecode(pt, "root")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

// FuzzDecryptECBStrictPadding: decryptECB never panics; whatever it accepts
// re-encrypts to the same ciphertext (strict padding means one plaintext per
// ciphertext). It decrypts in place: on success the plaintext is a prefix of
// the input, on a padding error the input is cleared, and on a length error
// it is untouched.
func FuzzDecryptECBStrictPadding(f *testing.F) {
	b := notifyKey(ntKey)
	f.Add([]byte{})
	f.Add(make([]byte, 15))
	f.Add(make([]byte, 16))
	f.Add(make([]byte, 17))
	f.Add(mtEncryptECB(b, nil))
	f.Add(mtEncryptECB(b, []byte("<root><out_refund_no>1</out_refund_no></root>")))
	for _, file := range []string{"notify_9_4.xml", "notify_wechatpy.xml"} {
		if m, err := mtDecode(mtReadVector(f, file), "xml"); err == nil && m["req_info"] != "" {
			if ct, err := base64.StdEncoding.DecodeString(m["req_info"]); err == nil {
				f.Add(ct)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ct []byte) {
		orig := bytes.Clone(ct)
		pt, err := decryptECB(b, ct)
		if err != nil {
			if pt != nil {
				t.Fatalf("plaintext returned with an error")
			}
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error does not wrap ErrDecrypt: %v", err)
			}
			switch {
			case len(orig) == 0 || len(orig)%16 != 0:
				if !bytes.Equal(orig, ct) {
					t.Fatalf("length error modified the input")
				}
			case !bytes.Equal(ct, make([]byte, len(ct))):
				t.Fatalf("padding error left the input uncleared")
			}
			return
		}
		if len(ct)-len(pt) < 1 || len(ct)-len(pt) > 16 {
			t.Fatalf("stripped %d bytes of padding", len(ct)-len(pt))
		}
		if cap(pt) != cap(ct) || len(pt) > 0 && &pt[0] != &ct[0] {
			t.Fatalf("plaintext is not a prefix of the input")
		}
		if !bytes.Equal(mtEncryptECB(b, pt), orig) {
			t.Fatalf("re-encryption differs")
		}
	})
}
