package wxrefund

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"
	"sync"
)

// SignType is the signature algorithm of an API v2 request, sent as sign_type.
// WeChat Pay signs its response with the algorithm of the request.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3.
type SignType string

// The two signature algorithms of API v2.
const (
	SignTypeMD5        SignType = "MD5"         // the default; sign_type is then not sent
	SignTypeHMACSHA256 SignType = "HMAC-SHA256" // HMAC keyed with the API key
)

func (t SignType) valid() bool { return t == SignTypeMD5 || t == SignTypeHMACSHA256 }

// Sign returns the API v2 signature of params: the parameters with non-empty
// values, except sign itself, sorted by name and joined as name=value&... with
// raw (not URL-encoded) values, then "&key=" and apiKey appended, hashed with t
// and written as uppercase hex. An unknown t signs with MD5, as WeChat Pay
// does when sign_type is absent.
//
// Sign is exported for users who sign other API v2 calls; the Client signs
// its own requests and verifies every response.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3.
func Sign(params map[string]string, apiKey string, t SignType) string {
	var dst [64]byte
	return string(appendSign(dst[:0], params, apiKey, t))
}

// signScratch is appendSign's working memory, pooled so that signing
// allocates little more than the hash state.
type signScratch struct {
	keys []string
	buf  [512]byte
	sum  [sha256.Size]byte
}

var keyPool = sync.Pool{New: func() any { return &signScratch{keys: make([]string, 0, 48)} }}

// appendSign appends the uppercase hex signature to dst.
func appendSign(dst []byte, params map[string]string, apiKey string, t SignType) []byte {
	sc := keyPool.Get().(*signScratch)
	keys := sc.keys[:0]
	for k, v := range params {
		if k == "sign" || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var h hash.Hash
	if t == SignTypeHMACSHA256 {
		h = hmac.New(sha256.New, []byte(apiKey))
	} else {
		h = md5.New()
	}
	// Write the string-to-sign through a small buffer rather than building it.
	buf := &sc.buf
	b := buf[:0]
	put := func(s string) {
		for len(s) > 0 {
			if len(b) == len(buf) {
				h.Write(b)
				b = b[:0]
			}
			n := copy(buf[len(b):], s)
			b, s = buf[:len(b)+n], s[n:]
		}
	}
	for _, k := range keys {
		v := params[k]
		if len(b)+len(k)+len(v)+2 <= len(buf) { // the common case
			b = append(append(append(append(b, k...), '='), v...), '&')
			continue
		}
		put(k)
		put("=")
		put(v)
		put("&")
	}
	put("key=")
	put(apiKey)
	h.Write(b)

	digest := h.Sum(sc.sum[:0])
	n := len(dst)
	dst = hex.AppendEncode(dst, digest)
	clear(keys)
	clear(buf[:])
	sc.keys = keys[:0]
	keyPool.Put(sc)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; c >= 'a' && c <= 'f' {
			dst[i] = c - 'a' + 'A'
		}
	}
	return dst
}

// verifySign checks fields["sign"] against the signature of all other fields
// (every field received, unknown ones included) in constant time. A missing
// sign is a mismatch.
func verifySign(fields map[string]string, apiKey string, t SignType) error {
	got, ok := fields["sign"]
	if !ok || got == "" {
		return fmt.Errorf("%w: the message carries no sign", ErrSignatureMismatch)
	}
	var dst [64]byte
	want := appendSign(dst[:0], fields, apiKey, t)
	if !hmac.Equal(want, []byte(got)) {
		return fmt.Errorf("%w (%s)", ErrSignatureMismatch, t)
	}
	return nil
}

// checkUnambiguous reports whether fields can be trusted to be the fields
// that were signed, returning the first field that fails when not.
//
// The API v2 string-to-sign joins name=value pairs with "&" and escapes
// nothing, so the signature covers the joined text, not how it divides into
// fields. Whoever can edit a message in transit, without the key, can move
// text from one field into another and keep the signature valid: fold
// "err_code=SYSTEMERROR&err_code_des=系统超时" into a single err_code of
// "SYSTEMERROR&err_code_des=系统超时", or the reverse. Field names never
// contain "&" or "=", so the joined text has exactly one division into
// sorted pairs in which no value holds "&", a name-like token and "=": if
// the received fields are that division, they are the ones that were signed
// (WeChat Pay's own values never hold such text). A value that does hold it
// could have been regrouped, and the message is not trusted.
func checkUnambiguous(fields map[string]string) (string, bool) {
	for k, v := range fields {
		if k != "sign" && regroupable(v) {
			return k, false
		}
	}
	return "", true
}

// regroupable reports whether v contains "&", then one or more bytes that
// can occur in an XML element name, then "=".
func regroupable(v string) bool {
	for i := strings.IndexByte(v, '&'); i >= 0; {
		j := i + 1
		for j < len(v) && nameByte(v[j]) {
			j++
		}
		if j > i+1 && j < len(v) && v[j] == '=' {
			return true
		}
		next := strings.IndexByte(v[i+1:], '&')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// nameByte reports whether c can be part of an XML element name: ASCII
// letters, digits, "_", "-", ".", ":", and any byte of a multi-byte UTF-8
// character (names may hold non-ASCII letters).
func nameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c >= 0x80
}
