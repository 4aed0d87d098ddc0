package wxrefund

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"
)

// This file is the XML codec of WeChat Pay API v2 messages. Every v2 message
// is a flat document: one root element (<xml>, or <root> for the decrypted
// content of a notification) whose children each hold text, written plain
// or as CDATA. See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_2
// (protocol rules) and the request and answer samples of each API page.
//
// The decoder is a scanner for exactly that shape, not a general XML parser:
// it reads what encoding/xml reads for such documents, with the same
// character, entity, CDATA, comment and line-ending rules (a differential fuzz
// target, FuzzDecodeFlatMatchesEncodingXML, holds the two together), and
// refuses everything else. Decoded values are substrings of the document
// (one copy of the body, or the body itself where nobody can change it)
// wherever they need no unescaping, so a document costs a few allocations,
// not one per token.

// maxBody is the size limit for answers and notifications. Real WeChat Pay
// messages are a few KiB; the largest (a refund query with ten records and
// their coupons) stays well under 16 KiB.
const maxBody = 64 << 10

// readLimited reads all of r, failing with ErrBodyTooLarge once more than
// limit bytes arrive. It never buffers more than limit+1 bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (limit %d bytes)", ErrBodyTooLarge, limit)
	}
	return b, nil
}

// field is one child element of a flat document.
type field struct{ name, value string }

// fieldList is a document's fields sorted by name (byte order, the order of
// the string-to-sign), each name once.
type fieldList []field

// toMap returns the fields as a map, for the Raw fields of the answers.
func (l fieldList) toMap() map[string]string {
	m := make(map[string]string, len(l))
	for _, f := range l {
		m[f.name] = f.value
	}
	return m
}

// decodeFlat decodes a flat document whose root element is one of roots. It
// accepts a leading UTF-8 byte order mark, one XML declaration before
// everything else (version 1.0, encoding UTF-8), comments, and white space
// between elements; values may be text (with the five predefined entities
// and character references) or CDATA sections, or several of them. It
// refuses, as ErrMalformed: a document that is not UTF-8, DOCTYPE and other
// directives, other processing instructions, attributes, names outside
// [A-Za-z_][A-Za-z0-9_.-]*, elements nested in a field, duplicate fields, a
// wrong or second root, text outside fields, and anything incomplete. Error
// messages give a byte offset, never the document's content.
func decodeFlat(body []byte, roots ...string) (fieldList, error) {
	return decodeString(string(body), roots)
}

// decodeOwned is decodeFlat for a body that nobody modifies while the fields
// are in use: an answer's body, which call reads into a buffer of its own
// and never writes again, or a notification's outer document, whose fields
// are dropped before DecryptNotify returns. The fields are substrings of
// body itself, which saves copying it.
func decodeOwned(body []byte, roots ...string) (fieldList, error) {
	if len(body) == 0 {
		return decodeString("", roots)
	}
	return decodeString(unsafe.String(&body[0], len(body)), roots)
}

func decodeString(body string, roots []string) (fieldList, error) {
	body = strings.TrimPrefix(body, "\xef\xbb\xbf") // XML 1.0 §4.3.3
	if !utf8.ValidString(body) {
		return nil, fmt.Errorf("%w: the document is not UTF-8", ErrMalformed)
	}
	d := scanner{s: body}
	// A field takes two "<" (one if self-closing, which is rare enough to
	// leave to append).
	d.fields = make(fieldList, 0, strings.Count(d.s, "<")/2+1)
	if err := d.document(roots); err != nil {
		return nil, err
	}
	sortFields(d.fields)
	for i := 1; i < len(d.fields); i++ {
		if d.fields[i].name == d.fields[i-1].name {
			return nil, fmt.Errorf("%w: field %s appears twice", ErrMalformed, shortName(d.fields[i].name))
		}
	}
	return d.fields, nil
}

