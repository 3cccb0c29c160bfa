package powershell

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The script's own variables and splats; anything else in code is a leak.
var (
	allowedVars   = []string{"_", "ErrorActionPreference", "PSVersionTable", "null", "true", "teamsModule", "existingProvider", "providerSettings", "grantArgs", "userArgs"}
	allowedSplats = []string{"providerSettings", "grantArgs", "userArgs"}
)

func exampleParams() Params {
	return Params{
		CustomerName:   "Contoso Ltd",
		TenantID:       "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10",
		TenantKey:      "482913057@eu.teams.videosrv.net",
		InstructionURI: "https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}",
		AppIDs:         []string{"7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"},
		GeneratedAt:    time.Date(2025, 1, 15, 10, 30, 0, 0, time.UTC),
	}
}

func exampleWithUsers() Params {
	p := exampleParams()
	p.Users = []string{"alice@contoso.com", "o'brien@contoso.com"}
	return p
}

func TestScriptGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file   string
		params Params
	}{
		{"example-tenant-wide.ps1", exampleParams()},
		{"example-users.ps1", exampleWithUsers()},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			got, err := Script(tc.params)
			if err != nil {
				t.Fatalf("Script: %v", err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatalf("update golden: %v", err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run go test -update to create it): %v", err)
			}
			if got != string(want) {
				gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
				for i := range max(len(gl), len(wl)) {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("%s differs at line %d:\n got: %q\nwant: %q\n(run go test -update if intended)", path, i+1, g, w)
					}
				}
			}
			checkWellFormed(t, got)
			for i, l := range strings.Split(strings.TrimSuffix(got, "\r\n"), "\r\n") {
				if len(l) > maxLine && strings.TrimSpace(l) != tlsLine {
					t.Errorf("line %d is %d characters long: %q", i+1, len(l), l)
				}
			}
		})
	}
}

// checkWellFormed asserts the encoding rules every script must meet.
func checkWellFormed(t *testing.T, script string) {
	t.Helper()
	if strings.HasPrefix(script, "\xef\xbb\xbf") {
		t.Error("script starts with a BOM")
	}
	for i := 0; i < len(script); i++ {
		c := script[i]
		switch {
		case c >= 0x80:
			t.Fatalf("non-ASCII byte 0x%02X at offset %d", c, i)
		case c == '\r':
			if i+1 >= len(script) || script[i+1] != '\n' {
				t.Fatalf("lone CR at offset %d", i)
			}
		case c == '\n':
			if i == 0 || script[i-1] != '\r' {
				t.Fatalf("LF without CR at offset %d", i)
			}
		case c < 0x20 || c == 0x7f:
			t.Fatalf("control byte 0x%02X at offset %d", c, i)
		}
	}
	if !strings.HasSuffix(script, "\r\n") {
		t.Error("script does not end with CRLF")
	}
	toks, err := tokenize(script)
	if err != nil {
		t.Fatalf("tokenize: %v", err)
	}
	for _, tok := range analyze(toks).code {
		switch tok.kind {
		case tkSubexpr, tkDouble, tkBacktick:
			t.Errorf("line %d: %s %q in code", tok.line, tok.kind, tok.text)
		case tkVar:
			if !slices.Contains(allowedVars, tok.val) {
				t.Errorf("line %d: unexpected variable %q", tok.line, tok.text)
			}
		case tkSplat:
			if !slices.Contains(allowedSplats, tok.val) {
				t.Errorf("line %d: unexpected splat %q", tok.line, tok.text)
			}
		}
	}
}

// hostileCase pairs hostile params with a benign twin whose values have the
// same quoted lengths (so the layout is the same) and distinct contents.
type hostileCase struct {
	name   string
	params Params
}

