package tablestore

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Azure Table limits (learn.microsoft.com "Understanding the Table service
// data model"). Azurite enforces none of them, so we check every entity
// before it is sent.
const (
	maxEntityBytes     = 1 << 20 // whole entity, by the service's size formula
	maxStringBytes     = 64 << 10
	maxCustomProps     = 252 // plus PartitionKey, RowKey, Timestamp
	maxKeyBytes        = 1 << 10
	maxPropertyNameLen = 255
)

// timeLayout is the service's DateTime form: UTC, 100 ns resolution.
const timeLayout = "2006-01-02T15:04:05.0000000Z"

// Edm.DateTime covers 1601-01-01 to 9999-12-31.
var (
	minEntityTime = time.Date(1601, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEntityTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

// property is one typed entity property. value is a string, bool, int32,
// int64 or time.Time. fit marks free text (reasons, details, body
// prefixes) that check cuts to Azure's limits instead of refusing.
type property struct {
	name  string
	value any
	fit   bool
}

// entity builds the JSON body of one table entity. Empty strings, zero times
// and false booleans are left out: absent reads back as the zero value, and
// Replace-mode updates drop them.
type entity struct {
	table string
	pk    string
	rk    string
	props []property
}

func newEntity(table, pk, rk string) *entity {
	return &entity{table: table, pk: pk, rk: rk}
}

func (e *entity) str(name, v string) *entity {
	if v != "" {
		e.props = append(e.props, property{name: name, value: v})
	}
	return e
}

// text adds a free-text property (reasons, details, body prefixes):
// invalid UTF-8 is replaced, and marshal cuts it on a character boundary,
// with a note saying how much was cut, when the property or the whole entity
// would exceed Azure's limits. This is the one place stored text is bounded.
func (e *entity) text(name, v string) *entity {
	if v != "" {
		e.props = append(e.props, property{name: name, value: strings.ToValidUTF8(v, "\uFFFD"), fit: true})
	}
	return e
}

func (e *entity) boolean(name string, v bool) *entity {
	if v {
		e.props = append(e.props, property{name: name, value: true})
	}
	return e
}

func (e *entity) int32(name string, v int) *entity {
	e.props = append(e.props, property{name: name, value: int32(v)})
	return e
}

func (e *entity) int64(name string, v int64) *entity {
	e.props = append(e.props, property{name: name, value: v})
	return e
}

func (e *entity) time(name string, t time.Time) *entity {
	if !t.IsZero() {
		e.props = append(e.props, property{name: name, value: t})
	}
	return e
}

// json stores v as a JSON string property, unless it is empty.
func (e *entity) json(name string, v any, empty bool) *entity {
	if empty {
		return e
	}
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain data types go in here; failing is a bug.
		panic(fmt.Sprintf("tablestore: marshal %s: %v", name, err))
	}
	return e.str(name, string(b))
}

// marshal fits free text, checks the entity against Azure's limits and
// encodes it.
func (e *entity) marshal() ([]byte, error) {
	e.fit()
	if err := e.check(); err != nil {
		return nil, err
	}
	m := make(map[string]any, 2+2*len(e.props))
	m["PartitionKey"] = e.pk
	m["RowKey"] = e.rk
	for _, p := range e.props {
		switch v := p.value.(type) {
		case int64:
			m[p.name] = strconv.FormatInt(v, 10)
			m[p.name+"@odata.type"] = "Edm.Int64"
		case time.Time:
			m[p.name] = v.UTC().Format(timeLayout)
			m[p.name+"@odata.type"] = "Edm.DateTime"
		default:
			m[p.name] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, domain.Wrap(domain.CodeInternal, err, "encode %s entity", e.table)
	}
	return b, nil
}

// check enforces Azure's limits on keys, property count, string size, time
// range and the total entity size, with the service's size formula:
// 4 + 2·len(PK+RK) + Σ(8 + 2·len(name) + size(value)).
func (e *entity) check() error {
	fail := func(format string, args ...any) error {
		return domain.Errorf(domain.CodeInvalid, "%s entity %q: %s", e.table, e.pk, fmt.Sprintf(format, args...))
	}
	if err := checkKey("PartitionKey", e.pk, false); err != nil {
		return fail("%v", err)
	}
	if err := checkKey("RowKey", e.rk, true); err != nil {
		return fail("%v", err)
	}
	if len(e.props) > maxCustomProps {
		return fail("has %d properties; Azure allows %d", len(e.props), maxCustomProps)
	}
	size := 4 + utf16Bytes(e.pk) + utf16Bytes(e.rk)
	seen := make(map[string]bool, len(e.props))
	for _, p := range e.props {
		if p.name == "" || len(p.name) > maxPropertyNameLen || seen[p.name] {
			return fail("property name %q is empty, too long or repeated", p.name)
		}
		seen[p.name] = true
		size += 8 + utf16Bytes(p.name)
		switch v := p.value.(type) {
		case string:
			n := utf16Bytes(v)
			if !utf8.ValidString(v) {
				return fail("property %s is not valid UTF-8", p.name)
			}
			if n > maxStringBytes {
				return fail("property %s is %d bytes (UTF-16); Azure allows %d", p.name, n, maxStringBytes)
			}
			size += n + 4
		case bool:
			size++
		case int32:
			size += 4
		case int64:
			size += 8
		case time.Time:
			if v.Before(minEntityTime) || v.After(maxEntityTime) {
				return fail("property %s: %s is outside the range Azure stores (1601-9999)", p.name, v.UTC().Format(time.RFC3339))
			}
			size += 8
		default:
			return domain.Errorf(domain.CodeInternal, "%s entity: property %s has unsupported type %T", e.table, p.name, p.value)
		}
	}
	if size > maxEntityBytes {
		return fail("is %d bytes; Azure allows %d", size, maxEntityBytes)
	}
	return nil
}

// cutNote ends a cut text; the longest note is what fitting reserves.
const cutNote = " …[cut: %d more characters]"

var maxCutNoteBytes = utf16Bytes(fmt.Sprintf(cutNote, maxEntityBytes))

// fit cuts free-text properties so each fits in maxStringBytes and the
// entity in maxEntityBytes: the largest text is cut first, so short
// reasons survive next to a long body prefix.
func (e *entity) fit() {
	for i := range e.props {
		if v, ok := e.props[i].value.(string); ok && e.props[i].fit {
			e.props[i].value = cutText(v, maxStringBytes)
		}
	}
	for over := e.size() - maxEntityBytes; over > 0; over = e.size() - maxEntityBytes {
		big, bigN := -1, 0
		for i, p := range e.props {
			if v, ok := p.value.(string); ok && p.fit && utf16Bytes(v) > bigN {
				big, bigN = i, utf16Bytes(v)
			}
		}
		if big < 0 || bigN <= maxCutNoteBytes {
			return // nothing left to cut; check reports the size
		}
		e.props[big].value = cutText(e.props[big].value.(string), max(maxCutNoteBytes, bigN-over))
	}
}

// cutText returns s if it is at most limit bytes in UTF-16, else its longest
// prefix of whole characters that, with the note, fits in limit.
func cutText(s string, limit int) string {
	n := utf16Bytes(s)
	if n <= limit {
		return s
	}
	budget := limit - maxCutNoteBytes
	used, end := 0, 0
	for i, r := range s {
		w := 2 * utf16.RuneLen(r)
		if used+w > budget {
			break
		}
		used += w
		end = i + utf8.RuneLen(r)
	}
	return s[:end] + fmt.Sprintf(cutNote, utf8.RuneCountInString(s[end:]))
}

// size is the entity's size by the service's formula (see check), for the
// properties check accepts.
func (e *entity) size() int {
	size := 4 + utf16Bytes(e.pk) + utf16Bytes(e.rk)
	for _, p := range e.props {
		size += 8 + utf16Bytes(p.name)
		switch v := p.value.(type) {
		case string:
			size += utf16Bytes(v) + 4
		case bool:
			size++
		case int32:
			size += 4
		case int64, time.Time:
			size += 8
		}
	}
	return size
}

// utf16Bytes is the size of s in UTF-16, which is how Azure counts strings.
func utf16Bytes(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return 2 * n
}

// row reads a stored entity. The first problem sticks in err, so callers
// read every field and check once.
type row struct {
	table string
	props map[string]json.RawMessage
	etag  string
	err   error
}

func decodeRow(table string, body []byte, etag string) *row {
	r := &row{table: table, etag: etag}
	if err := json.Unmarshal(body, &r.props); err != nil {
		r.err = domain.Wrap(domain.CodeInternal, err, "decode %s entity", table)
		return r
	}
	if r.etag == "" {
		r.etag = r.str("odata.etag")
	}
	return r
}

func (r *row) fail(name string, err error) {
	if r.err == nil {
		r.err = domain.Wrap(domain.CodeInternal, err, "%s entity %q: property %s", r.table, r.str("PartitionKey"), name)
	}
}

func (r *row) str(name string) string {
	raw, ok := r.props[name]
	if !ok {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		r.fail(name, err)
	}
	return s
}

func (r *row) boolean(name string) bool {
	raw, ok := r.props[name]
	if !ok {
		return false
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		r.fail(name, err)
	}
	return b
}

func (r *row) int(name string) int {
	raw, ok := r.props[name]
	if !ok {
		return 0
	}
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		r.fail(name, err)
	}
	return n
}

// int64 accepts the Edm.Int64 wire form (a string) and a plain number.
func (r *row) int64(name string) int64 {
	raw, ok := r.props[name]
	if !ok {
		return 0
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			r.fail(name, err)
		}
		return n
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		r.fail(name, err)
	}
	return n
}

func (r *row) time(name string) time.Time {
	s := r.str(name)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.fail(name, err)
	}
	return t.UTC()
}

// json decodes a JSON string property into v; absent leaves v untouched.
func (r *row) json(name string, v any) {
	s := r.str(name)
	if s == "" {
		return
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		r.fail(name, err)
	}
}

// storedTime is t as the service will hand it back: UTC, 100 ns resolution.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(100 * time.Nanosecond)
}