// sortFields sorts fields by name, in byte order. It is a radix sort on
// seven-byte chunks of the names: each pass sorts plain integers (a chunk
// and the field's position), which is several times faster than comparing
// strings through a function, and only runs of names that share a chunk go
// on to the next one. Documents of more than 256 fields, or names that share
// more than 63 bytes, fall back to a comparison sort.
func sortFields(fields fieldList) {
	if len(fields) > 256 {
		slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
		return
	}
	sc := sortPool.Get().(*sortScratch)
	defer sortPool.Put(sc)
	order := sc.order[:len(fields)]
	for i := range order {
		order[i] = uint8(i)
	}
	sortRun(fields, order, 0, &sc.keys)
	// Apply the order in place, one cycle of the permutation at a time:
	// the field at position i moves from order[i].
	done := sc.done[:len(fields)]
	clear(done)
	for i := range order {
		if done[i] {
			continue
		}
		tmp := fields[i]
		j := i
		for {
			done[j] = true
			k := int(order[j])
			if k == i {
				fields[j] = tmp
				break
			}
			fields[j] = fields[k]
			j = k
		}
	}
}

// sortScratch is sortFields' working memory, pooled rather than on the
// stack: 2.5 KiB frames made every decode grow its goroutine's stack.
type sortScratch struct {
	keys  [256]uint64
	order [256]uint8
	done  [256]bool
}

var sortPool = sync.Pool{New: func() any { return new(sortScratch) }}

// sortRun sorts order (positions into fields) by the names from byte off.
func sortRun(fields fieldList, order []uint8, off int, keys *[256]uint64) {
	if off > 63 {
		slices.SortFunc(order, func(a, b uint8) int { return strings.Compare(fields[a].name[off:], fields[b].name[off:]) })
		return
	}
	k := keys[:len(order)]
	for j, i := range order {
		k[j] = nameChunk(fields[i].name, off)<<8 | uint64(i)
	}
	slices.Sort(k)
	for j := range k {
		order[j] = uint8(k[j])
	}
	// Names equal over this chunk are sorted on by the next one, unless
	// none goes on past it: then they are the same name (duplicates), and
	// stay adjacent. The recursion reuses keys[:end-start], which this loop
	// has read already: it reads on from k[end].
	for start := 0; start < len(k); {
		end := start + 1
		for end < len(k) && k[end]>>8 == k[start]>>8 {
			end++
		}
		if end-start > 1 && slices.ContainsFunc(order[start:end], func(i uint8) bool { return len(fields[i].name) > off+7 }) {
			sortRun(fields, order[start:end], off+7, keys)
		}
		start = end
	}
}

// nameChunk is name[off:off+7] as a big-endian integer, zero-padded: field
// names hold no zero byte, so a name that ends sorts before its extensions.
func nameChunk(name string, off int) uint64 {
	var c uint64
	for i := off; i < off+7; i++ {
		c <<= 8
		if i < len(name) {
			c |= uint64(name[i])
		}
	}
	return c
}

// scanner walks one document held in s.
type scanner struct {
	s      string
	pos    int
	fields fieldList
	buf    []byte // joins and unescapes the values that are not one plain run
}

func (d *scanner) fail(reason string) error {
	return fmt.Errorf("%w: %s at byte %d", ErrMalformed, reason, d.pos)
}

