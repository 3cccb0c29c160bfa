package consistency

import (
	"regexp"
	"strings"
	"testing"
)

// This file reads just enough Bicep to find the two conventions infra/main.bicep
// follows: `var appSettings = { KEY: value ... }` and
// `var serviceBusQueues = [ { name: '<queue>' ... } ]`.

// maskBicep returns src with comments blanked and string contents replaced by
// 'x' (quotes and newlines kept), so brackets and colons that remain are code.
// String interpolations `${...}` may hold nested strings and braces.
func maskBicep(src string) string {
	s := &bicepScanner{src: src, out: []byte(src)}
	s.code(false)
	return string(s.out)
}

type bicepScanner struct {
	src string
	out []byte
	i   int
}

func (s *bicepScanner) blank(from, to int, with byte) {
	for j := from; j < to && j < len(s.out); j++ {
		if s.out[j] != '\n' {
			s.out[j] = with
		}
	}
}

// code scans expressions. Inside an interpolation it returns at the `}` that
// closes it, leaving s.i on that brace.
func (s *bicepScanner) code(inInterpolation bool) {
	depth := 0
	for s.i < len(s.src) {
		rest := s.src[s.i:]
		switch {
		case strings.HasPrefix(rest, "//"):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			s.blank(s.i, s.i+end, ' ')
			s.i += end
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				end = len(rest)
			} else {
				end += 4
			}
			s.blank(s.i, s.i+end, ' ')
			s.i += end
		case strings.HasPrefix(rest, "'''"):
			// Multi-line string: no escapes, no interpolation.
			end := strings.Index(rest[3:], "'''")
			if end < 0 {
				end = len(rest) - 3
			}
			s.blank(s.i+3, s.i+3+end, 'x')
			s.i += 3 + end + 3
		case rest[0] == '\'':
			s.str()
		case rest[0] == '{':
			depth++
			s.i++
		case rest[0] == '}':
			if inInterpolation && depth == 0 {
				return
			}
			depth--
			s.i++
		default:
			s.i++
		}
	}
}

// str scans a single-quoted string starting at its opening quote.
func (s *bicepScanner) str() {
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && s.i+1 < len(s.src):
			s.blank(s.i, s.i+2, 'x')
			s.i += 2
		case c == '\'':
			s.i++
			return
		case c == '$' && s.i+1 < len(s.src) && s.src[s.i+1] == '{':
			start := s.i
			s.i += 2
			s.code(true)
			if s.i < len(s.src) {
				s.i++ // the closing brace
			}
			s.blank(start, s.i, 'x')
		default:
			s.blank(s.i, s.i+1, 'x')
			s.i++
		}
	}
}

// bicepBlock returns the text between the brackets of `var <name> = { ... }`
// (or `[ ... ]`), and whether it was found.
func bicepBlock(src, name string) (string, bool) {
	masked := maskBicep(src)
	re := regexp.MustCompile(`(?m)^var\s+` + regexp.QuoteMeta(name) + `\s*=\s*([\{\[])`)
	loc := re.FindStringSubmatchIndex(masked)
	if loc == nil {
		return "", false
	}
	open := loc[2]
	depth := 0
	for j := open; j < len(masked); j++ {
		switch masked[j] {
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
			if depth == 0 {
				return src[open+1 : j], true
			}
		}
	}
	return "", false
}

type bicepEntry struct {
	Key   string
	Value string // the rest of the line after the colon, trimmed
	Line  int    // 1-based, within the block
}

var bicepKeyRE = regexp.MustCompile(`^\s*([A-Za-z_][A-Za-z0-9_]*|'[^'\n]*')\s*:`)

