package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Hostile values a customer record, a query string or Microsoft's error
// description could carry.
const (
	hostileName   = `<script>alert(1)</script>`
	hostileAttr   = `" onmouseover="alert(2)`
	hostileMarkup = `'--><svg onload=alert(3)><img src=x onerror=alert(4)>`
	hostileScript = "Connect-MicrosoftTeams\n</code></pre><script>alert(5)</script>\n" +
		"# " + hostileAttr + "\n" + hostileMarkup + "\n"
	hostileURL = `javascript:alert(6)`
)

const realisticScript = `# OneMeeting CVI - enable Teams video interop for Contoso Ltd
# Run as a Teams Administrator. Needs the MicrosoftTeams module 4.x or later.
Import-Module MicrosoftTeams
Connect-MicrosoftTeams

New-CsVideoInteropServiceProvider -Name Pexip ` + "`" + `
    -TenantKey '482913057@eu.teams.videosrv.net' ` + "`" + `
    -InstructionUri 'https://join.eu.videosrv.net/api/join/482913057' ` + "`" + `
    -AadApplicationIds 'c6f1b2d4-9a7e-4e1b-8c3f-2d5a6b7c8e90' ` + "`" + `
    -AllowAppGuestJoinsAsAuthenticated $true

Grant-CsTeamsVideoInteropServicePolicy -PolicyName PexipServiceProviderEnabled -Global
Get-CsTeamsVideoInteropServicePolicy -Identity Global
`

// pageCase is one page to render, with the text a reader must see on it.
type pageCase struct {
	name     string
	status   int
	page     Page
	wantText []string
	hostile  bool
}

func (c pageCase) consent() bool {
	_, join := c.page.(JoinInstructionsPage)
	return !join
}

