package revalidation

import (
	"context"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
)

// The sweep completes a Provisioned tenant's consent link that provisioning
// never sent: the very job provisioning would have published (same key),
// under a message ID of its own per run; once the key is handled, no run
// re-queues it.
func TestSweepRequeuesTheMissingConsentLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(consented))
	e.svc.SweepGrace = time.Minute
	tn := e.tenant(domain.StatusProvisioned, time.Time{}, func(t *domain.Tenant) {
		t.CreatedAt, t.LastRequestID = t.CreatedAt.Add(-time.Hour), "req-1"
	})
	want := domain.ConsentLinkJob(tn.TenantID, []string{"admin@contoso.example"})
	for _, run := range []string{"run-a", "run-b"} {
		if _, err := e.svc.StartRun(context.Background(), run, "timer"); err != nil {
			t.Fatal(err)
		}
	}
	sent := e.out.Sent()
	if len(sent) != 2 {
		t.Fatalf("%d jobs re-queued by two runs, want 2: %+v", len(sent), sent)
	}
	for i, run := range []string{"run-a", "run-b"} {
		s := sent[i]
		if s.Job.IdempotencyKey != want.IdempotencyKey || s.Job.Kind != domain.EmailConsentLink || s.MessageID != "sweep:"+domain.Digest(want.IdempotencyKey+"\n"+run, 16) {
			t.Errorf("%s re-queued %+v under %s", run, s.Job, s.MessageID)
		}
	}
	if sent[0].MessageID == sent[1].MessageID || len(sent[0].MessageID) != len("sweep:")+32 {
		t.Errorf("sweep message IDs %q, %q: want one per run, sweep:+32 hex", sent[0].MessageID, sent[1].MessageID)
	}
	if len(e.out.Scheduled()) != 0 {
		t.Error("a never-consented tenant was scheduled for a check")
	}

	if err := e.store.ClaimMail(context.Background(), &domain.MailRecord{Key: want.IdempotencyKey, Status: "sent", Kind: want.Kind, TenantID: tn.TenantID,
		UpdatedAt: time.Now().UTC().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartRun(context.Background(), "run-c", "timer"); err != nil {
		t.Fatal(err)
	}
	if n := len(e.out.Sent()); n != 2 {
		t.Errorf("a sent consent link was re-queued: %d jobs", n)
	}
}

// A consented tenant not live after LiveReminderAfter gets the one live
// reminder (domain.LiveReminderJob's key); a live tenant whose "you're live"
// email was never handled gets that one re-queued (domain.LiveJob's key).
func TestSweepLiveEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(consented))
	e.svc.SweepGrace, e.svc.LiveReminderAfter = time.Minute, 24*time.Hour
	quiet := e.tenant(domain.StatusConsented, time.Time{}, func(t *domain.Tenant) { t.ConsentedAt = time.Now().UTC().Add(-48 * time.Hour) })
	live := e.tenant(domain.StatusConsented, time.Time{}, func(t *domain.Tenant) {
		t.ConsentedAt, t.LiveSince = time.Now().UTC().Add(-48*time.Hour), time.Now().UTC().Add(-time.Hour)
	})
	e.tenant(domain.StatusConsented, time.Time{}, func(t *domain.Tenant) { t.ConsentedAt = time.Now().UTC().Add(-time.Hour) }) // not due
	run, err := e.svc.StartRun(context.Background(), "run-live", "timer")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]outboxtest.Sent{}
	for _, s := range e.out.Sent() {
		got[s.Job.IdempotencyKey] = s
	}
	if len(got) != 2 {
		t.Fatalf("jobs = %+v, want the reminder and the live email", got)
	}
	if s, ok := got["live-reminder:"+quiet.TenantID]; !ok || s.Job.Kind != domain.EmailLiveReminder || s.MessageID != sweepMessageID(s.Job.IdempotencyKey, run.RunID) {
		t.Errorf("live reminder = %+v", s)
	}
	if s, ok := got["live:"+live.TenantID]; !ok || s.Job.Kind != domain.EmailLive || s.MessageID != sweepMessageID(s.Job.IdempotencyKey, run.RunID) {
		t.Errorf("live email = %+v", s)
	}
	if run.Tenants != 3 {
		t.Errorf("run checked %d tenants, want 3 (the sweep rides along)", run.Tenants)
	}
}
