package email

import (
	"flag"
	"html"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func mustRender(t *testing.T, r *Renderer, tc emailCase) Message {
	t.Helper()
	msg, err := tc.render(r)
	if err != nil {
		t.Fatalf("render %s: %v", tc.name, err)
	}
	return msg
}

func TestEveryKindHasCases(t *testing.T) {
	t.Parallel()
	for _, kind := range domain.EmailKinds {
		var plain, hostile bool
		for _, tc := range emailCases(t) {
			if tc.kind == kind {
				plain = plain || !tc.hostile
				hostile = hostile || tc.hostile
			}
		}
		if !plain || !hostile {
			t.Errorf("kind %s needs a realistic and a hostile test case (have realistic=%v hostile=%v)", kind, plain, hostile)
		}
	}
}

// TestGolden pins the realistic renderings; run `go test -update` after an
// intended change and review the diff of testdata/.
func TestGolden(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, tc := range emailCases(t) {
		if tc.hostile {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustRender(t, r, tc)
			checkGolden(t, filepath.Join("testdata", tc.name+".html"), msg.HTML)
			checkGolden(t, filepath.Join("testdata", tc.name+".txt"), "Subject: "+msg.Subject+"\n\n"+msg.Text)
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if got == string(want) {
		return
	}
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

func TestDeterministic(t *testing.T) {
	t.Parallel()
	r1, r2 := newTestRenderer(t), newTestRenderer(t)
	for _, tc := range emailCases(t) {
		a, b := mustRender(t, r1, tc), mustRender(t, r2, tc)
		for range 3 { // map order of ops facts must not leak
			if c := mustRender(t, r1, tc); c.HTML != a.HTML || c.Text != a.Text {
				t.Fatalf("%s: output differs between renderings", tc.name)
			}
		}
		if a.HTML != b.HTML || a.Text != b.Text || a.Subject != b.Subject {
			t.Fatalf("%s: output differs between renderers", tc.name)
		}
	}
}

var (
	hrefPattern  = regexp.MustCompile(`(?i)\bhref\s*=\s*"([^"]*)"`)
	titlePattern = regexp.MustCompile(`(?s)<title>(.*?)</title>`)
	// Elements that show text must carry their own style with a font, as
	// Outlook's Word engine does not inherit fonts from tables reliably.
	textTagPattern = regexp.MustCompile(`<(p|td|th|h1|h2|li|ol|ul|pre|a|span)\b([^>]*)>`)
	tagPattern     = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	bannedTags     = []string{"script", "style", "link", "img", "iframe", "frame", "object", "embed", "svg", "math", "form", "input", "button", "base", "video", "audio", "source", "picture", "noscript", "template"}
	bannedAttrs    = regexp.MustCompile(`(?i)(^|\s)(on[a-z]+|src|srcset|class|background|action|formaction)\s*=|javascript:|@import|url\(|expression\(`)
)

func TestHTMLStructure(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, tc := range emailCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustRender(t, r, tc)
			h := msg.HTML
			if !strings.HasPrefix(h, "<!doctype html>\n<html lang=\"en\">\n") {
				t.Errorf("HTML must start with the doctype and <html lang=\"en\">; starts %q", h[:min(60, len(h))])
			}
			m := titlePattern.FindStringSubmatch(h)
			if m == nil || html.UnescapeString(m[1]) != msg.Subject {
				t.Errorf("<title> = %q, want the subject %q", m, msg.Subject)
			}
			// Every tag of the markup: customer values are escaped text, so
			// only our own tags may appear, and none that runs code, loads
			// a resource or relies on a stylesheet.
			for _, tm := range tagPattern.FindAllStringSubmatch(h, -1) {
				if slices.Contains(bannedTags, strings.ToLower(tm[2])) {
					t.Errorf("HTML contains a <%s> element", tm[2])
				}
				if bannedAttrs.MatchString(tm[3]) {
					t.Errorf("tag %q has a forbidden attribute (event handler, src, class, script URL or CSS resource)", tm[0])
				}
			}
			for _, hm := range hrefPattern.FindAllStringSubmatch(h, -1) {
				href := html.UnescapeString(hm[1])
				if href == "mailto:"+testSupport {
					continue
				}
				decoded, err := url.PathUnescape(href)
				if err != nil || !slices.Contains(tc.links, decoded) && !slices.Contains(tc.links, href) {
					t.Errorf("unexpected link %q; allowed: %q and mailto:%s", href, tc.links, testSupport)
				}
			}
			for _, want := range tc.links {
				if !containsHref(h, want) {
					t.Errorf("link %q missing from HTML", want)
				}
			}
			for _, tm := range textTagPattern.FindAllStringSubmatch(h, -1) {
				attrs := tm[2]
				if !strings.Contains(attrs, `style="`) {
					t.Errorf("<%s%s> has no inline style", tm[1], attrs)
					continue
				}
				if !strings.Contains(attrs, "font-family:") {
					t.Errorf("<%s%s> names no font-family", tm[1], attrs)
				}
			}
			if !strings.Contains(h, `width="600"`) || !strings.Contains(h, "max-width:600px") {
				t.Error("the card must be 600px wide for Outlook (width attribute) and browsers (max-width)")
			}
			if tc.kind == domain.EmailConsentConfirmed && !regexp.MustCompile(`<pre style="[^"]*font-family:Consolas,Courier New,monospace;`).MatchString(h) {
				t.Error("the script must be in a <pre> with a monospace font")
			}
		})
	}
}

func containsHref(h, link string) bool {
	for _, hm := range hrefPattern.FindAllStringSubmatch(h, -1) {
		href := html.UnescapeString(hm[1])
		if decoded, err := url.PathUnescape(href); href == link || err == nil && decoded == link {
			return true
		}
	}
	return false
}

func TestTextCarriesEveryFact(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, tc := range emailCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustRender(t, r, tc)
			for _, want := range tc.visible {
				if !strings.Contains(msg.Text, want) {
					t.Errorf("plain text lacks %q", want)
				}
			}
			for _, link := range tc.links {
				if !strings.Contains(msg.Text, link) {
					t.Errorf("plain text lacks the link %q", link)
				}
			}
			if strings.ContainsRune(msg.Text, '\r') {
				t.Error("plain text must use \\n line endings only")
			}
			if strings.Contains(msg.Text, "&lt;") || strings.Contains(msg.Text, "&#") || strings.Contains(msg.Text, "&amp;") {
				t.Error("plain text contains HTML escapes")
			}
		})
	}
}

