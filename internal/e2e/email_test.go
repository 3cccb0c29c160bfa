package e2e

import (
	"bytes"
	"context"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// A redelivered email job (same idempotency key, new message ID, so Service
// Bus duplicate detection cannot help) is sent once.
func TestEmailJobDeliveredTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.provisioned(id)
	before := lastSeq(s.sb)
	job := testkit.JSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, TenantID: id, Recipients: []string{adminEmail(id)},
		IdempotencyKey: "ops-alert:test:" + id, Alert: &domain.Alert{Subject: "Test alert", Detail: "twice"}})
	for i := range 3 {
		if _, err := s.host.Enqueue(queue.Email, funchost.Message{MessageID: "copy-" + itoa(i), Body: job}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIdle()
	if got := len(s.mailsTo(adminEmail(id), before)); got != 1 {
		t.Fatalf("emails sent = %d, want 1", got)
	}
}

// The reminder is sent only while the tenant is still not consented.
func TestReminderSkippedAfterConsent(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.consentedTenant(id)
	before := lastSeq(s.sb)
	job := testkit.JSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: id, Recipients: []string{adminEmail(id)},
		IdempotencyKey: "consent-reminder:" + id + ":test"})
	if _, err := s.host.Enqueue(queue.Email, funchost.Message{MessageID: "reminder-" + id, Body: job}); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	if got := len(s.mailsTo(adminEmail(id), before)); got != 0 {
		t.Fatalf("reminder sent to a consented tenant (%d emails)", got)
	}

	// A tenant still waiting gets it, with a fresh working link.
	waiting := newTenantID()
	s.provisioned(waiting)
	before = lastSeq(s.sb)
	job = testkit.JSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: waiting, Recipients: []string{adminEmail(waiting)},
		IdempotencyKey: "consent-reminder:" + waiting + ":test"})
	if _, err := s.host.Enqueue(queue.Email, funchost.Message{MessageID: "reminder-" + waiting, Body: job}); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	mails := s.mailsTo(adminEmail(waiting), before)
	if len(mails) != 1 {
		t.Fatalf("reminders = %d, want 1", len(mails))
	}
	link := linkPattern.FindString(mails[0].HTMLBody)
	if resp, _ := s.get(link, nil); resp.StatusCode != http.StatusFound {
		t.Fatalf("reminder link: %d", resp.StatusCode)
	}
}

// Consent that Graph does not show yet (replication delay) is recorded as
// pending after the verify timeout, and a re-check is scheduled.
func TestConsentVerificationPending(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	state := s.startConsent(s.provisioned(id))
	// Microsoft redirected with success, but the check cannot conclude yet
	// (the identity platform answers 503). A tenant still without our
	// service principal after the wait is "not granted" instead (verdicts_test.go).
	s.sb.Consent(id, euAppID)
	s.sb.SetTenant(id, entrasim.Scenario{Faults: entrasim.Faults{Status503: true}})
	start := time.Now()
	resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}})
	if resp.StatusCode != http.StatusAccepted || time.Since(start) < time.Second { // it retried for replication delay first
		t.Fatalf("pending page: %d after %s: %.200s", resp.StatusCode, time.Since(start), body)
	}
	tn := s.tenant(id)
	if tn.Status != domain.StatusProvisioned || !tn.VerificationPending {
		t.Fatalf("tenant = %s pending=%v", tn.Status, tn.VerificationPending)
	}
	if st := s.host.QueueStats(queue.Revalidation); st.Scheduled != 1 {
		t.Fatalf("scheduled re-checks = %d, want 1", st.Scheduled)
	}
}

