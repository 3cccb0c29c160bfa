package powershell

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
)

// A tokenizer for the subset of PowerShell this package emits, written after
// the PowerShell tokenizer's rules (tokenizer.cs): the single-quote
// characters are ' U+2018 U+2019 U+201A U+201B and two in a row are one
// literal quote (the second is kept); the double-quote characters are
// " U+201C U+201D U+201E; # starts a comment at the start of a token;
// <# #> is a block comment. It is deliberately strict: anything it does not
// understand becomes a word, which the tests then reject as unknown code.

type tokenKind int

const (
	tkWord     tokenKind = iota // command, parameter, operator, number, member access
	tkSingle                    // single-quoted string; val is the decoded value
	tkDouble                    // double-quoted (expandable) string; text is raw
	tkVar                       // $name; val is the name
	tkSubexpr                   // $( opening a subexpression
	tkSplat                     // @name
	tkChar                      // [char]0xNNNN; val is the one UTF-16 unit
	tkType                      // [Type] literal other than a [char] cast with hex
	tkLParen                    // (
	tkRParen                    // )
	tkLBrace                    // {
	tkRBrace                    // }
	tkAtBrace                   // @{
	tkAtParen                   // @(
	tkPlus                      // +
	tkPunct                     // = ; | ,
	tkBacktick                  // ` outside strings (escape or line continuation)
	tkComment                   // # line comment or <# #> block comment
	tkNewline                   // end of line
)

func (k tokenKind) String() string {
	return [...]string{"word", "single", "double", "var", "subexpr", "splat", "char", "type",
		"(", ")", "{", "}", "@{", "@(", "+", "punct", "backtick", "comment", "newline"}[k]
}

type psToken struct {
	kind tokenKind
	text string // source text
	val  string // decoded value (tkSingle, tkVar, tkSplat); UTF-16 unit as string for tkChar
	unit uint16 // tkChar
	line int
	// vars and subexprs found inside a double-quoted string
	innerVars     []string
	innerSubexprs int
}

func isSingleQuoteChar(r rune) bool {
	return r == '\'' || r == '\u2018' || r == '\u2019' || r == '\u201A' || r == '\u201B'
}

func isDoubleQuoteChar(r rune) bool {
	return r == '"' || r == '\u201C' || r == '\u201D' || r == '\u201E'
}

func isVarChar(r rune) bool {
	return r == '_' || r == '?' || r == ':' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordEnd reports the characters that end a bare word.
func wordEnd(r rune) bool {
	return unicode.IsSpace(r) || isSingleQuoteChar(r) || isDoubleQuoteChar(r) ||
		strings.ContainsRune("$@()[]{};|,+=`", r)
}

func tokenize(src string) ([]psToken, error) {
	rs := []rune(src)
	var toks []psToken
	line := 1
	i := 0
	peek := func(j int) rune {
		if j < len(rs) {
			return rs[j]
		}
		return 0
	}
	emit := func(kind tokenKind, start int, val string) {
		toks = append(toks, psToken{kind: kind, text: string(rs[start:i]), val: val, line: line})
	}
	for i < len(rs) {
		r := rs[i]
		start := i
		switch {
		case r == '\r' || r == '\n':
			if r == '\r' && peek(i+1) == '\n' {
				i++
			}
			i++
			emit(tkNewline, start, "")
			line++
		case r == ' ' || r == '\t':
			i++
		case r == '<' && peek(i+1) == '#':
			end := i + 2
			for end+1 < len(rs) && (rs[end] != '#' || rs[end+1] != '>') {
				end++
			}
			if end+1 >= len(rs) {
				return nil, fmt.Errorf("line %d: unterminated block comment", line)
			}
			i = end + 2
			emit(tkComment, start, "")
			line += strings.Count(toks[len(toks)-1].text, "\n")
		case r == '#':
			for i < len(rs) && rs[i] != '\r' && rs[i] != '\n' {
				i++
			}
			emit(tkComment, start, "")
		case isSingleQuoteChar(r):
			val, next, err := scanSingle(rs, i+1)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			i = next
			emit(tkSingle, start, val)
			line += strings.Count(val, "\n")
		case isDoubleQuoteChar(r):
			tok, next, err := scanDouble(rs, i+1)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", line, err)
			}
			i = next
			tok.text, tok.line = string(rs[start:i]), line
			toks = append(toks, tok)
			line += strings.Count(tok.text, "\n")
		case r == '$':
			switch n := peek(i + 1); {
			case n == '(':
				i += 2
				emit(tkSubexpr, start, "")
			case n == '{':
				end := i + 2
				for end < len(rs) && rs[end] != '}' {
					end++
				}
				i = min(end+1, len(rs))
				emit(tkVar, start, string(rs[start+2:end]))
			case n == '$' || n == '^' || n == '?':
				i += 2
				emit(tkVar, start, string(n))
			case isVarChar(n):
				i++
				for i < len(rs) && isVarChar(rs[i]) {
					i++
				}
				emit(tkVar, start, string(rs[start+1:i]))
			default:
				i++
				emit(tkWord, start, "")
			}
		case r == '@':
			switch n := peek(i + 1); {
			case n == '{':
				i += 2
				emit(tkAtBrace, start, "")
			case n == '(':
				i += 2
				emit(tkAtParen, start, "")
			case isVarChar(n):
				i++
				for i < len(rs) && isVarChar(rs[i]) {
					i++
				}
				emit(tkSplat, start, string(rs[start+1:i]))
			default:
				i++
				emit(tkWord, start, "")
			}
		case r == '[':
			end := i + 1
			for end < len(rs) && rs[end] != ']' && rs[end] != '\n' {
				end++
			}
			if end == len(rs) || rs[end] != ']' {
				return nil, fmt.Errorf("line %d: unterminated type literal", line)
			}
			typeName := string(rs[i+1 : end])
			i = end + 1
			if strings.EqualFold(typeName, "char") && peek(i) == '0' && (peek(i+1) == 'x' || peek(i+1) == 'X') {
				hexStart := i + 2
				j := hexStart
				for j < len(rs) && strings.ContainsRune("0123456789abcdefABCDEF", rs[j]) {
					j++
				}
				n, err := strconv.ParseUint(string(rs[hexStart:j]), 16, 16)
				if err != nil || j-hexStart != 4 {
					return nil, fmt.Errorf("line %d: bad [char] literal %q", line, string(rs[start:j]))
				}
				i = j
				toks = append(toks, psToken{kind: tkChar, text: string(rs[start:i]), unit: uint16(n), line: line})
				continue
			}
			emit(tkType, start, typeName)
		case r == '(':
			i++
			emit(tkLParen, start, "")
		case r == ')':
			i++
			emit(tkRParen, start, "")
		case r == '{':
			i++
			emit(tkLBrace, start, "")
		case r == '}':
			i++
			emit(tkRBrace, start, "")
		case r == '+':
			i++
			emit(tkPlus, start, "")
		case strings.ContainsRune("=;|,", r):
			i++
			emit(tkPunct, start, "")
		case r == '`':
			i = min(i+2, len(rs))
			emit(tkBacktick, start, "")
			if strings.ContainsAny(toks[len(toks)-1].text, "\r\n") {
				line++
			}
		default:
			// A bare word; # inside a word does not start a comment.
			for i < len(rs) && !wordEnd(rs[i]) {
				i++
			}
			emit(tkWord, start, "")
		}
	}
	return toks, nil
}

