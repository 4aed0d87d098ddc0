package wxrefund

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sync"
)

// This file decrypts the req_info of refund notifications: AES-256-ECB with
// PKCS#7 padding, keyed with the 32 ASCII characters of the lowercase hex MD5
// of the API key. See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16
// (解密步骤). The standard library has no ECB mode, so the block loop is here.

// notifyKey derives the AES-256 block for notifications from the API key.
func notifyKey(apiKey string) cipher.Block {
	sum := md5.Sum([]byte(apiKey))
	var k [32]byte
	hex.Encode(k[:], sum[:])
	b, err := aes.NewCipher(k[:])
	clear(k[:])
	if err != nil { // unreachable: 32 bytes is a valid AES key size
		panic(err)
	}
	return b
}

// decryptECB decrypts ct in place, block by block, and strips strict PKCS#7
// padding: the pad length is 1..16 and every pad byte equals it. It returns
// the plaintext, a prefix of ct. Errors say what was wrong with the shape,
// never what the key or the plaintext is; after a padding error ct is
// cleared.
func decryptECB(b cipher.Block, ct []byte) ([]byte, error) {
	const bs = aes.BlockSize
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a positive multiple of %d", ErrDecrypt, len(ct), bs)
	}
	for i := 0; i < len(ct); i += bs {
		b.Decrypt(ct[i:i+bs], ct[i:i+bs])
	}
	p := int(ct[len(ct)-1])
	bad := 0
	if p < 1 || p > bs {
		bad, p = 1, 1
	}
	for _, c := range ct[len(ct)-p:] {
		if int(c) != p {
			bad = 1
		}
	}
	if bad != 0 {
		clear(ct)
		return nil, fmt.Errorf("%w: bad PKCS#7 padding (most often a wrong API key)", ErrDecrypt)
	}
	return ct[:len(ct)-p], nil
}

// reqInfoPool holds the buffers that req_info is decoded and decrypted in.
// Notifications are at most maxBody, so a buffer never grows past that.
var reqInfoPool = sync.Pool{New: func() any { return new([]byte) }}

// withReqInfo decodes req_info (standard base64) and decrypts it into a
// pooled buffer, calls use with the plaintext, then clears the buffer. The
// plaintext must not be kept after use returns. Errors wrap ErrDecrypt and
// never contain key material, ciphertext or plaintext.
func withReqInfo(b cipher.Block, reqInfo string, use func(pt []byte) error) error {
	if reqInfo == "" {
		return fmt.Errorf("%w: req_info is empty", ErrDecrypt)
	}
	bp := reqInfoPool.Get().(*[]byte)
	defer reqInfoPool.Put(bp)
	// One buffer holds the base64 text (copied: converting the string
	// would allocate) and, before it, the ciphertext decoded from it.
	n := base64.StdEncoding.DecodedLen(len(reqInfo))
	if cap(*bp) < n+len(reqInfo) {
		*bp = make([]byte, n+len(reqInfo))
	}
	buf := (*bp)[:n+len(reqInfo)]
	defer clear(buf)
	copy(buf[n:], reqInfo)
	n, err := base64.StdEncoding.Decode(buf[:n], buf[n:])
	if err != nil {
		return fmt.Errorf("%w: req_info is not standard base64", ErrDecrypt)
	}
	pt, err := decryptECB(b, buf[:n])
	if err != nil {
		return err
	}
	return use(pt)
}
