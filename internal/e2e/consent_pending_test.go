package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/onemeeting/cvi-onboarding/internal/dev/browser"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// fastRechecks: verify for 1 s in the callback, then re-check after 1, 2,
// 4 … seconds.
func fastRechecks(attempts string) map[string]string {
	return map[string]string{"CONSENT_VERIFY_TIMEOUT": "1s", "CONSENT_RECHECK_DELAY": "1s", "CONSENT_RECHECK_ATTEMPTS": attempts}
}

// opsAlerts are the ops emails about tenantID with subject in them (the
// sandbox and the ops address are shared by parallel tests).
func (s *stack) opsAlerts(tenantID, subject string, since int) []entrasim.SentMail {
	var out []entrasim.SentMail
	for _, m := range s.mailsTo("ops@videosrv.net", since) {
		if (strings.Contains(m.Subject, subject) || strings.Contains(m.HTMLBody, subject)) && strings.Contains(m.HTMLBody, tenantID) {
			out = append(out, m)
		}
	}
	return out
}

// Roles reach tokens only some seconds after consent (replication lag longer
// than the verify timeout): the page says the grant is still being applied,
// the tenant is pending, re-checks run, and it becomes Consented without the
// admin doing anything, with exactly one consent-confirmed email.
func TestConsentReplicationLagInBrowser(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{settings: fastRechecks("5")})
	id := newTenantID()
	link := s.provisioned(id)
	s.sb.SetTenant(id, entrasim.Scenario{RoleReplicationLag: 6 * time.Second})
	before := lastSeq(s.sb)

	ctx := browser.New(t, 90*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("accept")), chromedp.Click(chromedp.ID("accept"))); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 20*time.Second, "pending page", func() bool {
		return strings.Contains(browser.BodyText(t, ctx), "still applying the grant")
	})
	browser.Screenshot(t, ctx, "consent-pending")
	page := browser.BodyText(t, ctx)
	if strings.Contains(page, "Grant consent again") || !strings.Contains(page, "email you") {
		t.Errorf("pending page: %q", page)
	}
	tn := s.tenant(id)
	if tn.Status != domain.StatusProvisioned || !tn.VerificationPending || tn.VerificationPendingSince.IsZero() {
		t.Fatalf("after callback: %s pending=%v", tn.Status, tn.VerificationPending)
	}

	testkit.Eventually(t, 30*time.Second, "Consented after re-checks", func() bool { return s.tenant(id).Status == domain.StatusConsented })
	tn = s.tenant(id)
	if tn.VerificationPending || len(tn.GrantedRoles) != len(domain.RequiredGraphRoles) || len(tn.MissingRoles) != 0 {
		t.Fatalf("after re-checks: pending=%v roles=%v missing=%v", tn.VerificationPending, tn.GrantedRoles, tn.MissingRoles)
	}
	testkit.Eventually(t, 10*time.Second, "consent-confirmed email", func() bool { return s.confirmedMails(id, before) > 0 })
	// Let any re-check still scheduled run out: still one email, no alert.
	testkit.Eventually(t, 40*time.Second, "re-check chain to end", func() bool {
		return s.host.QueueStats("revalidation").Scheduled == 0
	})
	s.waitIdle()
	if n := s.confirmedMails(id, before); n != 1 {
		t.Errorf("consent-confirmed emails = %d, want 1", n)
	}
	if n := len(s.opsAlerts(id, "Consent verification incomplete", before)); n != 0 {
		t.Errorf("ops alerted %d times for a consent that completed", n)
	}
}

// Roles still missing after the last re-check (our own app registration
// lacks a permission): the admin is never told to consent again; operations
// get one alert naming the missing roles; the tenant ends Degraded.
func TestConsentRolesMissingAfterLastRecheck(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{settings: fastRechecks("2")})
	id := newTenantID()
	s.sb.SetTenant(id, entrasim.Scenario{GrantRoles: domain.RequiredGraphRoles[:6]})
	state := s.startConsent(s.provisioned(id))
	s.sb.Consent(id, euAppID) // as if Accept was clicked
	before := lastSeq(s.sb)
	resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "still applying the grant") || strings.Contains(body, "Grant consent again") {
		t.Fatalf("callback: %d %.300s", resp.StatusCode, body)
	}
	if tn := s.tenant(id); tn.Status != domain.StatusProvisioned || !tn.VerificationPending {
		t.Fatalf("after callback: %s pending=%v", tn.Status, tn.VerificationPending)
	}
	testkit.Eventually(t, 30*time.Second, "ops alert after the last re-check", func() bool {
		return len(s.opsAlerts(id, "Consent verification incomplete", before)) > 0
	})
	s.waitIdle()
	alerts := s.opsAlerts(id, "Consent verification incomplete", before)
	if len(alerts) != 1 {
		t.Fatalf("ops alerts = %d, want 1", len(alerts))
	}
	for _, missing := range domain.RequiredGraphRoles[6:] {
		if !strings.Contains(alerts[0].HTMLBody, missing) {
			t.Errorf("ops alert does not name %s", missing)
		}
	}
	tn := s.tenant(id)
	if tn.Status != domain.StatusDegraded || tn.VerificationPending || len(tn.MissingRoles) != 2 {
		t.Fatalf("tenant = %s pending=%v missing %v", tn.Status, tn.VerificationPending, tn.MissingRoles)
	}
	if mails := s.mailsTo(adminEmail(id), before); len(mails) != 0 {
		t.Errorf("the admin got %d emails (first: %q); operations own this", len(mails), mails[0].Subject)
	}
}