func realisticPages() []pageCase {
	return []pageCase{
		{name: "refused-ip", status: http.StatusForbidden,
			page:     RefusalIPNotAllowed("203.0.113.77", "/api/adminconsent?t=abc"),
			wantText: []string{"We saw your request coming from 203.0.113.77", "ask us to add it to your organization's allow-list", "Try again"}},
		{name: "refused-ip-no-retry", status: http.StatusForbidden,
			page:     RefusalIPNotAllowed("203.0.113.77", ""),
			wantText: []string{"We saw your request coming from 203.0.113.77", "allow-list"}},
		{name: "refused-expired", status: http.StatusForbidden, page: RefusalLinkExpired("203.0.113.77"),
			wantText: []string{"This consent link has expired", "new consent link"}},
		{name: "refused-replaced", status: http.StatusForbidden, page: RefusalLinkReplaced("203.0.113.77"),
			wantText: []string{"replaced by a newer one", "most recent consent email"}},
		{name: "refused-suspended", status: http.StatusForbidden, page: RefusalTenantSuspended(""),
			wantText: []string{"on hold"}},
		{name: "refused-offboarded", status: http.StatusForbidden, page: RefusalTenantOffboarded(""),
			wantText: []string{"has ended"}},
		{name: "refused-nolink", status: http.StatusForbidden, page: RefusalNoLink("203.0.113.77"),
			wantText: []string{"Open the consent link from your email", "203.0.113.77"}},
		{name: "declined-cancelled", status: http.StatusOK,
			page: ConsentDeclinedPage{CustomerName: "Contoso Ltd", ErrorCode: "access_denied",
				ErrorDescription: "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: 0f6a8e1c-1111-2222-3333-444455556666",
				RetryURL:         "https://onboard.example.net/api/adminconsent?t=abc"},
			wantText: []string{"Consent was not granted", "Contoso Ltd", "declined on the Microsoft sign-in page", "AADSTS65004", "access_denied", "Try again"}},
		{name: "declined-not-admin", status: http.StatusOK,
			page: ConsentDeclinedPage{CustomerName: "Contoso Ltd", ErrorCode: "access_denied",
				ErrorDescription: "AADSTS90094: The grant requires admin permission."},
			wantText: []string{"Global Administrator", "AADSTS90094", "If it has expired, email our support team"}},
		{name: "declined-link-expired", status: http.StatusOK,
			page:     ConsentDeclinedPage{CustomerName: "Contoso Ltd", ErrorCode: "access_denied", LinkExpired: true},
			wantText: []string{"Your consent link has expired", "ask for a new consent link"}},
		{name: "consent-error", status: http.StatusBadRequest,
			page:     ConsentErrorPage{Heading: "This consent link was already used", Message: "The response from Microsoft was already processed.", RetryURL: "/api/adminconsent?t=abc"},
			wantText: []string{"This consent link was already used", "already processed", "Start consent again"}},
		{name: "consent-error-default", status: http.StatusBadRequest, page: ConsentErrorPage{},
			wantText: []string{"can't be completed", "Open the consent link from your email again", "ask for a new consent link"}},
		{name: "granted", status: http.StatusOK,
			page: ConsentGrantedPage{CustomerName: "Contoso Ltd", TenantID: "72f988bf-86f1-41af-91ab-2d7cd011db47",
				TenantKey: "482913057@eu.teams.videosrv.net", InstructionURI: "https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}",
				AppID: "c6f1b2d4-9a7e-4e1b-8c3f-2d5a6b7c8e90", Script: realisticScript, ScriptFileName: "Enable-CVI-Contoso.ps1",
				RegionName: "Europe (West)", SupportEmail: "cvi-onboarding@modality.example"},
			wantText: []string{"Consent granted", "Contoso Ltd", "Run the PowerShell below", "6 hours", "482913057@eu.teams.videosrv.net",
				"https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}", "c6f1b2d4-9a7e-4e1b-8c3f-2d5a6b7c8e90", "Europe (West)",
				"Grant-CsTeamsVideoInteropServicePolicy", "Download .ps1", "cvi-onboarding@modality.example",
				"first run Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned -Force", "enter the Video ID of a Teams meeting"}},
		{name: "degraded", status: http.StatusOK,
			page: ConsentDegradedPage{CustomerName: "Contoso Ltd", MissingPermissions: []string{"Calls.AccessMedia.All", "OnlineMeetings.Read.All"},
				GrantedPermissions: []string{"User.Read.All", "Calls.Initiate.All"}, RetryURL: "/api/adminconsent?t=abc"},
			wantText: []string{"Calls.AccessMedia.All", "OnlineMeetings.Read.All", "Global Administrator", "Grant consent again"}},
		{name: "degraded-disabled", status: http.StatusOK,
			page:     ConsentDegradedPage{CustomerName: "Contoso Ltd", Disabled: true, RetryURL: "/api/adminconsent?retry=abc"},
			wantText: []string{"is disabled in your Microsoft 365 tenant", "Enabled for users to sign in", "Check again"}},
		{name: "pending", status: http.StatusAccepted, page: ConsentPendingPage{CustomerName: "Contoso Ltd"},
			wantText: []string{"verification in progress", "Contoso Ltd", "still applying the grant", "re-check automatically", "email you"}},
		{name: "join", status: http.StatusOK,
			page: JoinInstructionsPage{ServiceRegionName: "Europe", TenantKey: "482913057@eu.teams.videosrv.net",
				VideoID: "123456789", DirectDialDomain: "eu.teams.videosrv.net"},
			wantText: []string{"dial 482913057@eu.teams.videosrv.net", "enter the Video ID 123456789",
				"dial 123456789.482913057@eu.teams.videosrv.net"}},
		{name: "join-no-conf", status: http.StatusOK,
			page:     JoinInstructionsPage{ServiceRegionName: "Europe", TenantKey: "482913057@eu.teams.videosrv.net"},
			wantText: []string{"dial 482913057@eu.teams.videosrv.net", "Join with a video conferencing device", "Video ID", "not the audio conference ID"}},
		{name: "join-placeholder", status: http.StatusOK,
			page:     JoinInstructionsPage{ServiceRegionName: "Europe", TenantKey: "482913057@eu.teams.videosrv.net", Placeholder: true},
			wantText: []string{"doesn't name a meeting", "Open it from the meeting invite", "dial 482913057@eu.teams.videosrv.net", "Video ID"}},
		{name: "status", status: http.StatusOK,
			page: StatusPage{CustomerName: "Contoso Ltd", TenantID: "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", Status: "Degraded",
				TenantKey: "482913057@eu.teams.videosrv.net", RegionName: "Europe", ProvisionedAt: "23 November 2026 09:30 UTC",
				ConsentedAt: "24 November 2026 10:00 UTC", LastCheckAt: "2 December 2026 12:00 UTC", LastCheckBy: "our regular check",
				ConsentState: StepProblem, Permissions: []StatusPermission{{Name: "User.Read.All", Granted: true}, {Name: "Calls.AccessMedia.All"}},
				ProblemText: "Some permissions are missing.", ScriptURL: "/api/join/482913057/powershell?tenant=3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10",
				ScriptFileName: "onemeeting-cvi-482913057.ps1", LiveState: StepTodo, TrustedDomain: "videosrv.net", ConsentAgain: true,
				FormAction: "/api/status/abc"},
			wantText: []string{"Your setup checklist", "482913057@eu.teams.videosrv.net", "Europe", "Calls.AccessMedia.All: missing",
				"Last checked", "by our regular check", "Grant consent again", "Download the PowerShell script", "Set-ExecutionPolicy", "Live (not yet)"}},
		{name: "status-inactive", status: http.StatusGone, page: StatusInactivePage{},
			wantText: []string{"no longer active", "Remove-CsVideoInteropServiceProvider", "Enterprise applications"}},
		{name: "notfound", status: http.StatusNotFound, page: NotFoundPage{},
			wantText: []string{"Page not found", "Check the link"}},
		{name: "error", status: http.StatusInternalServerError, page: ErrorPage{Status: 500, RequestID: "req-7f3a9c"},
			wantText: []string{"Something went wrong on our side", "req-7f3a9c"}},
	}
}

