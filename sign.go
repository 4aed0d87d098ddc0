package wxrefund

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"
	"strconv"
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
// its own requests and verifies every response. It keeps nothing derived
// from apiKey after it returns (a Client keeps keyed hash states of its own
// key, for speed).
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3.
func Sign(params map[string]string, apiKey string, t SignType) string {
	var w *signWriter
	if t != SignTypeHMACSHA256 {
		w = md5Writers.Get().(*signWriter)
	} else {
		w = &signWriter{h: hmac.New(sha256.New, []byte(apiKey))}
	}
	defer w.release()
	keys := w.keys[:0]
	for k, v := range params {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.pair(k, params[k])
	}
	clear(keys)
	w.keys = keys[:0]
	var dst [64]byte
	return string(w.finish(dst[:0], apiKey))
}

// md5Pool holds MD5 states; they carry no key (signWriter.finish resets
// them), so one pool serves every Client.
var md5Writers sync.Pool

func init() {
	md5Writers.New = func() any { return &signWriter{h: md5.New(), pool: &md5Writers} }
}

// signWriter feeds a string-to-sign into a hash through a buffer, so that a
// signature costs one hash call per 512 bytes instead of four per field.
// Writers are pooled with their hash state (MD5, or HMAC-SHA256 keyed for
// one signer); their buffers are cleared before reuse.
type signWriter struct {
	h    hash.Hash
	pool *sync.Pool // where release returns it; nil: not pooled
	n    int
	buf  [512]byte
	sum  [sha256.Size]byte
	keys []string // Sign's sort scratch
}

// release clears the writer (the string-to-sign ends with the API key) and
// returns it to its pool.
func (w *signWriter) release() {
	clear(w.buf[:])
	w.n = 0
	if w.pool != nil {
		w.pool.Put(w)
	}
}

func (w *signWriter) flush() {
	w.h.Write(w.buf[:w.n])
	w.n = 0
}

func (w *signWriter) str(s string) {
	for len(s) > 0 {
		if w.n == len(w.buf) {
			w.flush()
		}
		c := copy(w.buf[w.n:], s)
		w.n += c
		s = s[c:]
	}
}

// pair writes "name=value&".
func (w *signWriter) pair(name, value string) { writePair(w, name, value) }

// pairInt writes "name=<decimal>&" without formatting to a string.
func (w *signWriter) pairInt(name string, v int64) {
	var d [20]byte
	writePair(w, name, strconv.AppendInt(d[:0], v, 10))
}

func writePair[V string | []byte](w *signWriter, name string, value V) {
	if w.n+len(name)+len(value)+2 > len(w.buf) { // rare: a long value
		w.str(name)
		w.str("=")
		w.str(string(value))
		w.str("&")
		return
	}
	w.n += copy(w.buf[w.n:], name)
	w.buf[w.n] = '='
	w.n++
	w.n += copy(w.buf[w.n:], value)
	w.buf[w.n] = '&'
	w.n++
}

// finish writes "key=" and the API key, appends the signature to dst as
// uppercase hex, and resets the hash.
func (w *signWriter) finish(dst []byte, apiKey string) []byte {
	w.str("key=")
	w.str(apiKey)
	w.flush()
	digest := w.h.Sum(w.sum[:0])
	w.h.Reset()
	n := len(dst)
	dst = hex.AppendEncode(dst, digest)
	for i := n; i < len(dst); i++ {
		if c := dst[i]; c >= 'a' && c <= 'f' {
			dst[i] = c - 'a' + 'A'
		}
	}
	clear(w.sum[:])
	return dst
}

// signer signs and verifies with one API key: MD5 writers from md5Writers,
// and HMAC-SHA256 writers keyed once per signer and pooled (a keyed HMAC
// costs two hash blocks and several allocations to set up).
type signer struct {
	apiKey      string
	hmacWriters sync.Pool
}

func newSigner(apiKey string) *signer {
	s := &signer{apiKey: apiKey}
	s.hmacWriters.New = func() any {
		return &signWriter{h: hmac.New(sha256.New, []byte(apiKey)), pool: &s.hmacWriters}
	}
	return s
}

func (s *signer) writer(t SignType) *signWriter {
	if t == SignTypeHMACSHA256 {
		return s.hmacWriters.Get().(*signWriter)
	}
	return md5Writers.Get().(*signWriter)
}

// signParams appends the signature of params, which are in the byte order
// of their names, to dst.
func (s *signer) signParams(dst []byte, params []param, t SignType) []byte {
	w := s.writer(t)
	defer w.release()
	for _, p := range params {
		switch {
		case p.isNum:
			w.pairInt(p.name, p.num)
		case p.value != "":
			w.pair(p.name, p.value)
		}
	}
	return w.finish(dst, s.apiKey)
}

// verify checks the sign of fields (sorted by name) against the signature
// of all the others, every field received, unknown ones included, in one
// pass and in constant time. A missing sign is a mismatch. Fields that pass
// are also checked to be unambiguous (checkUnambiguous), in the same pass.
func (s *signer) verify(fields fieldList, t SignType) error {
	w := s.writer(t)
	defer w.release()
	var got, regrouped string
	for _, f := range fields {
		switch {
		case f.name == "sign":
			got = f.value
		case f.value != "":
			if regrouped == "" && regroupable(f.value) {
				regrouped = f.name
			}
			w.pair(f.name, f.value)
		}
	}
	var dst [64]byte
	want := w.finish(dst[:0], s.apiKey)
	switch {
	case got == "":
		return fmt.Errorf("%w: the message carries no sign", ErrSignatureMismatch)
	case !hmac.Equal(want, []byte(got)):
		return fmt.Errorf("%w (%s)", ErrSignatureMismatch, t)
	case regrouped != "":
		return fmt.Errorf("%w: field %s holds text that could be another signed field", ErrMalformed, shortName(regrouped))
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
func checkUnambiguous(fields fieldList) (string, bool) {
	for _, f := range fields {
		if f.name != "sign" && regroupable(f.value) {
			return f.name, false
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