func hostileCases() []hostileCase {
	const nasty = "‘ ’ ‚ ‛ “ ” $ ` @ ; | & < > #> <# $env:USERNAME $(calc) ''"
	base := exampleParams()
	var cases []hostileCase
	add := func(name string, mutate func(*Params)) {
		p := base
		p.Users = nil
		mutate(&p)
		cases = append(cases, hostileCase{name, p})
	}
	add("customer name subexpression", func(p *Params) {
		p.CustomerName = `O'Brien "$(Remove-Item C:\)"`
	})
	add("customer name everything", func(p *Params) {
		p.CustomerName = `O'Brien "$(Remove-Item C:\)" ` + nasty + " Müller 株式会社 😀"
	})
	add("customer name closes the header comment", func(p *Params) {
		p.CustomerName = "x #> Remove-Item C:\\ <# y #>"
	})
	add("tenant key breaks out of the quote", func(p *Params) {
		p.TenantKey = `482913057@eu.teams.videosrv.net'; Remove-Item -Recurse C:\ #`
	})
	add("tenant key typographic quotes", func(p *Params) {
		p.TenantKey = "482913057@eu.teams.videosrv.net‘; Remove-Item -Recurse C:\\ #’ ‚; calc ‛"
	})
	add("tenant key everything", func(p *Params) {
		p.TenantKey = "482913057@eu.teams.videosrv.net " + nasty
	})
	add("instruction URI", func(p *Params) {
		p.InstructionURI = "https://join.eu.videosrv.net/api/join/482913057?x='$(Remove-Item)'‘’‚‛“”$x`@;|&<>#>Müller/株式会社/😀"
	})
	add("users", func(p *Params) {
		p.Users = []string{
			"o'brien@contoso.com",
			"‘;Remove-Item-Recurse-C:\\;’$(calc)@contoso.com",
			"müller.株式会社😀@contoso.com",
			"x'@contoso.com';Remove-Item C:\\ #" + nasty,
			"averyveryveryveryveryveryveryverylongname.with.many.parts@subdomain.department.contoso.com",
		}
	})
	add("all fields", func(p *Params) {
		p.CustomerName = `O'Brien "$(Remove-Item C:\)" ` + nasty + " Müller 株式会社 😀"
		p.TenantKey = `482913057@eu.teams.videosrv.net'; Remove-Item -Recurse C:\ #` + nasty
		p.InstructionURI = "https://join.eu.videosrv.net/api/join/482913057?q='`$(x)'‘’#>"
		p.Users = []string{"o'brien@contoso.com", "üser'$(x)‘’@contoso.com"}
	})
	return cases
}

// benignTwin returns params whose every free-text value is replaced by a
// plain ASCII value of the same quoted length, with a distinct letter per
// field, and the map from benign values back to the hostile ones.
func benignTwin(p Params) (Params, map[string]string) {
	back := map[string]string{}
	fill := func(prefix string, letter byte, hostile string) string {
		n := max(len(Quote(hostile))-2-len(prefix), 1)
		b := prefix + strings.Repeat(string(letter), n)
		back[b] = hostile
		return b
	}
	q := p
	if p.CustomerName != "" {
		q.CustomerName = fill("", 'C', p.CustomerName)
	}
	q.TenantKey = fill("", 'K', p.TenantKey)
	q.InstructionURI = fill("https://", 'U', p.InstructionURI)
	q.Users = make([]string, len(p.Users))
	for i, u := range p.Users {
		q.Users[i] = fill("", "abdefghijm"[i], u)
	}
	return q, back
}

// skeleton renders tokens with values as V and the header's customer line
// removed, so two scripts compare equal exactly when only values differ.
func skeleton(t *testing.T, script, fileName string) ([]string, []string) {
	t.Helper()
	toks, err := tokenize(script)
	if err != nil {
		t.Fatalf("tokenize: %v", err)
	}
	var sk []string
	a := analyze(toks)
	vi := 0
	for i := 0; i < len(toks); {
		if vi < len(a.values) && a.values[vi].first == i {
			sk = append(sk, "V")
			i = a.values[vi].end
			vi++
			continue
		}
		text := toks[i].text
		if toks[i].kind == tkComment {
			var kept []string
			for _, l := range strings.Split(text, "\r\n") {
				if !strings.HasPrefix(l, "    Customer:   ") {
					kept = append(kept, l)
				}
			}
			text = strings.ReplaceAll(strings.Join(kept, "\r\n"), fileName, "FILE")
		}
		sk = append(sk, toks[i].kind.String()+" "+text)
		i++
	}
	return sk, a.decodedValues()
}

