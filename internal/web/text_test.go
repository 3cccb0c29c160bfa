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

func TestNormalizeConferenceID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"123456789":      "123456789",
		" 123 456 789 ":  "123456789",
		"123-456-789#":   "123456789",
		"123\u00a0456":   "123456",
		"0012":           "0012",
		"12345678901234": "12345678901234",
	} {
		got, ok := NormalizeConferenceID(in)
		if !ok || got != want {
			t.Errorf("NormalizeConferenceID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "   ", "#", "abc", "123abc", "12.34", `" onmouseover="x`, "<script>", strings.Repeat("1", MaxConferenceIDDigits+1), "١٢٣"} {
		if got, ok := NormalizeConferenceID(in); ok {
			t.Errorf("NormalizeConferenceID(%q) = %q, accepted", in, got)
		}
	}
}

func TestDirectDialAddress(t *testing.T) {
	t.Parallel()
	if got := DirectDialAddress("123456789", "482913057@eu.teams.videosrv.net", "eu.teams.videosrv.net"); got != "123456789.482913057@eu.teams.videosrv.net" {
		t.Errorf("direct dial = %q", got)
	}
	for _, args := range [][3]string{
		{"", "482913057@eu.teams.videosrv.net", "eu.teams.videosrv.net"},
		{"123", "482913057@eu.teams.videosrv.net", ""},
		{"123", "", "eu.teams.videosrv.net"},
		{"123", "@eu.teams.videosrv.net", "eu.teams.videosrv.net"},
	} {
		if got := DirectDialAddress(args[0], args[1], args[2]); got != "" {
			t.Errorf("DirectDialAddress%q = %q, want empty", args, got)
		}
	}
}

func TestRefusalsShowAllowedOnlyWhenProved(t *testing.T) {
	t.Parallel()
	anon := RefusalIPNotAllowed("203.0.113.77", []string{"198.51.100.0/24"}, false, "")
	proved := RefusalIPNotAllowed("203.0.113.77", []string{"198.51.100.0/24"}, true, "")
	if anon.ShowAllowed || !proved.ShowAllowed {
		t.Errorf("ShowAllowed anon=%v proved=%v", anon.ShowAllowed, proved.ShowAllowed)
	}
	r := newTestRenderer(t)
	render := func(p Page) string {
		w := httptest.NewRecorder()
		r.Render(w, 403, p)
		return w.Body.String()
	}
	if body := render(anon); strings.Contains(body, "198.51.100.0/24") || !strings.Contains(body, "203.0.113.77") {
		t.Errorf("anonymous refusal must show the seen IP and hide the allow-list:\n%s", body)
	}
	if body := render(proved); !strings.Contains(body, "198.51.100.0/24") {
		t.Errorf("proved refusal must show the allow-list:\n%s", body)
	}
	for _, p := range []ConsentRefusedPage{anon, RefusalLinkExpired(""), RefusalLinkReplaced(""), RefusalTenantSuspended(""),
		RefusalTenantOffboarded(""), RefusalNoLink("")} {
		if p.Heading == "" || p.Reason == "" || len(p.WhatToDo) == 0 {
			t.Errorf("refusal without heading, reason or next steps: %+v", p)
		}
	}
}