// A reload (or back-button return) of a confirmation page shows the
// recorded result again, without Graph and without changing anything.
func TestConsentConfirmationReload(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	link := s.provisioned(id)
	ctx := browser.New(t, 90*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("accept")),
		chromedp.Click(chromedp.ID("accept")), chromedp.WaitVisible(chromedp.ID("powershell"))); err != nil {
		t.Fatal(err)
	}
	tn := s.tenant(id)
	tokens := s.sb.Stats().TokenRequestsByTenant[id]
	auditBefore := len(s.audit(id))
	if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("powershell"))); err != nil {
		t.Fatalf("reload: %v (page: %.300s)", err, browser.BodyText(t, ctx))
	}
	browser.Screenshot(t, ctx, "consent-granted-reloaded")
	page := browser.BodyText(t, ctx)
	if !strings.Contains(page, "Consent granted") || !strings.Contains(page, tn.TenantKey) || strings.Contains(page, "already used") {
		t.Fatalf("reloaded page: %.300s", page)
	}
	if got := s.sb.Stats().TokenRequestsByTenant[id]; got != tokens {
		t.Errorf("reload asked for %d more tokens", got-tokens)
	}
	if after := s.tenant(id); after.ETag != tn.ETag {
		t.Error("reload changed the tenant record")
	}
	if got := len(s.audit(id)); got != auditBefore {
		t.Errorf("reload wrote %d audit events", got-auditBefore)
	}
}

// "Try again" on the declined page leads to Microsoft's consent page for
// that tenant (while the link works), also from an address shared with
// another tenant; once the link has expired the page says to ask support.
func TestConsentTryAgainLinkWorksForTheTenant(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id, other := newTenantID(), newTenantID()
	link := s.provisioned(id)
	s.provisioned(other) // 127.0.0.1 is shared egress: a token-less start is ambiguous
	state := s.startConsent(link)
	q := url.Values{"error": {"access_denied"}, "error_description": {"AADSTS65004: User declined to consent to access the app."}, "state": {state}}
	resp, body := s.callback(q)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("declined: %d", resp.StatusCode)
	}
	retry := retryHref(t, body)
	resp, _ = s.get(retry, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.Contains(loc, "/"+id+"/v2.0/adminconsent") {
		t.Fatalf("try again: %d %s", resp.StatusCode, loc)
	}
	// A reload of the declined page shows it again, with the same link.
	resp, again := s.callback(q)
	if resp.StatusCode != http.StatusOK || !strings.Contains(again, "Consent was not granted") || retryHref(t, again) != retry {
		t.Fatalf("reloaded declined page: %d %.300s", resp.StatusCode, again)
	}

	s.clock.Advance(s.cfg.ConsentLinkTTL + time.Hour)
	resp, _ = s.get(retry, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("try again after the link expired: %d", resp.StatusCode)
	}
	_, expired := s.callback(q)
	if strings.Contains(expired, `id="retry"`) || !strings.Contains(expired, "Your consent link has expired") || !strings.Contains(expired, s.cfg.SupportEmail) {
		t.Fatalf("declined page after expiry: %.500s", expired)
	}
}

func retryHref(t *testing.T, body string) string {
	t.Helper()
	const marker = `id="retry" href="`
	i := strings.Index(body, marker)
	if i < 0 {
		t.Fatalf("no try-again link: %.500s", body)
	}
	rest := body[i+len(marker):]
	href := strings.ReplaceAll(rest[:strings.Index(rest, `"`)], "&amp;", "&")
	if strings.HasPrefix(href, "/") {
		t.Fatalf("relative try-again link %q", href)
	}
	return href
}