func TestScriptHostileValuesStayLiteral(t *testing.T) {
	t.Parallel()
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hostile, err := Script(tc.params)
			if err != nil {
				t.Fatalf("Script: %v", err)
			}
			checkWellFormed(t, hostile)

			twin, back := benignTwin(tc.params)
			benign, err := Script(twin)
			if err != nil {
				t.Fatalf("Script(benign twin): %v", err)
			}
			hSkel, hValues := skeleton(t, hostile, FileName(tc.params))
			bSkel, bValues := skeleton(t, benign, FileName(twin))
			if !slices.Equal(hSkel, bSkel) {
				for i := range min(len(hSkel), len(bSkel)) {
					if hSkel[i] != bSkel[i] {
						t.Fatalf("code differs from the benign twin at token %d: %q vs %q", i, hSkel[i], bSkel[i])
					}
				}
				t.Fatalf("code differs from the benign twin: %d vs %d tokens", len(hSkel), len(bSkel))
			}
			// Each value decodes to exactly the hostile input where the twin has its value.
			for i, bv := range bValues {
				want := bv
				if h, ok := back[bv]; ok {
					want = h
				}
				if hValues[i] != want {
					t.Errorf("value %d = %q, want %q", i, hValues[i], want)
				}
			}
			for _, h := range back {
				if !slices.Contains(hValues, h) {
					t.Errorf("value %q does not appear as a literal", h)
				}
			}
			// The customer name reaches the header comment only in sanitized form.
			if tc.params.CustomerName != "" {
				line := "    Customer:   " + commentText(tc.params.CustomerName, maxCommentName) + "\r\n"
				if !strings.Contains(hostile, line) {
					t.Errorf("header lacks the sanitized customer line %q", line)
				}
			}
		})
	}
}

func TestScriptGrantsGlobalOrUsers(t *testing.T) {
	t.Parallel()
	const (
		global  = "Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Global"
		forUser = "Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Identity "
	)
	tenantWide, err := Script(exampleParams())
	if err != nil {
		t.Fatal(err)
	}
	perUser, err := Script(exampleWithUsers())
	if err != nil {
		t.Fatal(err)
	}
	lines := func(s string) []string { return strings.Split(s, "\r\n") }

	if !slices.Contains(lines(tenantWide), global) {
		t.Error("tenant-wide script lacks an active -Global grant")
	}
	for _, l := range lines(tenantWide) {
		if strings.HasPrefix(l, forUser) {
			t.Errorf("tenant-wide script has an active per-user grant: %q", l)
		}
	}

	if slices.Contains(lines(perUser), global) {
		t.Error("per-user script has an active -Global grant")
	}
	if !slices.Contains(lines(perUser), "# "+global) {
		t.Error("per-user script lacks the commented-out -Global option")
	}
	for _, upn := range []string{"'alice@contoso.com'", "'o''brien@contoso.com'"} {
		if !slices.Contains(lines(perUser), forUser+upn) {
			t.Errorf("per-user script lacks the grant for %s", upn)
		}
		check := "Get-CsOnlineUser -Identity " + upn + " | Select-Object UserPrincipalName, TeamsVideoInteropServicePolicy"
		if !slices.Contains(lines(perUser), check) {
			t.Errorf("per-user script lacks the check for %s", upn)
		}
	}
	// Tokenized, the per-user script runs -Global nowhere.
	toks, err := tokenize(perUser)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range analyze(toks).code {
		if strings.EqualFold(tok.text, "-Global") {
			t.Errorf("line %d: -Global is active in the per-user script", tok.line)
		}
	}
}

