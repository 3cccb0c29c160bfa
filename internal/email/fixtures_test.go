package email

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Fixed times keep every rendering deterministic.
var (
	testNow         = time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
	testProvisioned = time.Date(2026, 11, 23, 9, 30, 0, 0, time.UTC)
)

const (
	testTenantID   = "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	testLink       = "https://onboard.videosrv.net/api/adminconsent?t=Qx7vR2mK9pL4sT8wZ3nB6cF1"
	testConsentURL = "https://onboard.videosrv.net/api/adminconsent?t=Hn4kP8sW2qV6yB9dM3tR7xC5"
	testInstrURI   = "https://join.eu.videosrv.net/api/join/482913057?conf={ConfId}"
	testScriptURL  = "https://onboard.videosrv.net/api/join/482913057/powershell?tenant=3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	testAppID      = "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"
	testTenantKey  = "482913057@eu.teams.videosrv.net"
	testSupport    = "cvi-support@example.net"
	testStatusURL  = "https://onboard.videosrv.net/api/status/Zr5tY8wQ2mN6pK3vB9cX4hJ7"

	// Hostile values: markup, script, attribute break-outs and line breaks
	// that would forge a header or a labelled line.
	hostileScript    = `<script>alert(1)</script>`
	hostileImg       = `"><img src=x onerror=alert(1)>`
	hostilePwn       = `"><img src=x onerror="window.__pwned=1">`
	hostileNewline   = "\r\nBcc: attacker@evil.example\r\nLink: http://evil.example/phish"
	hostileLink      = `https://onboard.videosrv.net/api/adminconsent?t=abc&x="><script>alert(1)</script>`
	hostileInstr     = `https://join.eu.videosrv.net/api/join/482913057?x="><svg/onload=alert(1)>`
	hostileScriptURL = testScriptURL + `&x="><script>alert(1)</script>`
)

func testBranding() Branding {
	return Branding{
		ServiceName:   "OneMeeting CVI",
		ProviderName:  "Example Video Services",
		SupportEmail:  testSupport,
		TrustedDomain: "videosrv.net",
	}
}

func newTestRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer(testBranding())
	if err != nil {
		t.Fatalf("NewRenderer: %v", err)
	}
	return r
}

func testScript(t testing.TB) string {
	t.Helper()
	// The PowerShell package's own golden script: realistic, and kept in
	// step with the generator by that package's tests.
	b, err := os.ReadFile(filepath.Join("..", "powershell", "testdata", "example-tenant-wide.ps1"))
	if err != nil {
		t.Fatalf("read script fixture: %v", err)
	}
	return string(b)
}

func linkData() ConsentLinkData {
	return ConsentLinkData{
		CustomerName: "Contoso Ltd",
		AdminName:    "Megan Bowen",
		TenantID:     testTenantID,
		RegionName:   "Europe (West)",
		Link:         testLink,
		// Given in CET on purpose: the email must show it in UTC.
		ExpiresAt:     testNow.Add(14 * 24 * time.Hour).In(time.FixedZone("CET", 3600)),
		AllowedIPs:    []string{"203.0.113.10", "198.51.100.0/28"},
		ProvisionedAt: testNow,
		Now:           testNow,
	}
}

func hostileLinkData() ConsentLinkData {
	d := linkData()
	d.CustomerName = hostileScript + hostileImg + hostileNewline
	d.AdminName = hostilePwn
	d.RegionName = "</title><script>window.__pwned=1</script>"
	d.Link = hostileLink
	d.AllowedIPs = []string{"203.0.113.10", "<b>198.51.100.7</b>\nLink: http://evil.example"}
	return d
}

func reminderData() ConsentLinkData {
	d := linkData()
	d.ProvisionedAt = testProvisioned
	d.ExpiresAt = testNow.Add(5 * 24 * time.Hour)
	return d
}

func hostileReminderData() ConsentLinkData {
	d := hostileLinkData()
	d.ProvisionedAt = testProvisioned
	return d
}