// scanSingle reads a single-quoted string body starting at i (after the
// opening quote) and returns its value and the index after the closing quote.
func scanSingle(rs []rune, i int) (string, int, error) {
	var b strings.Builder
	for i < len(rs) {
		c := rs[i]
		if isSingleQuoteChar(c) {
			if i+1 < len(rs) && isSingleQuoteChar(rs[i+1]) {
				b.WriteRune(rs[i+1]) // the first quote escapes the second
				i += 2
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteRune(c)
		i++
	}
	return "", 0, fmt.Errorf("unterminated single-quoted string")
}

// scanDouble reads a double-quoted string body, noting the variables and
// subexpressions PowerShell would expand in it.
func scanDouble(rs []rune, i int) (psToken, int, error) {
	tok := psToken{kind: tkDouble}
	for i < len(rs) {
		c := rs[i]
		switch {
		case c == '`':
			i += 2
			continue
		case isDoubleQuoteChar(c):
			if i+1 < len(rs) && isDoubleQuoteChar(rs[i+1]) {
				i += 2
				continue
			}
			return tok, i + 1, nil
		case c == '$' && i+1 < len(rs):
			n := rs[i+1]
			switch {
			case n == '(':
				tok.innerSubexprs++
			case n == '{' || isVarChar(n) || n == '$' || n == '^':
				j := i + 1
				for j < len(rs) && isVarChar(rs[j]) {
					j++
				}
				tok.innerVars = append(tok.innerVars, string(rs[i+1:max(j, i+2)]))
			}
		}
		i++
	}
	return tok, 0, fmt.Errorf("unterminated double-quoted string")
}

// valueExpr is a literal value as Quote emits it: a single-quoted string, or
// a parenthesised concatenation of single-quoted strings and [char] casts
// starting with a string.
type valueExpr struct {
	value      string
	first, end int // token range [first, end)
	line       int
}

// parseValue tries to read a value expression at toks[i].
func parseValue(toks []psToken, i int) (valueExpr, bool) {
	if i >= len(toks) {
		return valueExpr{}, false
	}
	if toks[i].kind == tkSingle {
		return valueExpr{value: toks[i].val, first: i, end: i + 1, line: toks[i].line}, true
	}
	if toks[i].kind != tkLParen || i+1 >= len(toks) || toks[i+1].kind != tkSingle {
		return valueExpr{}, false
	}
	units := utf16.Encode([]rune(toks[i+1].val))
	j := i + 2
	for j+1 < len(toks) && toks[j].kind == tkPlus {
		switch next := toks[j+1]; next.kind {
		case tkSingle:
			units = append(units, utf16.Encode([]rune(next.val))...)
		case tkChar:
			units = append(units, next.unit)
		default:
			return valueExpr{}, false
		}
		j += 2
	}
	if j >= len(toks) || toks[j].kind != tkRParen {
		return valueExpr{}, false
	}
	return valueExpr{value: string(utf16.Decode(units)), first: i, end: j + 1, line: toks[i].line}, true
}

// analysis splits a token stream into literal values and code.
type analysis struct {
	values []valueExpr
	code   []psToken // tokens outside values and comments
}

func analyze(toks []psToken) analysis {
	var a analysis
	for i := 0; i < len(toks); {
		if v, ok := parseValue(toks, i); ok {
			a.values = append(a.values, v)
			i = v.end
			continue
		}
		if toks[i].kind != tkComment {
			a.code = append(a.code, toks[i])
		}
		i++
	}
	return a
}

// decodedValues lists the values in order.
func (a analysis) decodedValues() []string {
	out := make([]string, len(a.values))
	for i, v := range a.values {
		out[i] = v.value
	}
	return out
}