func TestScriptLongUserUsesSplatting(t *testing.T) {
	t.Parallel()
	p := exampleParams()
	long := strings.Repeat("a", 60) + "@" + strings.Repeat("b", 30) + ".contoso.com"
	p.Users = []string{long}
	s, err := Script(p)
	if err != nil {
		t.Fatal(err)
	}
	checkWellFormed(t, s)
	for i, l := range strings.Split(s, "\r\n") {
		if len(l) > maxLine && strings.TrimSpace(l) != tlsLine {
			t.Errorf("line %d is %d characters long", i+1, len(l))
		}
	}
	for _, want := range []string{"    Identity = '" + long + "'", "Grant-CsTeamsVideoInteropServicePolicy @grantArgs",
		"Get-CsOnlineUser @userArgs | Select-Object UserPrincipalName, TeamsVideoInteropServicePolicy"} {
		if !strings.Contains(s, want+"\r\n") {
			t.Errorf("script lacks line %q", want)
		}
	}
}

func TestScriptDefaultsAndProvider(t *testing.T) {
	t.Parallel()
	p := exampleParams()
	p.ProviderName, p.PolicyName = "pexip", "pexipserviceproviderenabled"
	s, err := Script(p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Script(exampleParams())
	if err != nil {
		t.Fatal(err)
	}
	if s != want {
		t.Error("case-insensitive provider/policy names should give the canonical script")
	}

	p = exampleParams()
	p.ProviderName = "Cisco"
	s, err = Script(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"New-CsVideoInteropServiceProvider -Name 'Cisco' @providerSettings",
		"-PolicyName 'CiscoServiceProviderEnabled' -Global"} {
		if !strings.Contains(s, want) {
			t.Errorf("Cisco script lacks %q", want)
		}
	}

	p = exampleParams()
	p.AppIDs = []string{"7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", "0b8f7c2e-3a4d-4e5f-8a9b-1c2d3e4f5a6b", "7D3E6A52-1F0B-4C8E-9A3D-5B2F4E6C8A10"}
	p.Users = []string{"alice@contoso.com", "ALICE@contoso.com"}
	s, err = Script(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "    AadApplicationIds = '7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10;0b8f7c2e-3a4d-4e5f-8a9b-1c2d3e4f5a6b'\r\n") {
		t.Error("app IDs not joined with ';' and de-duplicated")
	}
	if n := strings.Count(s, "'PexipServiceProviderEnabled' -Identity 'alice@contoso.com'"); n != 1 {
		t.Errorf("duplicate user granted %d times, want 1", n)
	}
}

func TestScriptDeterministic(t *testing.T) {
	t.Parallel()
	for _, tc := range hostileCases() {
		a, errA := Script(tc.params)
		b, errB := Script(tc.params)
		if errA != nil || errB != nil || a != b {
			t.Errorf("%s: two runs differ (errors %v, %v)", tc.name, errA, errB)
		}
	}
}

func TestScriptRejects(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		mutate func(*Params)
		field  string
	}{
		{"empty tenant key", func(p *Params) { p.TenantKey = "" }, "TenantKey"},
		{"tenant key with LF", func(p *Params) { p.TenantKey = "a@b\nRemove-Item C:\\" }, "TenantKey"},
		{"tenant key with CR", func(p *Params) { p.TenantKey = "a@b\rx" }, "TenantKey"},
		{"tenant key with NUL", func(p *Params) { p.TenantKey = "a@b\x00" }, "TenantKey"},
		{"tenant key with tab", func(p *Params) { p.TenantKey = "a@b\tc" }, "TenantKey"},
		{"tenant key padded", func(p *Params) { p.TenantKey = " 482913057@eu.teams.videosrv.net" }, "TenantKey"},
		{"tenant key with NEL", func(p *Params) { p.TenantKey = "a@b\u0085c" }, "TenantKey"},
		{"tenant key too long", func(p *Params) { p.TenantKey = strings.Repeat("k", maxValueBytes+1) }, "TenantKey"},
		{"customer name with CRLF", func(p *Params) { p.CustomerName = "Contoso\r\n#> Remove-Item C:\\" }, "CustomerName"},
		{"customer name with line separator", func(p *Params) { p.CustomerName = "Contoso\u2028x" }, "CustomerName"},
		{"customer name with ESC", func(p *Params) { p.CustomerName = "Contoso\x1b[31m" }, "CustomerName"},
		{"customer name with DEL", func(p *Params) { p.CustomerName = "Contoso\x7f" }, "CustomerName"},
		{"customer name invalid UTF-8", func(p *Params) { p.CustomerName = "M\xfcller" }, "CustomerName"},
		{"empty tenant ID", func(p *Params) { p.TenantID = "" }, "TenantID"},
		{"tenant ID not a GUID", func(p *Params) { p.TenantID = "contoso.onmicrosoft.com" }, "TenantID"},
		{"tenant ID injection", func(p *Params) { p.TenantID = "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a1'" }, "TenantID"},
		{"tenant ID braces", func(p *Params) { p.TenantID = "{3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10}" }, "TenantID"},
		{"tenant ID nil GUID", func(p *Params) { p.TenantID = "00000000-0000-0000-0000-000000000000" }, "TenantID"},
		{"no app IDs", func(p *Params) { p.AppIDs = nil }, "AppIDs"},
		{"bad second app ID", func(p *Params) {
			p.AppIDs = []string{"7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", "7d3e6a52;1f0b-4c8e-9a3d-5b2f4e6c8a10"}
		}, "AppIDs[1]"},
		{"empty instruction URI", func(p *Params) { p.InstructionURI = "" }, "InstructionURI"},
		{"javascript instruction URI", func(p *Params) { p.InstructionURI = "javascript:alert(1)" }, "InstructionURI"},
		{"relative instruction URI", func(p *Params) { p.InstructionURI = "/api/join/1" }, "InstructionURI"},
		{"instruction URI with space", func(p *Params) { p.InstructionURI = "https://join.example/a b" }, "InstructionURI"},
		{"instruction URI with user info", func(p *Params) { p.InstructionURI = "https://u:p@join.example/" }, "InstructionURI"},
		{"instruction URI with LF", func(p *Params) { p.InstructionURI = "https://join.example/\n" }, "InstructionURI"},
		{"empty user", func(p *Params) { p.Users = []string{"alice@contoso.com", ""} }, "Users[1]"},
		{"user with LF", func(p *Params) { p.Users = []string{"alice@contoso.com\nRemove-Item C:\\"} }, "Users[0]"},
		{"unknown provider", func(p *Params) { p.ProviderName = "Pexip'; calc" }, "ProviderName"},
		{"mismatched policy", func(p *Params) { p.PolicyName = "CiscoServiceProviderEnabled" }, "PolicyName"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := exampleParams()
			tc.mutate(&p)
			s, err := Script(p)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Script error = %v, want *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("error names field %q, want %q (%v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error text %q does not name %s", err, tc.field)
			}
			if s != "" {
				t.Error("script returned along with an error")
			}
		})
	}
}