func confirmedData(t testing.TB) ConsentConfirmedData {
	return ConsentConfirmedData{
		CustomerName:   "Contoso Ltd",
		TenantID:       testTenantID,
		TenantKey:      testTenantKey,
		InstructionURI: testInstrURI,
		AppID:          testAppID,
		Script:         testScript(t),
		ScriptFileName: "onemeeting-cvi-482913057.ps1",
		ScriptURL:      testScriptURL,
		RegionName:     "Europe (West)",
		ConsentedAt:    testNow,
	}
}

func hostileConfirmedData(t testing.TB) ConsentConfirmedData {
	d := confirmedData(t)
	d.CustomerName = hostileScript + hostileNewline
	d.TenantKey = "<b>482913057@eu.teams.videosrv.net</b>"
	d.InstructionURI = hostileInstr
	d.ScriptURL = hostileScriptURL
	d.AppID = hostilePwn
	d.RegionName = hostileImg
	d.Script += "Write-Host '</pre><script>alert(1)</script><img src=x onerror=alert(1)>'\r\n"
	return d
}

func problemData() ConsentProblemData {
	return ConsentProblemData{
		CustomerName: "Contoso Ltd",
		TenantID:     testTenantID,
		Reason:       "The service principal of the app was not found in the tenant.",
		DetectedAt:   testNow,
		ConsentURL:   testConsentURL,
	}
}

func degradedData() ConsentProblemData {
	d := problemData()
	d.Reason = "The app-only token lacks 2 of 8 required roles."
	d.MissingPermissions = []string{"Calls.AccessMedia.All", "OnlineMeetings.Read.All"}
	return d
}

func hostileProblemData() ConsentProblemData {
	d := problemData()
	d.CustomerName = hostileImg + hostileNewline
	d.Reason = `Graph said <iframe src="https://evil.example"></iframe>` + "\nLink: http://evil.example/phish"
	d.MissingPermissions = []string{"Calls.AccessMedia.All", "<svg onload=alert(1)>", "Calls.AccessMedia.All"}
	return d
}

func opsData() OpsAlertData {
	return OpsAlertData{
		Subject:      "Consent revoked for Contoso Ltd",
		Detail:       "Revalidation found no service principal of app " + testAppID + ".\nStatus changed Consented -> Revoked; the customer was emailed.",
		TenantID:     testTenantID,
		CustomerName: "Contoso Ltd",
		Facts: map[string]string{
			"runId":      "reval-20261202T1400Z",
			"fromStatus": "Consented",
			"toStatus":   "Revoked",
			"region":     "eu",
		},
		At: testNow,
	}
}

func hostileOpsData() OpsAlertData {
	return OpsAlertData{
		Subject:      hostileScript + hostileNewline,
		Detail:       "line one </p><script>window.__pwned=1</script>\nLink: http://evil.example/phish\n\tindented",
		TenantID:     "not-a-guid<b>",
		CustomerName: hostilePwn,
		Facts: map[string]string{
			"<b>key</b>": "<img src=x onerror=alert(1)>",
			"Link":       "http://evil.example/phish\r\nBcc: x@evil.example",
		},
		At: testNow,
	}
}

// emailCase is one rendering checked by every test: how to render it, what
// must be visible in both bodies, and which links it may contain.
type emailCase struct {
	name    string
	kind    domain.EmailKind
	hostile bool
	render  func(*Renderer) (Message, error)
	visible []string // text the reader must see, in HTML and in plain text
	links   []string // the only http(s) links allowed besides mailto:support
}

