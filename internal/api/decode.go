package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/grantd/grantd/internal/fault"
)

// decodeJSON decodes the request body into v. Bad JSON, a wrong type, an
// empty or oversized body and trailing data get a 400 (413 for size) that
// says what is wrong and, where it can, names the field.
func decodeJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyTooLarge(mbe.Limit)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || r.Context().Err() != nil {
			return errBodyCut
		}
		return BadRequest("request body could not be read")
	}
	return decodeBody(body, v)
}

// bodyTooLarge is the answer to a body over the limit.
func bodyTooLarge(limit int64) *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", limit)}
}

func decodeBody(body []byte, v any) error {
	// RFC 8259 8.1: a parser may ignore a byte order mark.
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(body) {
		// Decoding would replace the bytes with U+FFFD: a Latin-1
		// password would then fail as a wrong one.
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is not valid UTF-8; JSON must be sent as UTF-8"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is empty; send a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return payloadError(err)
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body has data after the JSON object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body has data after the JSON object"}
	}
	if err := checkFieldNames(body, v); err != nil {
		return err
	}
	return checkValues(body)
}

// checkFieldNames refuses what encoding/json would accept quietly at the
// top level of a body decoded into *struct v: a field given twice (the
// last would win) and a field name matching a known one only without
// regard to case ("NAME", or "ſcope" for "scope"), which another parser
// in front of grantd would read differently. Unknown fields are ignored,
// as before. body is known to be one valid JSON object.
func checkFieldNames(body []byte, v any) error {
	fields := jsonFields(reflect.TypeOf(v))
	if fields == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return payloadError(err)
		}
		key, _ := t.(string)
		if seen[key] {
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("field %s is given twice", fault.Shorten(key, 40))}
		}
		seen[key] = true
		if !slices.Contains(fields, key) {
			for _, f := range fields {
				if strings.EqualFold(f, key) {
					return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("field %s: field names are case-sensitive; use %s", fault.Shorten(key, 40), f)}
				}
			}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return payloadError(err)
		}
	}
	return nil
}

// jsonFields returns the JSON names of the fields of the struct t points
// to (nil for anything else), cached.
func jsonFields(t reflect.Type) []string {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]string)
	}
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	var names []string
	st := t.Elem()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	fieldCache.Store(t, names)
	return names
}

var fieldCache sync.Map // reflect.Type → []string

// checkValues refuses what decoding let through but no store can keep
// faithfully, naming the field: numbers beyond float64 (1e400 would be
// stored as text and fail every later read), strings or keys holding a NUL
// character, and lone UTF-16 surrogates ("\ud800" not followed by the
// low half of a pair), which encoding/json silently turns into U+FFFD: a
// password would be changed, as with invalid UTF-8. body is known to be
// valid JSON.
func checkValues(body []byte) error {
	if !bytes.Contains(body, []byte(`\u0000`)) && !hasHugeNumber(body) && loneSurrogate(body) < 0 {
		return nil // the common case, without a second decode
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var path jsonPath
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return payloadError(err)
		}
		if d, ok := tok.(json.Delim); ok {
			path.delim(d)
			continue
		}
		isKey := path.atKey()
		if isKey {
			path.key(tok.(string))
		} else {
			path.value()
		}
		problem := ""
		switch t := tok.(type) {
		case json.Number:
			if msg := numberProblem(string(t)); msg != "" {
				problem = fmt.Sprintf("the number %s %s", fault.Shorten(string(t), 40), msg)
			}
		case string:
			if i := loneSurrogate(body[start:dec.InputOffset()]); i >= 0 {
				esc := body[start:][i : i+6]
				problem = fmt.Sprintf("contains %s, half of a UTF-16 surrogate pair without the other half: it is no character (it would be read as U+FFFD); send the character itself or both halves", esc)
			} else if strings.ContainsRune(t, 0) {
				problem = "contains a NUL character (\\u0000)"
			}
		}
		if problem != "" {
			where := "field " + path.String()
			if isKey {
				where = "a field name " + path.in()
			}
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("%s: %s", where, problem)}
		}
		if !isKey {
			path.done()
		}
	}
}

// jsonPath follows where a json.Decoder's tokens are, to name a field
// ("settings.imap_port", "scope[1]").
type jsonPath struct{ frames []pathFrame }

type pathFrame struct {
	object  bool
	key     string
	index   int  // arrays: the current element
	wantKey bool // objects: the next string is a key
}

func (p *jsonPath) top() *pathFrame {
	if len(p.frames) == 0 {
		return nil
	}
	return &p.frames[len(p.frames)-1]
}

// atKey reports whether the next token is an object's key.
func (p *jsonPath) atKey() bool { f := p.top(); return f != nil && f.object && f.wantKey }

func (p *jsonPath) key(k string) { f := p.top(); f.key, f.wantKey = k, false }