// The consent-confirmed email, as the local outbox holds it, is
// multipart/alternative with a text part and no attachment (Outlook blocks
// .ps1), and links to the script download; the download serves the script
// whose InstructionUri carries {ConfId} (issue 10 items 7-10).
func TestConsentConfirmedEmailLinksToScriptDownload(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	before := lastSeq(s.sb)
	s.consentedTenant(id)
	tn := s.tenant(id)
	var confirmed *entrasim.SentMail
	testkit.Eventually(t, 10*time.Second, "consent-confirmed email", func() bool {
		for _, m := range s.mailsTo(adminEmail(id), before) {
			if m.Kind == string(domain.EmailConsentConfirmed) {
				confirmed = &m
				return true
			}
		}
		return false
	})
	if !strings.HasSuffix(confirmed.EMLPath, "-consent-confirmed.eml") {
		t.Fatalf("outbox file %q", confirmed.EMLPath)
	}
	raw, err := os.ReadFile(confirmed.EMLPath)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("outbox .eml does not parse: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	bodies := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if p.FileName() != "" || strings.HasPrefix(pt, "multipart/") {
			t.Errorf("unexpected part %s %q", pt, p.FileName())
		}
		b, _ := io.ReadAll(p)
		bodies[pt] = string(b)
	}
	if len(bodies) != 2 || bodies["text/plain"] == "" || bodies["text/html"] == "" {
		t.Fatalf("parts %v, want text/plain and text/html", slices.Collect(maps.Keys(bodies)))
	}
	if bytes.Contains(raw, []byte(".ps1\"")) || bytes.Contains(bytes.ToLower(raw), []byte("content-disposition: attachment")) {
		t.Error("the email carries an attachment")
	}
	link := regexp.MustCompile(`Download the PowerShell script: (\S+)`).FindStringSubmatch(bodies["text/plain"])
	if link == nil {
		t.Fatalf("text part lacks the download link:\n%s", bodies["text/plain"])
	}
	if !strings.Contains(bodies["text/html"], `href="`+strings.ReplaceAll(link[1], "&", "&amp;")+`"`) {
		t.Error("HTML part lacks the download link")
	}
	for _, want := range []string{"Video ID", "Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned", "?conf={ConfId}"} {
		if !strings.Contains(bodies["text/plain"], want) {
			t.Errorf("text part lacks %q", want)
		}
	}

	// The download, through the local Functions host.
	resp, script := s.get(link[1], nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d %.300s", resp.StatusCode, script)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("download Content-Type %q", ct)
	}
	if _, dp, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err != nil || dp["filename"] != "onemeeting-cvi-"+tn.TenantKeyCode+".ps1" {
		t.Errorf("Content-Disposition %q", resp.Header.Get("Content-Disposition"))
	}
	instr := s.cfg.PublicBaseURL.String() + "/api/join/" + tn.TenantKeyCode + "?conf={ConfId}"
	for _, want := range []string{"    InstructionUri = '" + instr + "'\r\n", "Set-ExecutionPolicy -Scope Process -ExecutionPolicy RemoteSigned -Force\r\n",
		"Get-CsVideoInteropServiceProvider | Where-Object { $_.Identity -eq 'Pexip' }", "Connect-MicrosoftTeams -TenantId '" + id + "'"} {
		if !strings.Contains(script, want) {
			t.Errorf("downloaded script lacks %q", want)
		}
	}
	if strings.Contains(script, tn.CustomerName) {
		t.Error("the download shows the customer name")
	}
	// Nothing for a wrong, missing or other tenant's ID.
	other := newTenantID()
	s.consentedTenant(other)
	base := s.host.URL() + "/api/join/" + tn.TenantKeyCode + "/powershell"
	for _, q := range []string{"", "?tenant=" + newTenantID(), "?tenant=" + other, "?tenant=not-a-guid"} {
		if resp, body := s.get(base+q, nil); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "New-Cs") {
			t.Errorf("download %q: %d", q, resp.StatusCode)
		}
	}

	// The instruction URI as Teams fills it in, and as it is when opened
	// outside an invite.
	resp, page := s.get(strings.Replace(instr, "{ConfId}", "123456789", 1), nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "123456789."+tn.TenantKeyCode+"@eu.teams.videosrv.net") || !strings.Contains(page, tn.TenantKey) {
		t.Errorf("join page with a Video ID: %d, no direct-dial address", resp.StatusCode)
	}
	resp, page = s.get(instr, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "name a meeting. Open it from the meeting invite") || strings.Contains(page, "ConfId") {
		t.Errorf("join page with the unreplaced placeholder: %d\n%.2000s", resp.StatusCode, page)
	}
	resp, page = s.get(strings.Replace(instr, "{ConfId}", "12%3Cb%3EPHISH", 1), nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, "PHISH") || !strings.Contains(page, "t a Video ID. Enter the digits") {
		t.Errorf("join page with a bad Video ID: %d, reflected or not flagged", resp.StatusCode)
	}
}

// A tenant stored before the {ConfId} placeholder keeps a working join page,
// and its script and admin view give the current InstructionUri, so running
// the script again upgrades the provider.
func TestTenantWithOldInstructionURI(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.consentedTenant(id)
	old := s.cfg.PublicBaseURL.String() + "/api/join/" + s.tenant(id).TenantKeyCode
	if _, err := domain.UpdateTenant(context.Background(), s.app.Store, id, func(t *domain.Tenant) (bool, error) {
		t.InstructionURI = old
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	tn := s.tenant(id)
	if tn.InstructionURI != old {
		t.Fatalf("stored URI %q", tn.InstructionURI)
	}
	if resp, page := s.get(old, nil); resp.StatusCode != http.StatusOK || !strings.Contains(page, tn.TenantKey) {
		t.Errorf("old join link: %d", resp.StatusCode)
	}
	resp, script := s.get(s.host.URL()+"/api/join/"+tn.TenantKeyCode+"/powershell?tenant="+id, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(script, "    InstructionUri = '"+old+"?conf={ConfId}'\r\n") {
		t.Errorf("script for an old tenant: %d, InstructionUri not upgraded", resp.StatusCode)
	}
}