// document reads the whole document into d.fields.
func (d *scanner) document(roots []string) error {
	const (
		outside = iota // before or after the root
		inRoot
		inField
	)
	depth := outside
	seenRoot, seenMarkup := false, false
	var root, name, value string
	joined := false // value is being built in d.buf
	for d.pos < len(d.s) {
		if depth != inField && isSpaceByte(d.s[d.pos]) {
			// White space between elements, the common text outside
			// fields; anything else there goes through text below.
			d.skipSpace()
			continue
		}
		if d.s[d.pos] != '<' || d.pos+1 < len(d.s) && d.s[d.pos+1] == '!' && strings.HasPrefix(d.s[d.pos:], "<![CDATA[") {
			var text string
			var err error
			if d.s[d.pos] == '<' {
				text, err = d.cdata()
			} else {
				text, err = d.text()
			}
			if err != nil {
				return err
			}
			switch {
			case depth == inField && value == "":
				value = text
			case depth == inField && text != "":
				if !joined {
					d.buf = append(d.buf[:0], value...)
					joined = true
				}
				d.buf = append(d.buf, text...)
			case !isSpace(text):
				return d.fail("text outside a field")
			}
			continue
		}
		start := d.pos
		d.pos++
		if d.pos == len(d.s) {
			return d.fail("document is incomplete")
		}
		switch c := d.s[d.pos]; c {
		case '!':
			if err := d.comment(); err != nil {
				return err
			}
			seenMarkup = true
		case '?':
			if seenMarkup {
				return d.fail("unexpected processing instruction")
			}
			if err := d.declaration(); err != nil {
				return err
			}
			seenMarkup = true
		case '/':
			d.pos++
			want := root
			if depth == inField {
				want = name
			}
			n, err := d.endTag(want)
			if err != nil {
				return err
			}
			switch depth {
			case inField:
				if n != name {
					return d.fail("mismatched end tag")
				}
				if joined {
					value = string(d.buf)
					joined = false
				}
				d.fields = append(d.fields, field{name, value})
				depth = inRoot
			case inRoot:
				if n != root {
					return d.fail("mismatched end tag")
				}
				depth = outside
			default:
				return d.fail("unexpected end tag")
			}
			seenMarkup = true
		default:
			n, empty, err := d.startTag()
			if err != nil {
				return err
			}
			switch depth {
			case outside:
				if seenRoot {
					d.pos = start
					return d.fail("more than one root element")
				}
				if !slices.Contains(roots, n) {
					d.pos = start
					return d.fail("unexpected root element")
				}
				seenRoot, root, depth = true, n, inRoot
				if empty {
					depth = outside
				}
			case inRoot:
				if empty {
					d.fields = append(d.fields, field{n, ""})
				} else {
					name, value, depth = n, "", inField
				}
			default:
				d.pos = start
				return d.fail("nested element in a field")
			}
			seenMarkup = true
		}
	}
	if !seenRoot || depth != outside {
		return d.fail("document is incomplete")
	}
	return nil
}

// nameClass sorts the bytes encoding/xml reads as part of a name: 1 for
// those a field name may hold ([A-Za-z0-9_.-]), 2 for the others (':' and
// every non-ASCII byte), 0 for the bytes that end a name.
var nameClass [256]uint8

func init() {
	for c := range 256 {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			nameClass[c] = 1
		case c == ':', c >= utf8.RuneSelf:
			nameClass[c] = 2
		}
	}
}

// name reads a name at d.pos: the bytes encoding/xml takes for one (ASCII
// name characters, ':' and any non-ASCII byte), which must then be an ASCII
// name without a colon, the only kind WeChat Pay uses.
func (d *scanner) name() (string, error) {
	start, s := d.pos, d.s
	i, other := start, uint8(0)
	for i < len(s) && nameClass[s[i]] != 0 {
		other |= nameClass[s[i]]
		i++
	}
	if i == start || other&2 != 0 || !isNameStart(s[start]) {
		return "", d.fail("invalid element name")
	}
	d.pos = i
	return s[start:i], nil
}

// shortName is a field name fit for an error message: names are protocol
// vocabulary, but a hostile document could send a very long one.
func shortName(n string) string {
	if len(n) > 40 {
		return "(a name of " + strconv.Itoa(len(n)) + " bytes)"
	}
	return n
}

func isNameStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }

// startTag reads "name", white space, then ">" or "/>", after a "<".
// Attributes are refused: WeChat Pay's documents have none.
func (d *scanner) startTag() (name string, empty bool, err error) {
	if name, err = d.name(); err != nil {
		return "", false, err
	}
	if d.pos < len(d.s) && d.s[d.pos] == '>' { // the usual case
		d.pos++
		return name, false, nil
	}
	d.skipSpace()
	switch {
	case strings.HasPrefix(d.s[d.pos:], ">"):
		d.pos++
	case strings.HasPrefix(d.s[d.pos:], "/>"):
		d.pos += 2
		empty = true
	case d.pos == len(d.s):
		return "", false, d.fail("document is incomplete")
	default:
		return "", false, d.fail("attributes or junk in a tag")
	}
	return name, empty, nil
}

// endTag reads "name", white space, ">" after a "</"; want is the name it
// should be, checked first as a fast path.
func (d *scanner) endTag(want string) (string, error) {
	if rest := d.s[d.pos:]; len(rest) > len(want) && rest[len(want)] == '>' && rest[:len(want)] == want {
		d.pos += len(want) + 1
		return want, nil
	}
	name, err := d.name()
	if err != nil {
		return "", err
	}
	d.skipSpace()
	if d.pos == len(d.s) || d.s[d.pos] != '>' {
		return "", d.fail("bad end tag")
	}
	d.pos++
	return name, nil
}

