package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestExplainConsentError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code, desc string
		want       string
	}{
		{"access_denied", "AADSTS65004: User declined to consent to access the app.", "declined on the Microsoft sign-in page"},
		{"access_denied", "", "cancelled or declined"},
		{"access_denied", "AADSTS90094: The grant requires admin permission.", "Global Administrator"},
		{"invalid_request", "AADSTS50020: User account 'x@outlook.com' from identity provider 'live.com' does not exist in tenant", "doesn't belong to your organization"},
		{"access_denied", "AADSTS53003: Access has been blocked by Conditional Access policies.", "Conditional Access"},
		{"invalid_request", "AADSTS700016: Application with identifier 'x' was not found in the directory", "configuration problem on our side"},
		{"", "app not found in tenant: AADSTS7000229 (HTTP 401): The client application x is missing service principal in the tenant y.", "isn't in your tenant"},
		{"invalid_request", "AADSTS700016: Application with identifier 'x' was not found in the directory", "isn't in your tenant"},
		{"invalid_request", "AADSTS50011: The redirect URI specified in the request does not match", "configuration problem on our side"},
		{"access_denied", "AADSTS650051: stale service principal", "older registration"},
		{"temporarily_unavailable", "", "temporary problem"},
		{"server_error", "AADSTS99999: unknown", "temporary problem"},
		{"weird_error", "no code here", "didn't grant consent"},
		{"", "", "didn't grant consent"},
	}
	for _, c := range cases {
		if got := ExplainConsentError(c.code, c.desc); !strings.Contains(got, c.want) {
			t.Errorf("ExplainConsentError(%q, %q) = %q, want it to mention %q", c.code, c.desc, got, c.want)
		}
	}
	p := ConsentDeclinedPage{ErrorCode: "access_denied", Explanation: "  Custom words.  "}
	if got := p.ExplanationText(); got != "Custom words." {
		t.Errorf("explicit Explanation not used: %q", got)
	}
}

func TestNormalizeVideoID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"123456789":      "123456789",
		" 123 456 789 ":  "123456789",
		"123-456-789#":   "123456789",
		"123\u00a0456":   "123456",
		"0012":           "0012",
		"12345678901234": "12345678901234",
	} {
		got, ok := NormalizeVideoID(in)
		if !ok || got != want {
			t.Errorf("NormalizeVideoID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "   ", "#", "abc", "123abc", "12.34", `" onmouseover="x`, "<script>", strings.Repeat("1", MaxVideoIDDigits+1),
		"123", "{ConfId}", "%7BConfId%7D", strings.Repeat(" ", 200) + "1234", "١٢٣"} {
		if got, ok := NormalizeVideoID(in); ok {
			t.Errorf("NormalizeVideoID(%q) = %q, accepted", in, got)
		}
	}
	for _, in := range []string{"{ConfId}", " {confid} ", "%7BConfId%7D", "%7bconfid%7d"} {
		if !IsConfIDPlaceholder(in) {
			t.Errorf("IsConfIDPlaceholder(%q) = false", in)
		}
	}
	for _, in := range []string{"", "123456789", "{ConfId}1", "ConfId"} {
		if IsConfIDPlaceholder(in) {
			t.Errorf("IsConfIDPlaceholder(%q) = true", in)
		}
	}
}

func TestDirectDialAddress(t *testing.T) {
	t.Parallel()
	if got := DirectDialAddress("123456789", "482913057@eu.teams.videosrv.net", "eu.teams.videosrv.net"); got != "123456789.482913057@eu.teams.videosrv.net" {
		t.Errorf("direct dial = %q", got)
	}
	// Without a direct-dial domain it is <Video ID>.<tenant key> (issue 10 item 7).
	if got := DirectDialAddress("123456789", "482913057@eu.teams.videosrv.net", ""); got != "123456789.482913057@eu.teams.videosrv.net" {
		t.Errorf("direct dial without a domain = %q", got)
	}
	if got := sipURI("123456789.482913057@eu.teams.videosrv.net"); got != "sip:123456789.482913057@eu.teams.videosrv.net" {
		t.Errorf("sip URI = %q", got)
	}
	for _, bad := range []string{"", "x.1@a", "1.2@a b", `1.2@a"><x`, "1.2@-a", "javascript:1"} {
		if got := sipURI(bad); got != "" {
			t.Errorf("sipURI(%q) = %q, want none", bad, got)
		}
	}
	for _, args := range [][3]string{
		{"", "482913057@eu.teams.videosrv.net", "eu.teams.videosrv.net"},
		{"123", "482913057", ""},
		{"123", "", "eu.teams.videosrv.net"},
		{"123", "@eu.teams.videosrv.net", "eu.teams.videosrv.net"},
	} {
		if got := DirectDialAddress(args[0], args[1], args[2]); got != "" {
			t.Errorf("DirectDialAddress%q = %q, want empty", args, got)
		}
	}
}

// The IP refusal shows the caller's address and how to get it added, never
// the tenant's allow-list (issue 12.6: anyone holding the link saw it).
func TestIPRefusalShowsCallerIPNotAllowList(t *testing.T) {
	t.Parallel()
	p := RefusalIPNotAllowed("203.0.113.77", "")
	r := newTestRenderer(t)
	w := httptest.NewRecorder()
	r.Render(w, 403, p)
	body := w.Body.String()
	if !strings.Contains(body, "203.0.113.77") || !strings.Contains(body, "ask us to add it") {
		t.Errorf("IP refusal must show the seen IP and how to get it added:\n%s", body)
	}
	if strings.Contains(body, "allowed-ips") || strings.Contains(body, "Addresses allowed") {
		t.Errorf("IP refusal lists allowed addresses:\n%s", body)
	}
	for _, p := range []ConsentRefusedPage{p, RefusalLinkExpired(""), RefusalLinkReplaced(""), RefusalTenantSuspended(""),
		RefusalTenantOffboarded(""), RefusalNoLink("")} {
		if p.Heading == "" || p.Reason == "" || len(p.WhatToDo) == 0 {
			t.Errorf("refusal without heading, reason or next steps: %+v", p)
		}
	}
}