func emailCases(t testing.TB) []emailCase {
	cd, hcd := confirmedData(t), hostileConfirmedData(t)
	hostileCustomer := hostileScript + hostileImg + " Bcc: attacker@evil.example Link: http://evil.example/phish"
	return []emailCase{
		{
			name: "consent-link", kind: domain.EmailConsentLink,
			render: func(r *Renderer) (Message, error) { return r.ConsentLink(linkData()) },
			visible: []string{"Contoso Ltd", "Hello Megan Bowen,", testTenantID, "Europe (West)", testLink,
				"16 December 2026 14:05 UTC", "in 14 days", "203.0.113.10", "198.51.100.0/28", "videosrv.net",
				"Global Administrator", "External access", "Pexip, Cisco and Poly", testSupport},
			links: []string{testLink},
		},
		{
			name: "consent-link-hostile", kind: domain.EmailConsentLink, hostile: true,
			render:  func(r *Renderer) (Message, error) { return r.ConsentLink(hostileLinkData()) },
			visible: []string{hostileCustomer, "Hello " + hostilePwn + ",", "</title><script>window.__pwned=1</script>", "<b>198.51.100.7</b> Link: http://evil.example"},
			links:   []string{hostileLink},
		},
		{
			name: "consent-reminder", kind: domain.EmailConsentReminder,
			render: func(r *Renderer) (Message, error) { return r.ConsentReminder(reminderData()) },
			visible: []string{"still waiting", "9 days ago", "23 November 2026", "Contoso Ltd", testTenantID, testLink,
				"7 December 2026 14:05 UTC", "in 5 days", "203.0.113.10", "198.51.100.0/28", "videosrv.net", testSupport},
			links: []string{testLink},
		},
		{
			name: "consent-reminder-hostile", kind: domain.EmailConsentReminder, hostile: true,
			render:  func(r *Renderer) (Message, error) { return r.ConsentReminder(hostileReminderData()) },
			visible: []string{hostileCustomer, "Hello " + hostilePwn + ",", "9 days ago"},
			links:   []string{hostileLink},
		},
		{
			name: "consent-confirmed", kind: domain.EmailConsentConfirmed,
			render: func(r *Renderer) (Message, error) { return r.ConsentConfirmed(cd) },
			visible: []string{"Contoso Ltd", testTenantKey, testInstrURI, testAppID, testTenantID, "Europe (West)",
				"2 December 2026 14:05 UTC", "onemeeting-cvi-482913057.ps1", "New-CsVideoInteropServiceProvider -Name 'Pexip' @providerSettings",
				"Grant-CsTeamsVideoInteropServicePolicy -PolicyName 'PexipServiceProviderEnabled' -Global", "6 hours", testSupport,
				"Download the PowerShell script", "Video ID", "Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned"},
			links: []string{testScriptURL, testInstrURI},
		},
		{
			name: "consent-confirmed-hostile", kind: domain.EmailConsentConfirmed, hostile: true,
			render: func(r *Renderer) (Message, error) { return r.ConsentConfirmed(hcd) },
			visible: []string{hostileScript + " Bcc: attacker@evil.example Link: http://evil.example/phish", "<b>482913057@eu.teams.videosrv.net</b>",
				hostilePwn, hostileImg, "Write-Host '</pre><script>alert(1)</script><img src=x onerror=alert(1)>'"},
			links: []string{hostileScriptURL, hostileInstr},
		},
		{
			name: "consent-revoked", kind: domain.EmailConsentRevoked,
			render: func(r *Renderer) (Message, error) { return r.ConsentRevoked(problemData()) },
			visible: []string{"Contoso Ltd", testTenantID, "2 December 2026 14:05 UTC", "no longer in your Microsoft 365 tenant",
				"can no longer join", "The service principal of the app was not found in the tenant.", testConsentURL, testSupport},
			links: []string{testConsentURL},
		},
		{
			name: "consent-revoked-hostile", kind: domain.EmailConsentRevoked, hostile: true,
			render: func(r *Renderer) (Message, error) { return r.ConsentRevoked(hostileProblemData()) },
			visible: []string{hostileImg + " Bcc: attacker@evil.example Link: http://evil.example/phish",
				`Graph said <iframe src="https://evil.example"></iframe> Link: http://evil.example/phish`},
			links: []string{testConsentURL},
		},
		{
			name: "consent-degraded", kind: domain.EmailConsentDegraded,
			render: func(r *Renderer) (Message, error) { return r.ConsentDegraded(degradedData()) },
			visible: []string{"Contoso Ltd", testTenantID, "2 December 2026 14:05 UTC", "Calls.AccessMedia.All", "OnlineMeetings.Read.All",
				"send and receive audio, video and screen sharing", "Some features fail", "The app-only token lacks 2 of 8 required roles.", testConsentURL, testSupport},
			links: []string{testConsentURL},
		},
		{
			name: "consent-degraded-hostile", kind: domain.EmailConsentDegraded, hostile: true,
			render:  func(r *Renderer) (Message, error) { return r.ConsentDegraded(hostileProblemData()) },
			visible: []string{hostileImg + " Bcc: attacker@evil.example Link: http://evil.example/phish", "<svg onload=alert(1)>", "Calls.AccessMedia.All"},
			links:   []string{testConsentURL},
		},
		{
			name: "consent-link-status", kind: domain.EmailConsentLink,
			render: func(r *Renderer) (Message, error) {
				d := linkData()
				d.StatusURL = testStatusURL
				return r.ConsentLink(d)
			},
			visible: []string{"Contoso Ltd", testLink, "Your setup checklist", testStatusURL},
			links:   []string{testLink, testStatusURL},
		},
		{
			name: "live", kind: domain.EmailLive,
			render: func(r *Renderer) (Message, error) {
				return r.Live(LiveData{CustomerName: "Contoso Ltd", TenantID: testTenantID, TenantKey: testTenantKey, LiveSince: testNow, StatusURL: testStatusURL})
			},
			visible: []string{"You're live", "Contoso Ltd", testTenantKey, testTenantID, "2 December 2026 14:05 UTC", testStatusURL, testSupport},
			links:   []string{testStatusURL},
		},
		{
			name: "live-hostile", kind: domain.EmailLive, hostile: true,
			render: func(r *Renderer) (Message, error) {
				return r.Live(LiveData{CustomerName: hostileCustomer, TenantID: testTenantID, TenantKey: "<b>" + testTenantKey + "</b>", LiveSince: testNow, StatusURL: hostileLink})
			},
			visible: []string{hostileCustomer, "<b>" + testTenantKey + "</b>"},
			links:   []string{hostileLink},
		},
		{
			name: "live-reminder", kind: domain.EmailLiveReminder,
			render: func(r *Renderer) (Message, error) {
				return r.LiveReminder(LiveReminderData{CustomerName: "Contoso Ltd", TenantID: testTenantID, ConsentedAt: testProvisioned,
					ScriptURL: testScriptURL, ScriptFileName: "onemeeting-cvi-482913057.ps1", StatusURL: testStatusURL})
			},
			visible: []string{"One step left", "Contoso Ltd", testTenantID, "23 November 2026", "onemeeting-cvi-482913057.ps1",
				"Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned", testScriptURL, testStatusURL, testSupport},
			links: []string{testScriptURL, testStatusURL},
		},
		{
			name: "live-reminder-hostile", kind: domain.EmailLiveReminder, hostile: true,
			render: func(r *Renderer) (Message, error) {
				return r.LiveReminder(LiveReminderData{CustomerName: hostileCustomer, TenantID: testTenantID, ScriptURL: hostileScriptURL,
					ScriptFileName: "onemeeting-cvi-482913057.ps1", StatusURL: hostileLink})
			},
			visible: []string{hostileCustomer},
			links:   []string{hostileScriptURL, hostileLink},
		},
		{
			name: "ops-alert", kind: domain.EmailOpsAlert,
			render: func(r *Renderer) (Message, error) { return r.OpsAlert(opsData()) },
			visible: []string{"Consent revoked for Contoso Ltd", "Revalidation found no service principal", "Status changed Consented -> Revoked",
				testTenantID, "Contoso Ltd", "2 December 2026 14:05 UTC", "fromStatus", "reval-20261202T1400Z", "toStatus", "Revoked"},
		},
		{
			name: "ops-alert-hostile", kind: domain.EmailOpsAlert, hostile: true,
			render: func(r *Renderer) (Message, error) { return r.OpsAlert(hostileOpsData()) },
			visible: []string{hostileScript + " Bcc: attacker@evil.example Link: http://evil.example/phish", "</p><script>window.__pwned=1</script>",
				"not-a-guid<b>", hostilePwn, "<b>key</b>", "<img src=x onerror=alert(1)>", "http://evil.example/phish Bcc: x@evil.example"},
		},
	}
}