func hostilePages() []pageCase {
	cases := []pageCase{
		{name: "hostile-refused", status: http.StatusForbidden,
			page: ConsentRefusedPage{Heading: hostileName, Reason: hostileAttr, SeenIP: hostileMarkup,
				WhatToDo: []string{hostileAttr}, RetryURL: hostileURL},
			wantText: []string{hostileName, hostileAttr, "We saw your request coming from " + hostileMarkup}},
		{name: "hostile-declined", status: http.StatusOK,
			page:     ConsentDeclinedPage{CustomerName: hostileName, ErrorCode: hostileAttr, ErrorDescription: hostileMarkup, RetryURL: hostileURL},
			wantText: []string{hostileName, hostileAttr, hostileMarkup}},
		{name: "hostile-declined-explanation", status: http.StatusOK,
			page:     ConsentDeclinedPage{CustomerName: hostileAttr, Explanation: hostileName},
			wantText: []string{hostileName, hostileAttr}},
		{name: "hostile-error", status: http.StatusBadRequest,
			page:     ConsentErrorPage{Heading: hostileName, Message: hostileMarkup, RetryURL: hostileURL},
			wantText: []string{hostileName, hostileMarkup}},
		{name: "hostile-granted", status: http.StatusOK,
			page: ConsentGrantedPage{CustomerName: hostileName, TenantID: hostileAttr, TenantKey: hostileAttr,
				InstructionURI: hostileURL, AppID: hostileMarkup, Script: hostileScript, ScriptFileName: `"><img src=x onerror=alert(7)>`,
				RegionName: hostileName, SupportEmail: hostileAttr},
			wantText: []string{hostileName, hostileAttr, hostileURL, hostileMarkup, "</code></pre><script>alert(5)</script>"}},
		{name: "hostile-degraded", status: http.StatusOK,
			page: ConsentDegradedPage{CustomerName: hostileName, MissingPermissions: []string{hostileAttr},
				GrantedPermissions: []string{hostileMarkup}, RetryURL: hostileURL, SupportEmail: hostileName},
			wantText: []string{hostileName, hostileAttr}},
		{name: "hostile-pending", status: http.StatusAccepted, page: ConsentPendingPage{CustomerName: hostileName},
			wantText: []string{hostileName}},
		{name: "hostile-join", status: http.StatusOK,
			page: JoinInstructionsPage{ServiceRegionName: hostileName, TenantKey: hostileAttr, VideoID: hostileMarkup,
				DirectDialDomain: hostileName, InvalidVideoID: true},
			wantText: []string{hostileName, hostileAttr}},
		{name: "hostile-status", status: http.StatusOK,
			page: StatusPage{CustomerName: hostileName, TenantID: hostileAttr, Status: hostileMarkup, TenantKey: hostileAttr, RegionName: hostileName,
				ConsentedAt: hostileAttr, LastCheckAt: hostileMarkup, LastCheckBy: hostileName, Permissions: []StatusPermission{{Name: hostileMarkup}},
				ProblemText: hostileName, ScriptURL: hostileURL, ScriptFileName: hostileAttr, LiveSince: hostileMarkup, ConsentAgain: true,
				FormAction: hostileURL, Notice: hostileName, NoticeError: true},
			wantText: []string{hostileName, hostileAttr, hostileMarkup}},
		{name: "hostile-notfound", status: http.StatusNotFound, page: NotFoundPage{Message: hostileName},
			wantText: []string{hostileName}},
		{name: "hostile-error-page", status: http.StatusInternalServerError,
			page: ErrorPage{Status: 500, Message: hostileMarkup, RequestID: hostileAttr}, wantText: []string{hostileMarkup, hostileAttr}},
	}
	for i := range cases {
		cases[i].hostile = true
	}
	return cases
}

