// Package wire holds the byte-level codecs that WeChat Pay API v2 messages are
// made of: the flat XML document (<xml><name>value</name>...</xml>) and
// AES-256-ECB with PKCS#7 padding. It is shared by package wxrefund and by the
// fake server in wxrefundtest; users import neither this package nor its errors
// directly (wxrefund re-exports the sentinels).
package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxBody is the size limit for responses and notifications. Real WeChat Pay
// messages are a few KiB; the largest (a refund query with ten records and
// their coupons) stays well under 16 KiB.
const MaxBody = 64 << 10

var (
	// ErrMalformedXML reports a body that is not a flat XML document of the
	// expected shape; wxrefund also uses it for fields that do not parse.
	ErrMalformedXML = errors.New("wxrefund: malformed message")
	// ErrTooLarge reports a body over its size limit.
	ErrTooLarge = errors.New("wxrefund: body too large")
	// ErrDecrypt reports ciphertext that cannot be decrypted.
	ErrDecrypt = errors.New("wxrefund: cannot decrypt req_info")
)

// ReadLimited reads all of r, failing with ErrTooLarge once more than limit
// bytes arrive. It never buffers more than limit+1 bytes.
func ReadLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, limit)
	}
	return b, nil
}

// Encode writes params as a flat <xml> document in sorted key order, every value
// in CDATA (a "]]>" inside a value is split across two CDATA sections, and a
// CR is written between sections as &#13;), so the same map always encodes to
// the same bytes. Keys must be XML names and values valid XML characters;
// anything else is an error, never a corrupt document.
func Encode(params map[string]string) ([]byte, error) { return EncodeRoot("xml", params) }

// EncodeRoot is Encode with another root element, such as the <root> of a
// notification's encrypted content.
func EncodeRoot(root string, params map[string]string) ([]byte, error) {
	if !isName(root) {
		return nil, fmt.Errorf("wxrefund: %q is not a valid XML element name", root)
	}
	keys := make([]string, 0, len(params))
	size := 2*len(root) + len("<></>")
	for k, v := range params {
		if !isName(k) {
			return nil, fmt.Errorf("wxrefund: %q is not a valid XML element name", k)
		}
		if !ValidText(v) {
			return nil, fmt.Errorf("wxrefund: value of %s contains characters XML cannot carry", k)
		}
		keys = append(keys, k)
		size += 2*len(k) + len(v) + len("<></><![CDATA[]]>")
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.Grow(size)
	b.WriteByte('<')
	b.WriteString(root)
	b.WriteByte('>')
	for _, k := range keys {
		b.WriteByte('<')
		b.WriteString(k)
		b.WriteByte('>')
		writeCDATA(&b, params[k])
		b.WriteString("</")
		b.WriteString(k)
		b.WriteByte('>')
	}
	b.WriteString("</")
	b.WriteString(root)
	b.WriteByte('>')
	return b.Bytes(), nil
}

// writeCDATA writes v as CDATA sections, except that each CR goes between
// them as a character reference: XML end-of-line handling would turn a
// literal CR (or CRLF) into LF, so the reader, and a signature it checks,
// would see another value.
func writeCDATA(b *bytes.Buffer, v string) {
	for {
		i := strings.IndexByte(v, '\r')
		if i < 0 {
			break
		}
		writeCDATASection(b, v[:i])
		b.WriteString("&#13;")
		v = v[i+1:]
	}
	writeCDATASection(b, v)
}

func writeCDATASection(b *bytes.Buffer, v string) {
	if v == "" {
		return
	}
	b.WriteString("<![CDATA[")
	for {
		i := strings.Index(v, "]]>")
		if i < 0 {
			break
		}
		// "]]" ends this section, ">" starts the next one.
		b.WriteString(v[:i+2])
		b.WriteString("]]><![CDATA[")
		v = v[i+2:]
	}
	b.WriteString(v)
	b.WriteString("]]>")
}

// isName accepts the ASCII subset of XML names that WeChat field names use.
func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// ValidText reports whether s is UTF-8 made only of characters XML 1.0 allows.
func ValidText(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if !(r == 0x09 || r == 0x0A || r == 0x0D ||
			r >= 0x20 && r <= 0xD7FF ||
			r >= 0xE000 && r <= 0xFFFD ||
			r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
		i += n
	}
	return true
}

// Decode parses a flat XML document whose root element is one of roots into a
// map of its children's text. It accepts CDATA or plain text values, a
// leading byte order mark, one XML declaration before everything else,
// comments and white space between elements. It rejects DOCTYPE and other
// directives, elements nested inside a child, duplicate children, a wrong
// root, trailing content and syntax errors, all as ErrMalformedXML. Error
// messages never quote the document's content.
func Decode(body []byte, roots ...string) (map[string]string, error) {
	// A UTF-8 byte order mark may precede the document (XML 1.0 §4.3.3).
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	// No CharsetReader: documents must be UTF-8 (a declared other encoding is
	// an error). No Entity map: only the five predefined entities exist.
	fields := make(map[string]string, 32)
	depth := 0 // 0 outside root, 1 inside root, 2 inside a child
	seenRoot := false
	seenMarkup := false // any token but white space, for the declaration's place
	var root, key string
	var val []byte
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, malformed("syntax error at line %d", inputLine(d))
		}
		if _, text := tok.(xml.CharData); !text {
			if _, pi := tok.(xml.ProcInst); pi && seenMarkup {
				// Only one XML declaration, and only before everything else.
				return nil, malformed("unexpected processing instruction")
			}
			seenMarkup = true
		}
		switch t := tok.(type) {
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, malformed("unexpected processing instruction")
			}
		case xml.Directive:
			return nil, malformed("DOCTYPE and other directives are not allowed")
		case xml.Comment:
			// ignored anywhere; content around it is joined
		case xml.CharData:
			if depth == 2 {
				val = append(val, t...)
			} else if len(bytes.TrimSpace(t)) != 0 {
				return nil, malformed("text outside a field")
			}
		case xml.StartElement:
			switch depth {
			case 0:
				if seenRoot {
					return nil, malformed("more than one root element")
				}
				if !oneOf(t.Name.Local, roots) || t.Name.Space != "" {
					return nil, malformed("unexpected root element")
				}
				seenRoot = true
				root = t.Name.Local
			case 1:
				if t.Name.Space != "" {
					return nil, malformed("namespaced field")
				}
				key = t.Name.Local
				if _, dup := fields[key]; dup {
					return nil, malformed("field %s appears twice", safeName(key))
				}
				val = val[:0]
			default:
				return nil, malformed("nested element in field %s", safeName(key))
			}
			depth++
		case xml.EndElement:
			// RawToken does not match end tags to start tags; do it here.
			switch depth {
			case 2:
				if t.Name.Local != key || t.Name.Space != "" {
					return nil, malformed("mismatched end tag")
				}
				if !utf8.Valid(val) {
					return nil, malformed("field %s is not UTF-8", safeName(key))
				}
				fields[key] = string(val)
			case 1:
				if t.Name.Local != root || t.Name.Space != "" {
					return nil, malformed("mismatched end tag")
				}
			default:
				return nil, malformed("unexpected end tag")
			}
			depth--
		}
	}
	if !seenRoot || depth != 0 {
		return nil, malformed("document is incomplete")
	}
	return fields, nil
}