// comment reads "<!--" ... "-->" from the "!". As in encoding/xml, the
// first "--" must end the comment. Any other "<!" (DOCTYPE, ENTITY and the
// like) is refused.
func (d *scanner) comment() error {
	if !strings.HasPrefix(d.s[d.pos:], "!--") {
		return d.fail("DOCTYPE and other directives are not allowed")
	}
	d.pos += len("!--")
	i := strings.Index(d.s[d.pos:], "--")
	switch {
	case i < 0:
		d.pos = len(d.s)
		return d.fail("unterminated comment")
	case d.pos+i+2 >= len(d.s) || d.s[d.pos+i+2] != '>':
		d.pos += i
		return d.fail(`"--" inside a comment`)
	}
	d.pos += i + len("-->")
	return nil
}

// declaration reads an XML declaration from the "?": the only processing
// instruction allowed, and only before everything else.
func (d *scanner) declaration() error {
	d.pos++
	start := d.pos
	for d.pos < len(d.s) && xmlNameByte(d.s[d.pos]) {
		d.pos++
	}
	if d.s[start:d.pos] != "xml" {
		d.pos = start
		return d.fail("unexpected processing instruction")
	}
	d.skipSpace()
	end := strings.Index(d.s[d.pos:], "?>")
	if end < 0 {
		return d.fail("unterminated XML declaration")
	}
	if !validDeclaration(d.s[d.pos : d.pos+end]) {
		return d.fail("unsupported XML declaration")
	}
	d.pos += end + len("?>")
	return nil
}

// validDeclaration reports whether the content of an XML declaration (after
// "<?xml" and white space, before "?>") is a list of version="1.0",
// encoding="UTF-8" (any case) and standalone="yes" or "no", each at most
// once, in either quotes, separated by white space: the declarations a UTF-8
// document can carry.
func validDeclaration(s string) bool {
	var seen [3]bool // version, encoding, standalone
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return false
		}
		name := strings.TrimRight(s[:eq], " \t\r\n")
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		if s == "" || (s[0] != '"' && s[0] != '\'') {
			return false
		}
		end := strings.IndexByte(s[1:], s[0])
		if end < 0 {
			return false
		}
		value := s[1 : 1+end]
		s = s[2+end:]
		i, ok := -1, false
		switch name {
		case "version":
			i, ok = 0, value == "1.0"
		case "encoding":
			i, ok = 1, strings.EqualFold(value, "utf-8")
		case "standalone":
			i, ok = 2, value == "yes" || value == "no"
		}
		if !ok || seen[i] {
			return false
		}
		seen[i] = true
		if trimmed := strings.TrimLeft(s, " \t\r\n"); trimmed != s || s == "" {
			s = trimmed
			continue
		}
		return false // two pseudo-attributes without white space between
	}
	return true
}

// The bytes at which the plain-run loops of text and cdata stop to look
// closer: control characters (tab and LF are plain), CR (line ends are
// normalized), the start of U+FFFE and U+FFFF, "]" (of "]]>"), and for text
// "&" and "<".
var textStop, cdataStop [256]bool

func init() {
	for c := range 0x20 {
		textStop[c] = c != '\t' && c != '\n'
	}
	textStop[0xEF], textStop[']'] = true, true
	cdataStop = textStop
	textStop['&'], textStop['<'] = true, true
}

// Eight-byte words of one repeated byte, for nextStop.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// nextStop returns the index of the first byte at or after i that stop
// marks (len(s) if none). It tests eight bytes at a time for the stop bytes
// (any byte below 0x20, "]", 0xEF, and for text also "&" and "<") and looks
// at single bytes only in words that hold one: a value is mostly plain
// letters, and a notification's req_info is a kilobyte of base64.
func nextStop(s string, i int, stop *[256]bool, text bool) int {
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// hasLess(w, n) is non-zero exactly when a byte of w is below n
		// (n <= 0x80); a byte equal to c is one below 1 in w^(c*ones).
		bad := hasLess(w, 0x20) | hasLess(w^(']'*ones), 1) | hasLess(w^(0xEF*ones), 1)
		if text {
			bad |= hasLess(w^('&'*ones), 1) | hasLess(w^('<'*ones), 1)
		}
		if bad != 0 {
			break
		}
	}
	for i < len(s) && !stop[s[i]] {
		i++
	}
	return i
}