func allPages() []pageCase { return append(realisticPages(), hostilePages()...) }

var testBranding = Branding{ServiceName: "OneMeeting CVI", ProviderName: "Modality Systems", SupportEmail: "support@modality.example"}

func newTestRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer(testBranding)
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

// newPageServer serves every case at /page/{name}, the assets at their real
// route, and a join page at /api/join/{code} that reads ?conf= the way the
// JoinInstructions handler is meant to.
func newPageServer(t testing.TB, r *Renderer, cases []pageCase) *httptest.Server {
	t.Helper()
	byName := make(map[string]pageCase, len(cases))
	for _, c := range cases {
		byName[c.name] = c
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/assets/{name}", r.AssetHandler())
	mux.HandleFunc("GET /page/{name}", func(w http.ResponseWriter, req *http.Request) {
		c, ok := byName[req.PathValue("name")]
		if !ok {
			r.Render(w, http.StatusNotFound, NotFoundPage{})
			return
		}
		r.Render(w, c.status, c.page)
	})
	mux.HandleFunc("GET /api/join/{code}", func(w http.ResponseWriter, req *http.Request) {
		p := JoinInstructionsPage{ServiceRegionName: "Europe", TenantKey: req.PathValue("code") + "@eu.teams.videosrv.net",
			DirectDialDomain: "eu.teams.videosrv.net"}
		switch raw := req.URL.Query().Get("conf"); {
		case raw == "":
		case IsConfIDPlaceholder(raw):
			p.Placeholder = true
		default:
			p.VideoID, _ = NormalizeVideoID(raw)
			p.InvalidVideoID = p.VideoID == ""
		}
		r.Render(w, http.StatusOK, p)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func containsAll(t testing.TB, where, got string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s: text %q missing from:\n%s", where, w, got)
		}
	}
}