// TestTextLinesCannotBeForged: a customer value must never start a line of
// its own in the plain text, where a reader would take it for ours.
func TestTextLinesCannotBeForged(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	for _, tc := range emailCases(t) {
		if !tc.hostile {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msg := mustRender(t, r, tc)
			for i, line := range strings.Split(msg.Text, "\n") {
				for _, forged := range []string{"Link:", "Bcc:"} {
					if strings.HasPrefix(line, forged) {
						t.Errorf("line %d is a forged %q line: %q", i+1, forged, line)
					}
				}
				if strings.HasPrefix(line, "Approval link:") {
					if got := strings.TrimPrefix(line, "Approval link: "); !slices.Contains(tc.links, got) {
						t.Errorf("line %d: approval link %q is not ours", i+1, got)
					}
				}
			}
		})
	}
}

func TestSubjects(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	want := map[string]string{
		"consent-link":      "Action needed: approve OneMeeting CVI for Contoso Ltd",
		"consent-reminder":  "Reminder: OneMeeting CVI for Contoso Ltd is still waiting for your approval",
		"consent-confirmed": "Approved: now run the OneMeeting CVI PowerShell script for Contoso Ltd",
		"consent-revoked":   "Action needed: OneMeeting CVI access was removed for Contoso Ltd",
		"consent-degraded":  "Action needed: OneMeeting CVI is missing permissions for Contoso Ltd",
		"ops-alert":         "[OneMeeting CVI ops] Consent revoked for Contoso Ltd",
	}
	for _, tc := range emailCases(t) {
		msg := mustRender(t, r, tc)
		if w, ok := want[tc.name]; ok && msg.Subject != w {
			t.Errorf("%s: subject %q, want %q", tc.name, msg.Subject, w)
		}
		if strings.ContainsFunc(msg.Subject, unicode.IsControl) {
			t.Errorf("%s: subject %q contains control characters", tc.name, msg.Subject)
		}
		if n := utf8.RuneCountInString(msg.Subject); n > maxSubjectRunes {
			t.Errorf("%s: subject has %d characters, more than %d", tc.name, n, maxSubjectRunes)
		}
	}

	d := linkData()
	d.CustomerName = "Contoso\r\nBcc: attacker@evil.example\u2028X-Evil: 1\x00\u202e " + strings.Repeat("Very Long Name ", 20)
	msg, err := r.ConsentLink(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(msg.Subject, "\r\n\x00\u2028\u202e") {
		t.Errorf("subject %q keeps line breaks or controls", msg.Subject)
	}
	if !strings.HasPrefix(msg.Subject, "Action needed: approve OneMeeting CVI for Contoso Bcc: attacker@evil.example X-Evil: 1 Very Long") {
		t.Errorf("subject %q: the name should stay readable on one line", msg.Subject)
	}
	if n := utf8.RuneCountInString(msg.Subject); n > maxSubjectRunes || !strings.HasSuffix(msg.Subject, "…") {
		t.Errorf("subject %q (%d characters) should be cut to %d with an ellipsis", msg.Subject, n, maxSubjectRunes)
	}

	d.CustomerName = ""
	if msg, err = r.ConsentLink(d); err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Action needed: approve OneMeeting CVI for your organisation" {
		t.Errorf("subject without a customer name = %q", msg.Subject)
	}
}