func hasLess(w, n uint64) uint64 { return (w - n*ones) & ^w & highs }

// text reads character data up to the next "<" (or the end). A plain run is
// returned as a substring of the document; a run with entities, character
// references or carriage returns is unescaped (CR and CRLF become LF, as in
// encoding/xml) into a new string.
func (d *scanner) text() (string, error) {
	start, s := d.pos, d.s
	i := start
	for {
		i = nextStop(s, i, &textStop, true)
		if i == len(s) || s[i] == '<' {
			d.pos = i
			return s[start:i], nil
		}
		switch c := s[i]; {
		case c == '&' || c == '\r':
			end := strings.IndexByte(s[i:], '<')
			if end < 0 {
				end = len(s)
			} else {
				end += i
			}
			d.pos = end
			return d.unescape(s[start:end], start)
		case c == ']' && strings.HasPrefix(s[i:], "]]>"):
			d.pos = i
			return "", d.fail(`"]]>" outside CDATA`)
		case !xmlCharByte(s, i):
			d.pos = i
			return "", d.fail("character not allowed in XML")
		}
		i++
	}
}

// unescape is text's slow path, for a run at offset start.
func (d *scanner) unescape(run string, start int) (string, error) {
	var out []byte
	var b0, b1 byte // the two raw bytes before, for "]]>" and CRLF
	for i := 0; i < len(run); {
		c := run[i]
		switch {
		case c == '&':
			r, n := entity(run[i:])
			if n == 0 || !xmlChar(r) {
				d.pos = start + i
				return "", d.fail("invalid character entity")
			}
			out = utf8.AppendRune(out, r)
			i += n
			b0, b1 = 0, 0
			continue
		case c == '>' && b0 == ']' && b1 == ']':
			d.pos = start + i
			return "", d.fail(`"]]>" outside CDATA`)
		case !xmlCharByte(run, i):
			d.pos = start + i
			return "", d.fail("character not allowed in XML")
		}
		switch {
		case c == '\r':
			out = append(out, '\n')
		case c == '\n' && b1 == '\r':
		default:
			out = append(out, c)
		}
		b0, b1 = b1, c
		i++
	}
	return string(out), nil
}

// entity decodes the entity or character reference at the start of s
// ("&lt;", "&#38;", "&#x26;"), returning the rune and the bytes it took, or
// n == 0 when s does not start with one. As in encoding/xml, a reference to
// a surrogate yields U+FFFD; whether the rune is allowed is the caller's
// check.
func entity(s string) (r rune, n int) {
	for _, e := range [...]struct {
		name string
		r    rune
	}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&apos;", '\''}, {"&quot;", '"'}} {
		if strings.HasPrefix(s, e.name) {
			return e.r, len(e.name)
		}
	}
	if !strings.HasPrefix(s, "&#") {
		return 0, 0
	}
	base, i := 10, 2
	if strings.HasPrefix(s[2:], "x") {
		base, i = 16, 3
	}
	j := i
	for j < len(s) && (s[j] >= '0' && s[j] <= '9' || base == 16 && (s[j]|0x20 >= 'a' && s[j]|0x20 <= 'f')) {
		j++
	}
	if j == i || j == len(s) || s[j] != ';' {
		return 0, 0
	}
	v, err := strconv.ParseUint(s[i:j], base, 64)
	if err != nil || v > utf8.MaxRune {
		return 0, 0
	}
	if r = rune(v); r >= 0xD800 && r <= 0xDFFF {
		r = utf8.RuneError
	}
	return r, j + 1
}

// cdata reads a CDATA section at d.pos ("<![CDATA[" ... "]]>").
func (d *scanner) cdata() (string, error) {
	d.pos += len("<![CDATA[")
	start, s := d.pos, d.s
	i, crlf := start, false
	for {
		i = nextStop(s, i, &cdataStop, false)
		if i == len(s) {
			d.pos = i
			return "", d.fail("unterminated CDATA section")
		}
		if s[i] == ']' {
			if strings.HasPrefix(s[i:], "]]>") {
				break
			}
		} else if s[i] == '\r' {
			crlf = true
		} else if !xmlCharByte(s, i) {
			d.pos = i
			return "", d.fail("character not allowed in XML")
		}
		i++
	}
	run := s[start:i]
	d.pos = i + len("]]>")
	if !crlf {
		return run, nil
	}
	// Line ends become LF, as in text.
	return strings.ReplaceAll(strings.ReplaceAll(run, "\r\n", "\n"), "\r", "\n"), nil
}