func TestCommentText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"#>", "<#>", "##>>", "<<##>>", "a#>b<#c", "M\u00fcller 株式会社 😀", strings.Repeat("#>", 100)} {
		got := commentText(s, maxCommentName)
		if strings.Contains(got, "#>") || strings.Contains(got, "<#") {
			t.Errorf("commentText(%q) = %q still opens or closes a block comment", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r > 0x7e {
				t.Errorf("commentText(%q) = %q has non-printable-ASCII %U", s, got, r)
			}
		}
		if utf8.RuneCountInString(got) > 2*maxCommentName+3 {
			t.Errorf("commentText(%q) is %d characters", s, len(got))
		}
	}
	if got := commentText("M\u00fcller", 80); got != "M?ller" {
		t.Errorf("commentText(Müller) = %q, want M?ller", got)
	}
}

func TestFileName(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"482913057@eu.teams.videosrv.net": "onemeeting-cvi-482913057.ps1",
		"Teams.Contoso@m.example":         "onemeeting-cvi-teams-contoso.ps1",
		`..\..\evil'; rm -rf / #@x`:       "onemeeting-cvi-evil-rm-rf.ps1",
		"müller@x":                        "onemeeting-cvi-m-ller.ps1",
		"@only-domain":                    "onemeeting-cvi.ps1",
		"":                                "onemeeting-cvi.ps1",
		"CON@x":                           "onemeeting-cvi-con.ps1",
		strings.Repeat("9", 100) + "@x":   "onemeeting-cvi-" + strings.Repeat("9", 40) + ".ps1",
		"a@b@c":                           "onemeeting-cvi-a-b.ps1",
		"---x---@y":                       "onemeeting-cvi-x.ps1",
	}
	for key, want := range cases {
		p := exampleParams()
		p.TenantKey = key
		if got := FileName(p); got != want {
			t.Errorf("FileName(TenantKey=%q) = %q, want %q", key, got, want)
		}
	}
}