// Outlook blocks .ps1 attachments (issue 10 item 8): the confirmation has
// none; the download link is the primary path, and the script is inline.
func TestConsentConfirmedLinksToDownloadNotAttachment(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	d := confirmedData(t)
	msg, err := r.ConsentConfirmed(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Attachments) != 0 {
		t.Fatalf("attachments = %d (%q), want none: Outlook blocks .ps1", len(msg.Attachments), msg.Attachments[0].Name)
	}
	if !strings.Contains(msg.Text, "\nDownload the PowerShell script: "+testScriptURL+"\n") {
		t.Error("plain text lacks the download link")
	}
	if !strings.Contains(msg.HTML, `href="`+html.EscapeString(testScriptURL)+`"`) {
		t.Error("HTML lacks the download button")
	}
	for _, body := range []string{msg.HTML, msg.Text} {
		if strings.Contains(body, "attached") || strings.Contains(body, "attachment") {
			t.Error("the email still talks about an attachment")
		}
		// The session-scoped policy step comes before running the script.
		p, u := strings.Index(body, "Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned"), strings.Index(body, "Unblock-File -Path")
		if p < 0 || u < 0 || p > u {
			t.Error("the steps lack the execution-policy line before Unblock-File")
		}
		if !strings.Contains(body, "Video ID") {
			t.Error("the email does not say Video ID")
		}
	}
	if _, err := r.ConsentConfirmed(func() ConsentConfirmedData { d := d; d.ScriptURL = ""; return d }()); domain.ErrorField(err) != "ScriptURL" {
		t.Errorf("missing script URL: error %v, want ScriptURL", err)
	}
	// Inline copies: every script line, in the <pre> and between the
	// plain-text markers.
	begin := strings.Index(msg.Text, scriptBegin+"\n")
	end := strings.Index(msg.Text, "\n"+scriptEnd+"\n")
	if begin < 0 || end < begin {
		t.Fatalf("plain text lacks the script markers")
	}
	if inline := msg.Text[begin+len(scriptBegin)+1 : end]; inline != strings.TrimRight(strings.ReplaceAll(d.Script, "\r\n", "\n"), "\n") {
		t.Errorf("plain-text script differs from the generated one:\n%s", inline)
	}
	for _, line := range strings.Split(strings.ReplaceAll(d.Script, "\r\n", "\n"), "\n") {
		if !strings.Contains(msg.HTML, html.EscapeString(line)) && !strings.Contains(msg.HTML, strings.ReplaceAll(html.EscapeString(line), "+", "&#43;")) {
			t.Errorf("HTML lacks script line %q", line)
		}
	}
	for _, tc := range emailCases(t) {
		if other := mustRender(t, r, tc); len(other.Attachments) != 0 {
			t.Errorf("%s has attachments; no email has any", tc.name)
		}
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	link := func(f func(*ConsentLinkData)) func() error {
		return func() error {
			d := linkData()
			f(&d)
			_, err := r.ConsentLink(d)
			return err
		}
	}
	confirmed := func(f func(*ConsentConfirmedData)) func() error {
		return func() error {
			d := confirmedData(t)
			f(&d)
			_, err := r.ConsentConfirmed(d)
			return err
		}
	}
	problem := func(f func(*ConsentProblemData)) func() error {
		return func() error {
			d := problemData()
			f(&d)
			_, err := r.ConsentDegraded(d)
			return err
		}
	}
	cases := []struct {
		name, field string
		run         func() error
	}{
		{"link missing", "Link", link(func(d *ConsentLinkData) { d.Link = "" })},
		{"javascript link", "Link", link(func(d *ConsentLinkData) { d.Link = "javascript:alert(1)" })},
		{"relative link", "Link", link(func(d *ConsentLinkData) { d.Link = "/api/adminconsent?t=x" })},
		{"link with newline", "Link", link(func(d *ConsentLinkData) { d.Link = testLink + "\r\nLink: http://evil" })},
		{"link with credentials", "Link", link(func(d *ConsentLinkData) { d.Link = "https://user:pw@evil.example/" })},
		{"expired link", "ExpiresAt", link(func(d *ConsentLinkData) { d.ExpiresAt = testNow.Add(-time.Minute) })},
		{"no expiry", "ExpiresAt", link(func(d *ConsentLinkData) { d.ExpiresAt = time.Time{} })},
		{"no IPs", "AllowedIPs", link(func(d *ConsentLinkData) { d.AllowedIPs = []string{" ", "\n"} })},
		{"bad tenant", "TenantID", link(func(d *ConsentLinkData) { d.TenantID = "contoso.com" })},
		{"path in file name", "ScriptFileName", confirmed(func(d *ConsentConfirmedData) { d.ScriptFileName = "../evil.ps1" })},
		{"exe file name", "ScriptFileName", confirmed(func(d *ConsentConfirmedData) { d.ScriptFileName = "setup.exe" })},
		{"no file name", "ScriptFileName", confirmed(func(d *ConsentConfirmedData) { d.ScriptFileName = "" })},
		{"no script", "Script", confirmed(func(d *ConsentConfirmedData) { d.Script = " \r\n" })},
		{"script with marker", "Script", confirmed(func(d *ConsentConfirmedData) { d.Script += scriptEnd + "\r\nLink: http://evil\r\n" })},
		{"no tenant key", "TenantKey", confirmed(func(d *ConsentConfirmedData) { d.TenantKey = "\n" })},
		{"no app ID", "AppID", confirmed(func(d *ConsentConfirmedData) { d.AppID = "" })},
		{"bad instruction URI", "InstructionURI", confirmed(func(d *ConsentConfirmedData) { d.InstructionURI = "data:text/html,x" })},
		{"bad consent URL", "ConsentURL", problem(func(d *ConsentProblemData) { d.ConsentURL = "vbscript:x" })},
		{"no detection time", "DetectedAt", problem(func(d *ConsentProblemData) { d.DetectedAt = time.Time{} })},
		{"ops without subject", "Subject", func() error { _, err := r.OpsAlert(OpsAlertData{Subject: "\r\n"}); return err }},
	}
	for _, tc := range cases {
		err := tc.run()
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if domain.ErrorCode(err) != domain.CodeInvalid {
			t.Errorf("%s: code %q, want %q (a permanent failure): %v", tc.name, domain.ErrorCode(err), domain.CodeInvalid, err)
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.field)
		}
	}
}