func (d *scanner) skipSpace() {
	for d.pos < len(d.s) && isSpaceByte(d.s[d.pos]) {
		d.pos++
	}
}

// isSpace reports whether s is only XML white space (space, tab, CR, LF).
func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isSpaceByte(s[i]) {
			return false
		}
	}
	return true
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// xmlNameByte reports the bytes that encoding/xml reads as part of a name.
func xmlNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-' || c >= utf8.RuneSelf
}

// isFieldName reports whether s is an ASCII XML name without a colon:
// [A-Za-z_][A-Za-z0-9_.-]*.
func isFieldName(s string) bool {
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

// xmlCharByte reports whether the byte at s[i] may appear in XML text: not a
// control character other than tab, LF and CR, and not the start of U+FFFE
// or U+FFFF (s is valid UTF-8, so there are no surrogates).
func xmlCharByte(s string, i int) bool {
	c := s[i]
	if c < 0x20 {
		return c == '\t' || c == '\n' || c == '\r'
	}
	return c != 0xEF || !strings.HasPrefix(s[i:], "\uFFFE") && !strings.HasPrefix(s[i:], "\uFFFF")
}

// xmlChar reports whether r is a character XML 1.0 allows.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// validText reports whether s is UTF-8 made only of characters XML allows.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !xmlCharByte(s, i) {
			return false
		}
	}
	return true
}

// appendCDATA appends v as CDATA sections, except that each CR goes between
// them as a character reference (XML end-of-line handling would turn a
// literal CR into LF, and the reader, and a signature it checks, would see
// another value), and a "]]>" inside v is split across two sections.
func appendCDATA(b []byte, v string) []byte {
	for v != "" {
		seg := v
		if i := strings.IndexByte(v, '\r'); i >= 0 {
			seg = v[:i]
		}
		if seg != "" {
			b = append(b, "<![CDATA["...)
			rest := seg
			for {
				i := strings.Index(rest, "]]>")
				if i < 0 {
					break
				}
				// "]]" ends this section, ">" starts the next one.
				b = append(b, rest[:i+2]...)
				b = append(b, "]]><![CDATA["...)
				rest = rest[i+2:]
			}
			b = append(b, rest...)
			b = append(b, "]]>"...)
		}
		v = v[len(seg):]
		if v != "" { // at a CR
			b = append(b, "&#13;"...)
			v = v[1:]
		}
	}
	return b
}

// appendElement appends <name>value</name>, the value as CDATA.
func appendElement(b []byte, name, value string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendCDATA(b, value)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendCDATAElement appends <name><![CDATA[v]]></name> for a v known to
// need no splitting (digits, hex).
func appendCDATAElement(b []byte, name string, v []byte) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, "><![CDATA["...)
	b = append(b, v...)
	b = append(b, "]]></"...)
	b = append(b, name...)
	return append(b, '>')
}

// encodeFlat writes params as a flat document under root, in sorted name
// order, every value in CDATA, so the same map always encodes to the same
// bytes. Names must be field names and values valid XML text; anything else
// is an error, never a corrupt document.
func encodeFlat(root string, params map[string]string) ([]byte, error) {
	if !isFieldName(root) {
		return nil, fmt.Errorf("wxrefund: %q is not a valid XML element name", root)
	}
	names := make([]string, 0, len(params))
	size := 2*len(root) + len("<></>")
	for k, v := range params {
		if !isFieldName(k) {
			return nil, fmt.Errorf("wxrefund: %q is not a valid XML element name", k)
		}
		if !validText(v) {
			return nil, fmt.Errorf("wxrefund: value of %s contains characters XML cannot carry", k)
		}
		names = append(names, k)
		size += 2*len(k) + len(v) + len("<></><![CDATA[]]>")
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = append(append(append(b, '<'), root...), '>')
	for _, k := range names {
		b = appendElement(b, k, params[k])
	}
	return append(append(append(b, "</"...), root...), '>'), nil
}