// The script runs on a default Windows client (issue 10 item 9): the
// session-scoped execution policy is set in code, before the module is
// imported, and the provider lookup cannot throw when the provider does not
// exist yet (Get- -Identity would; the filtered list never does).
func TestScriptRunsOnDefaultWindowsClient(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{exampleParams(), exampleWithUsers()} {
		s, err := Script(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(s, "\r\n")
		policy, imp := -1, -1
		for i, l := range lines {
			switch strings.TrimSpace(l) {
			case ExecutionPolicyLine:
				if policy < 0 && i > slices.Index(lines, "#>") {
					policy = i
				}
			case "Import-Module -Name MicrosoftTeams -MinimumVersion '" + minTeamsModule + "'":
				imp = i
			}
		}
		if policy < 0 || imp < 0 || policy > imp {
			t.Errorf("execution policy line at %d, Import-Module at %d: want the policy set in code first", policy, imp)
		}
		if !strings.Contains(s, "        "+ExecutionPolicyLine+"\r\n        Unblock-File -Path .\\"+FileName(p)) {
			t.Error("the header's how-to-run lacks the execution policy step")
		}
		toks, err := tokenize(s)
		if err != nil {
			t.Fatal(err)
		}
		code := analyze(toks).code
		for i, tok := range code {
			if !strings.EqualFold(tok.text, "Get-CsVideoInteropServiceProvider") {
				continue
			}
			for _, next := range code[i+1:] {
				if next.kind == tkNewline || next.kind == tkPunct {
					break
				}
				if strings.EqualFold(next.text, "-Identity") {
					t.Errorf("line %d: Get-CsVideoInteropServiceProvider -Identity throws when the provider does not exist", tok.line)
				}
			}
		}
		const lookup = "$existingProvider = Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq 'Pexip' }"
		if !slices.Contains(lines, lookup) {
			t.Errorf("script lacks the filtered lookup %q", lookup)
		}
	}
}

// The InstructionUri carries Teams' {ConfId} placeholder verbatim (issue 10
// item 7): Teams replaces the exact text, so it must not be escaped.
func TestScriptInstructionURIKeepsConfIDPlaceholder(t *testing.T) {
	t.Parallel()
	s, err := Script(exampleParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s, "\r\n    InstructionUri = 'https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}'\r\n") {
		t.Error("InstructionUri does not end in ?conf={ConfId}")
	}
}

// TestScriptCleansHiddenCharactersInName: bidi overrides and other format
// characters in the name reach neither the comment nor Write-Host.
func TestScriptCleansHiddenCharactersInName(t *testing.T) {
	p := exampleParams()
	p.CustomerName = "Contoso \u202Egnp.exe\u202C \u2066Ltd\u2069\u200B"
	script, err := Script(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"0x202E", "0x202C", "0x2066", "0x2069", "0x200B"} {
		if strings.Contains(script, unit) {
			t.Errorf("script writes [char]%s", unit)
		}
	}
	if !strings.Contains(script, "Customer:   Contoso gnp.exe Ltd") {
		t.Errorf("comment lacks the cleaned name:\n%s", script)
	}
}