func TestOptionalValuesLeaveNoGaps(t *testing.T) {
	t.Parallel()
	r := newTestRenderer(t)
	d := linkData()
	d.AdminName, d.RegionName, d.CustomerName = "", "", ""
	msg, err := r.ConsentLink(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg.Text, "\nHello,\n") || !strings.Contains(msg.HTML, ">Hello,</p>") {
		t.Error("without an admin name the greeting should be plain \"Hello,\"")
	}
	if strings.Contains(msg.Text, "Region:") || strings.Contains(msg.Text, "Organisation:") {
		t.Error("empty optional values must not leave empty labelled lines")
	}

	p := problemData()
	p.ConsentURL = ""
	msg, err = r.ConsentRevoked(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "Approve OneMeeting CVI again") || !strings.Contains(msg.Text, "Write to "+testSupport+" and we send you a new approval link") {
		t.Error("without a consent URL the notice must point to support instead of a button")
	}

	msg, err = r.OpsAlert(OpsAlertData{Subject: "Provisioning message rejected"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(msg.HTML, "<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"width:100%;margin") {
		t.Error("an ops alert without facts must not render an empty facts table")
	}
	if !strings.HasPrefix(msg.Text, "Alert: Provisioning message rejected\n") {
		t.Errorf("ops text starts %q", msg.Text[:min(60, len(msg.Text))])
	}
}

func TestOpsFactsSortedByKey(t *testing.T) {
	t.Parallel()
	msg, err := newTestRenderer(t).OpsAlert(opsData())
	if err != nil {
		t.Fatal(err)
	}
	var pos []int
	for _, k := range []string{"fromStatus", "region", "runId", "toStatus"} {
		pos = append(pos, strings.Index(msg.Text, "    "+k+": "), strings.Index(msg.HTML, ">"+k+"</th>"))
	}
	for i := 2; i < len(pos); i++ {
		if pos[i] < 0 || pos[i-2] < 0 || pos[i] <= pos[i-2] {
			t.Fatalf("facts not rendered sorted by key (positions %v)", pos)
		}
	}
}

func TestNewRendererChecksBranding(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]Branding{
		"no service name":  {SupportEmail: testSupport, TrustedDomain: "videosrv.net"},
		"bad email":        {ServiceName: "X", SupportEmail: "Support <s@example.net>", TrustedDomain: "videosrv.net"},
		"bad domain":       {ServiceName: "X", SupportEmail: testSupport, TrustedDomain: "videosrv.net/<b>"},
		"missing domain":   {ServiceName: "X", SupportEmail: testSupport},
		"newline in email": {ServiceName: "X", SupportEmail: testSupport + "\r\nBcc: x@evil.example", TrustedDomain: "videosrv.net"},
	} {
		if _, err := NewRenderer(b); err == nil {
			t.Errorf("%s: NewRenderer accepted %+v", name, b)
		}
	}
}

func TestTimeWords(t *testing.T) {
	t.Parallel()
	now := testNow
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{14 * 24 * time.Hour, "in 14 days"},
		{14*24*time.Hour - time.Minute, "in 14 days"},
		{48 * time.Hour, "in 2 days"},
		{47 * time.Hour, "in 47 hours"},
		{2 * time.Hour, "in 2 hours"},
		{119 * time.Minute, "in 119 minutes"},
		{90 * time.Second, "in 2 minutes"},
		{time.Second, "in 1 minute"},
	} {
		if got := until(now, now.Add(tc.d)); got != tc.want {
			t.Errorf("until(+%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
	if got := daysAgo(now, now.Add(-9*24*time.Hour-time.Hour)); got != "9 days ago" {
		t.Errorf("daysAgo = %q", got)
	}
	if got := daysAgo(now, now.Add(-25*time.Hour)); got != "1 day ago" {
		t.Errorf("daysAgo = %q", got)
	}
	if got := daysAgo(now, now.Add(-time.Hour)); got != "earlier today" {
		t.Errorf("daysAgo = %q", got)
	}
	if got := formatTime(time.Date(2026, 12, 2, 15, 5, 0, 0, time.FixedZone("CET", 3600))); got != "2 December 2026 14:05 UTC" {
		t.Errorf("formatTime = %q", got)
	}
}

func TestCleaning(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"  Contoso \r\n Ltd\t":         "Contoso Ltd",
		"a\u2028b\u2029c\u0085d\ve\ff": "a b c d e f",
		"evil\u202egnp.exe":            "evilgnp.exe",
		"nul\x00byte\x1b[31m":          "nulbyte[31m",
		"bad \xff utf8":                "bad \uFFFD utf8",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
	if got := multiLine("\r\n a\r\nb \t\r\n\x00c\u2028d\n\n"); got != " a\nb\nc\nd" {
		t.Errorf("multiLine = %q", got)
	}
	if got := indent("  ", "a\nb"); got != "  a\n  b" {
		t.Errorf("indent = %q", got)
	}
	if got := clip("alpha beta gamma delta", 15); got != "alpha beta…" {
		t.Errorf("clip = %q", got)
	}
	if got := clip("ünïcödé", 5); got != "ünïc…" {
		t.Errorf("clip = %q", got)
	}
}