// value records that a value (a scalar, or an object or array opening)
// starts.
func (p *jsonPath) value() {
	if f := p.top(); f != nil && !f.object {
		f.index++
	}
}

// done records that a value ended.
func (p *jsonPath) done() {
	if f := p.top(); f != nil && f.object {
		f.wantKey = true
	}
}

func (p *jsonPath) delim(d json.Delim) {
	switch d {
	case '{', '[':
		p.value()
		p.frames = append(p.frames, pathFrame{object: d == '{', index: -1, wantKey: true})
	default:
		p.frames = p.frames[:len(p.frames)-1]
		p.done()
		return
	}
}

// maxPathFrames bounds how much of a deep path String spells out.
const maxPathFrames = 12

// String names the value the last token belongs to; the middle of a path
// deeper than maxPathFrames is left out.
func (p *jsonPath) String() string {
	var b strings.Builder
	for i, f := range p.frames {
		if n := len(p.frames); n > maxPathFrames && i >= maxPathFrames/2 && i < n-maxPathFrames/2 {
			if i == maxPathFrames/2 {
				b.WriteString("…")
			}
			continue
		}
		if !f.object {
			fmt.Fprintf(&b, "[%d]", f.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(fault.Shorten(f.key, 40))
	}
	if b.Len() == 0 {
		return "(the body)"
	}
	return b.String()
}

// in says where a key is: "at the top level" or "in settings".
func (p *jsonPath) in() string {
	outer := jsonPath{frames: p.frames[:len(p.frames)-1]}
	if len(outer.frames) == 0 {
		return "at the top level"
	}
	return "in " + outer.String()
}

// loneSurrogate returns the offset in b of the first \u escape of a UTF-16
// surrogate that is not part of a pair (a high half not followed by an
// escaped low half, or a low half alone), or -1. b is valid JSON or a
// slice of it that starts outside a string or at a token.
func loneSurrogate(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // the escaped character, which may be a backslash
			continue
		}
		r, ok := hex4(b, i+2)
		if !ok || !utf16.IsSurrogate(r) {
			i += 5
			continue
		}
		if r >= 0xdc00 {
			return i // a low half first
		}
		if next, ok := hex4(b, i+8); ok && b[i+6] == '\\' && b[i+7] == 'u' && next >= 0xdc00 && next <= 0xdfff {
			i += 11
			continue
		}
		return i
	}
	return -1
}

// hex4 reads the four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[i:i+4]), 16, 16)
	return rune(n), err == nil
}

// maxNumberLength bounds a JSON number's text: a float64 never needs more
// than 767 significant digits.
const maxNumberLength = 800

// numberProblem says why the JSON number n cannot be stored and read back
// as sent ("" when it can): out of float64's range, so small that it reads
// back as 0, or an integer beyond 2^53, which reads back rounded.
func numberProblem(n string) string {
	f, err := strconv.ParseFloat(n, 64)
	if err != nil {
		return "is out of range"
	}
	mantissa, _, _ := strings.Cut(strings.ToLower(n), "e")
	if f == 0 && strings.ContainsAny(mantissa, "123456789") {
		return "is too small to be stored (it would read back as 0)"
	}
	if len(n) > maxNumberLength {
		// (big.Rat below is superlinear in the length.)
		return fmt.Sprintf("has more than %d characters: no number is stored that precisely", maxNumberLength)
	}
	if math.Abs(f) >= 1<<53 {
		// An integer the float64 it is stored as does not read back as
		// (9007199254740993 reads back ...992): compare exactly.
		lit, ok := new(big.Rat).SetString(n)
		if ok && lit.IsInt() {
			if back, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64)); back == nil || back.Cmp(lit) != 0 {
				return "is too large an integer to be stored exactly (integers beyond 9007199254740992 must be representable as float64)"
			}
		}
	}
	return ""
}

// hasHugeNumber reports whether body may hold a number numberProblem
// refuses: one with an exponent (a digit followed by e or E), or a run of
// 16 digits or more. It may say yes for text inside strings; the token
// walk then decides.
func hasHugeNumber(body []byte) bool {
	run := 0
	for i, c := range body {
		if c >= '0' && c <= '9' {
			if run++; run >= 16 {
				return true
			}
			continue
		}
		if (c == 'e' || c == 'E') && i > 0 && body[i-1] >= '0' && body[i-1] <= '9' {
			return true
		}
		run = 0
	}
	return false
}

func payloadError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("request body is not valid JSON (at byte %d): %s", se.Offset, se.Error())}
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("request body must be a JSON object, not %s", te.Value)}
		}
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: fmt.Sprintf("field %s must be %s, not %s", field, jsonTypeName(te.Type.String()), te.Value)}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is truncated JSON"}
	}
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidPayload, Message: "request body is not valid JSON: " + err.Error()}
}

func jsonTypeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "float"), goType == "json.Number":
		return "a number"
	case goType == "[]string":
		return "an array of strings (or one comma-separated string)"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "an object"
	}
	return goType
}
