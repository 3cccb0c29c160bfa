package powershell

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                   "''",
		"abc":                "'abc'",
		"O'Brien":            "'O''Brien'",
		"'":                  "''''",
		`$(Remove-Item C:\)`: `'$(Remove-Item C:\)'`,
		"Müller":             "('M' + [char]0x00FC + 'ller')",
		"ü":                  "('' + [char]0x00FC)",
		"😀":                  "('' + [char]0xD83D + [char]0xDE00)",
		"‘x’":                "('' + [char]0x2018 + 'x' + [char]0x2019)",
		"‚‛":                 "('' + [char]0x201A + [char]0x201B)",
		"a\nb":               "('a' + [char]0x000A + 'b')",
		"\x00":               "('' + [char]0x0000)",
		"\xff":               "('' + [char]0xFFFD)",
		"\u00a0":             "('' + [char]0x00A0)",
	}
	for in, want := range cases {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestTokenizerFollowsPowerShell pins the tokenizer to PowerShell's rules,
// so that the other tests' verdicts mean something.
func TestTokenizerFollowsPowerShell(t *testing.T) {
	t.Parallel()
	// A raw typographic quote ends a single-quoted string, as in PowerShell.
	toks, err := tokenize("Write-Host 'abc’; Remove-Item C:\\ #'")
	if err != nil {
		t.Fatal(err)
	}
	a := analyze(toks)
	if len(a.values) != 1 || a.values[0].value != "abc" {
		t.Fatalf("values = %q, want [abc]", a.decodedValues())
	}
	if !hasWord(a.code, "Remove-Item") {
		t.Error("tokenizer missed the command after a typographic closing quote")
	}
	// Two quote characters of any kind are one literal quote (the second kept).
	toks, err = tokenize("'it''s ‘’ x’")
	if err != nil {
		t.Fatal(err)
	}
	if got := analyze(toks).decodedValues(); len(got) != 1 || got[0] != "it's ’ x" {
		t.Errorf("doubled quotes decoded to %q", got)
	}
	// Double-quoted strings expand; the tokenizer must see what they expand.
	toks, err = tokenize("Write-Host “$(calc) $env:USERNAME”")
	if err != nil {
		t.Fatal(err)
	}
	code := analyze(toks).code
	if len(code) != 2 || code[1].kind != tkDouble || code[1].innerSubexprs != 1 ||
		len(code[1].innerVars) != 1 || code[1].innerVars[0] != "env:USERNAME" {
		t.Errorf("double-quoted string tokens = %+v", code)
	}
	// Comments hide code; a word with # inside is not a comment.
	toks, err = tokenize("<# a\r\n #> x#y # $(calc)\r\n$z")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, tok := range toks {
		kinds = append(kinds, tok.kind.String()+":"+tok.text)
	}
	want := []string{"comment:<# a\r\n #>", "word:x#y", "comment:# $(calc)", "newline:\r\n", "var:$z"}
	if strings.Join(kinds, "|") != strings.Join(want, "|") {
		t.Errorf("tokens = %q, want %q", kinds, want)
	}
	// A concatenation decodes to the joined value, surrogate pairs included.
	toks, err = tokenize("('M' + [char]0x00FC + 'ller' + [char]0xD83D + [char]0xDE00)")
	if err != nil {
		t.Fatal(err)
	}
	if got := analyze(toks).decodedValues(); len(got) != 1 || got[0] != "Müller😀" {
		t.Errorf("concatenation decoded to %q", got)
	}
	for _, bad := range []string{"'open", "\"open", "<# open", "[char]0x12"} {
		if _, err := tokenize(bad); err == nil {
			t.Errorf("tokenize(%q) accepted malformed input", bad)
		}
	}
}

func hasWord(toks []psToken, w string) bool {
	for _, tok := range toks {
		if tok.kind == tkWord && tok.text == w {
			return true
		}
	}
	return false
}

// FuzzQuote checks that Quote(s), placed in a command between other code,
// is one ASCII literal value that decodes to exactly s and leaves the code
// around it intact.
func FuzzQuote(f *testing.F) {
	for _, s := range []string{
		"", "'", "''", "O'Brien", `O'Brien "$(Remove-Item C:\)"`,
		`482913057@eu.teams.videosrv.net'; Remove-Item -Recurse C:\ #`,
		"‘ ’ ‚ ‛ “ ” $ ` @ ; | & < > #>", "<# #> # $x ${x} @x @{ @(",
		"Müller 株式会社 😀", "\x00\r\n\t\u0085\u2028", "\xff\xfe", "\xed\xa0\x80",
		"ü", "'‘", "’'", "a`", "`'", "\uFEFF", "\U0010FFFF",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		for i := 0; i < len(q); i++ {
			if q[i] < 0x20 || q[i] > 0x7e {
				t.Fatalf("Quote(%q) = %q has byte 0x%02X", s, q, q[i])
			}
		}
		toks, err := tokenize("Write-Host " + q + "; $after # end")
		if err != nil {
			t.Fatalf("Quote(%q) = %s does not tokenize: %v", s, q, err)
		}
		a := analyze(toks)
		if len(a.values) != 1 {
			t.Fatalf("Quote(%q) = %s gives %d values", s, q, len(a.values))
		}
		if want := string([]rune(s)); a.values[0].value != want {
			t.Fatalf("Quote(%q) = %s decodes to %q", s, q, a.values[0].value)
		}
		var code []string
		for _, tok := range a.code {
			code = append(code, tok.text)
		}
		if got := strings.Join(code, " "); got != "Write-Host ; $after" {
			t.Fatalf("Quote(%q) = %s changes the surrounding code to %q", s, q, got)
		}
	})
}