func oneOf(s string, set []string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// safeName returns a field name fit to appear in an error: names are
// protocol vocabulary, but a hostile document could put anything there.
func safeName(s string) string {
	if len(s) > 40 || !isName(s) {
		return "(unnamed)"
	}
	return s
}

func inputLine(d *xml.Decoder) int {
	line, _ := d.InputPos()
	return line
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedXML, fmt.Sprintf(format, args...))
}

// NotifyKey derives the AES-256 key for refund notifications: the lowercase
// hex MD5 of the API key, whose 32 ASCII characters are the key bytes.
func NotifyKey(apiKey string) cipher.Block {
	sum := md5.Sum([]byte(apiKey))
	var k [32]byte
	hex.Encode(k[:], sum[:])
	b, err := aes.NewCipher(k[:])
	if err != nil { // unreachable: 32 bytes is a valid AES key size
		panic(err)
	}
	return b
}

// DecryptECB decrypts ct block by block and strips strict PKCS#7 padding: the
// pad length is 1..16 and every pad byte equals it. Errors say what was wrong
// with the shape, never what the key or the plaintext is.
func DecryptECB(b cipher.Block, ct []byte) ([]byte, error) {
	bs := b.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 {
		return nil, fmt.Errorf("%w: ciphertext length %d is not a positive multiple of %d", ErrDecrypt, len(ct), bs)
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += bs {
		b.Decrypt(pt[i:i+bs], ct[i:i+bs])
	}
	p := int(pt[len(pt)-1])
	bad := 0
	if p < 1 || p > bs {
		bad = 1
		p = 1
	}
	for _, c := range pt[len(pt)-p:] {
		if int(c) != p {
			bad = 1
		}
	}
	if bad != 0 {
		clear(pt)
		return nil, fmt.Errorf("%w: bad PKCS#7 padding (most often a wrong API key)", ErrDecrypt)
	}
	return pt[:len(pt)-p], nil
}

// EncryptECB pads pt with PKCS#7 and encrypts it block by block.
func EncryptECB(b cipher.Block, pt []byte) []byte {
	bs := b.BlockSize()
	p := bs - len(pt)%bs
	buf := make([]byte, len(pt)+p)
	copy(buf, pt)
	for i := len(pt); i < len(buf); i++ {
		buf[i] = byte(p)
	}
	for i := 0; i < len(buf); i += bs {
		b.Encrypt(buf[i:i+bs], buf[i:i+bs])
	}
	return buf
}

// TimeLayout is the layout of API v2 times such as refund_success_time, in
// China Standard Time.
const TimeLayout = "2006-01-02 15:04:05"

// CST is China Standard Time: UTC+8 without daylight saving. A fixed zone
// needs no tzdata on the host.
var CST = time.FixedZone("CST", 8*60*60)

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Nonce returns a nonce_str: 32 characters from crypto/rand.
func Nonce() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+ crashes the program instead)
	for i := range b {
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b[:])
}