// bicepEntries lists `key: value` lines of a block at the given nesting depth
// (0 = the block's own object; 1 = objects inside an array block).
func bicepEntries(block string, depth int) []bicepEntry {
	masked := maskBicep(block)
	var entries []bicepEntry
	level := 0
	offset := 0
	for n, mline := range strings.Split(masked, "\n") {
		line := block[offset : offset+len(mline)]
		offset += len(mline) + 1
		if level == depth {
			if m := bicepKeyRE.FindStringSubmatchIndex(mline); m != nil {
				key := strings.Trim(line[m[2]:m[3]], "'")
				entries = append(entries, bicepEntry{Key: key, Value: strings.TrimSpace(line[m[1]:]), Line: n + 1})
			}
		}
		for _, c := range mline {
			switch c {
			case '{', '[', '(':
				level++
			case '}', ']', ')':
				level--
			}
		}
	}
	return entries
}

// bicepAppSettings returns the keys of `var appSettings = { ... }`.
func bicepAppSettings(src string) ([]string, bool) {
	block, ok := bicepBlock(src, "appSettings")
	if !ok {
		return nil, false
	}
	var keys []string
	for _, e := range bicepEntries(block, 0) {
		keys = append(keys, e.Key)
	}
	return keys, true
}

var bicepStringRE = regexp.MustCompile(`^'([^'\\$]*)'`)

// bicepQueues returns the `name: '...'` values of `var serviceBusQueues = [ ... ]`.
func bicepQueues(src string) ([]string, bool) {
	block, ok := bicepBlock(src, "serviceBusQueues")
	if !ok {
		return nil, false
	}
	var names []string
	for _, e := range bicepEntries(block, 1) {
		if e.Key != "name" {
			continue
		}
		if m := bicepStringRE.FindStringSubmatch(e.Value); m != nil {
			names = append(names, m[1])
		}
	}
	return names, true
}

func TestMaskBicepHandlesStringsCommentsAndInterpolation(t *testing.T) {
	t.Parallel()
	src := "var a = '${x ? '}' : 'b'}{' // }\n/* { */ var b = '''\n}\n'''\nvar c = 'it\\'s {'"
	masked := maskBicep(src)
	if len(masked) != len(src) {
		t.Fatalf("mask changed the length: %d != %d", len(masked), len(src))
	}
	if strings.Count(masked, "\n") != strings.Count(src, "\n") {
		t.Fatalf("mask changed line breaks: %q", masked)
	}
	if strings.ContainsAny(masked, "{}") {
		t.Fatalf("braces inside strings or comments survived masking: %q", masked)
	}
	for _, want := range []string{"var a = ", "var b = ", "var c = "} {
		if !strings.Contains(masked, want) {
			t.Errorf("code %q lost by masking: %q", want, masked)
		}
	}
}

func TestBicepEntriesReadsTopLevelKeysOnly(t *testing.T) {
	t.Parallel()
	src := `var other = {
  NOT_THIS: 'x'
}
// var appSettings = { COMMENTED: 1 }
var appSettings = {
  // A comment: with a colon
  PLAIN: 'a'
  'Quoted__key': 'b'
  WITH_INTERPOLATION: 'https://${host}/x:${port}'
  NESTED: {
    INNER: 'c'
  }
  TERNARY: flag ? '{' : '}'
  LAST: string(json('[{"a": 1}]'))
}
var serviceBusQueues = [
  {
    name: 'one'
    window: 'P1D'
  }
  {
    // name: 'commented'
    name: 'two'
  }
]
`
	keys, ok := bicepAppSettings(src)
	if !ok {
		t.Fatal("appSettings block not found")
	}
	want := []string{"PLAIN", "Quoted__key", "WITH_INTERPOLATION", "NESTED", "TERNARY", "LAST"}
	if strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	queues, ok := bicepQueues(src)
	if !ok {
		t.Fatal("serviceBusQueues block not found")
	}
	if strings.Join(queues, ",") != "one,two" {
		t.Errorf("queues = %v, want [one two]", queues)
	}
	if _, ok := bicepBlock(src, "missing"); ok {
		t.Error("a block that does not exist was found")
	}
}
