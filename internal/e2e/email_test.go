package e2e

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/devhost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/sandbox"
)

// A redelivered email job (same idempotency key, new message ID, so Service
// Bus duplicate detection cannot help) is sent once.
func TestEmailJobDeliveredTwiceSendsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	s.provisioned(id)
	before := lastSeq(s.sb)
	job := mustJSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, TenantID: id, Recipients: []string{adminEmail(id)},
		IdempotencyKey: "ops-alert:test:" + id, Alert: &domain.Alert{Subject: "Test alert", Detail: "twice"}})
	for i := range 3 {
		if _, err := s.host.Enqueue(queue.Email, devhost.Message{MessageID: "copy-" + itoa(i), Body: job}); err != nil {
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
	job := mustJSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: id, Recipients: []string{adminEmail(id)},
		IdempotencyKey: "consent-reminder:" + id + ":test"})
	if _, err := s.host.Enqueue(queue.Email, devhost.Message{MessageID: "reminder-" + id, Body: job}); err != nil {
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
	job = mustJSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: waiting, Recipients: []string{adminEmail(waiting)},
		IdempotencyKey: "consent-reminder:" + waiting + ":test"})
	if _, err := s.host.Enqueue(queue.Email, devhost.Message{MessageID: "reminder-" + waiting, Body: job}); err != nil {
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
	s.sb.SetTenant(id, sandbox.Scenario{Faults: sandbox.Faults{Status503: true}})
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
