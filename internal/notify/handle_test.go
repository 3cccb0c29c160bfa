package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// customer stores a tenant in status st (live when live) and returns it.
func customer(t *testing.T, store *tablestore.Store, st domain.Status, live bool) *domain.Tenant {
	t.Helper()
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: testkit.GUID(t), Status: st, StatusChanged: now, CustomerName: "Contoso", Region: "eu",
		AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", TenantKey: "482913057@eu.teams.videosrv.net", TenantKeyCode: "482913057",
		InstructionURI: "https://join.example/api/join/482913057?conf={ConfId}", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		Contacts: []domain.Contact{{Name: "IT", Email: "admin@contoso.com", Role: domain.RoleAdmin}}, CreatedAt: now, UpdatedAt: now}
	if live {
		tn.LiveSince, tn.LastInviteSeen = now, now
	}
	if err := store.CreateTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	return tn
}

func encode(t *testing.T, job domain.EmailJob) []byte {
	t.Helper()
	b, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withLinks(s *Service, store *tablestore.Store) {
	base, _ := url.Parse("https://onboard.example/")
	s.Links = &consent.Service{Store: store, PublicBaseURL: base, ConsentAuthorityURL: "https://login.example/", LinkTTL: time.Hour,
		Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
}

// A job the tenant's current state no longer calls for is completed as
// skipped without sending; a repeat of it (another message) is then a
// duplicate.
func TestJobThatNoLongerAppliesIsSkipped(t *testing.T) {
	t.Parallel()
	s, sender, pub, store := newService(t, time.Minute)
	withLinks(s, store)
	ctx := context.Background()
	cases := []struct {
		name string
		job  func(tn *domain.Tenant) domain.EmailJob
		st   domain.Status
		live bool
	}{
		{"reminder after consent", func(tn *domain.Tenant) domain.EmailJob {
			return domain.ConsentReminderJob(tn.TenantID, []string{"admin@contoso.com"}, "CRM-1")
		}, domain.StatusConsented, false},
		{"consent link to a Degraded tenant", func(tn *domain.Tenant) domain.EmailJob {
			return domain.ConsentLinkJob(tn.TenantID, []string{"admin@contoso.com"})
		}, domain.StatusDegraded, false},
		{"confirmation before consent", func(tn *domain.Tenant) domain.EmailJob { return domain.ConsentConfirmedJob(tn, time.Now()) },
			domain.StatusProvisioned, false},
		{"live email for a tenant not live", func(tn *domain.Tenant) domain.EmailJob {
			return domain.LiveJob(tn.TenantID, []string{"admin@contoso.com"})
		}, domain.StatusConsented, false},
		{"live reminder for a live tenant", func(tn *domain.Tenant) domain.EmailJob {
			return domain.LiveReminderJob(tn.TenantID, []string{"admin@contoso.com"})
		}, domain.StatusConsented, true},
	}
	for _, c := range cases {
		tn := customer(t, store, c.st, c.live)
		job := c.job(tn)
		out, err := s.Handle(ctx, encode(t, job), "m-"+c.name)
		if err != nil || out != OutcomeSkipped {
			t.Errorf("%s: %s, %v; want skipped", c.name, out, err)
			continue
		}
		if rec, err := store.GetMail(ctx, job.IdempotencyKey); err != nil || rec.Status != StatusSkipped || rec.Detail == "" {
			t.Errorf("%s: mail record %+v, %v; want skipped with the reason", c.name, rec, err)
		}
		if out, err := s.Handle(ctx, encode(t, job), "again-"+c.name); err != nil || out != OutcomeDuplicate {
			t.Errorf("%s repeated: %s, %v; want a duplicate", c.name, out, err)
		}
	}
	if n := sender.count(); n != 0 {
		t.Errorf("sent %d emails; want none", n)
	}
	if n := pub.Count(""); n != 0 {
		t.Errorf("published %d jobs; want none", n)
	}
}

// A job that applies is sent once: a repeat of it (the same key in another
// message, e.g. the sweep re-queueing it) is a duplicate and sends nothing.
// The status page's "consent again" link also reaches a Degraded tenant,
// with a freshly minted consent link.
func TestRepeatOfASentJobIsADuplicate(t *testing.T) {
	t.Parallel()
	s, sender, _, store := newService(t, time.Minute)
	withLinks(s, store)
	ctx := context.Background()
	live := customer(t, store, domain.StatusConsented, true)
	degraded := customer(t, store, domain.StatusDegraded, false)
	for _, job := range []domain.EmailJob{
		domain.LiveJob(live.TenantID, []string{"admin@contoso.com"}),
		domain.ConsentAgainJob(degraded.TenantID, []string{"admin@contoso.com"}, time.Now()),
	} {
		before := sender.count()
		if out, err := s.Handle(ctx, encode(t, job), "first-"+job.IdempotencyKey); err != nil || out != OutcomeSent {
			t.Fatalf("%s: %s, %v; want sent", job.IdempotencyKey, out, err)
		}
		if out, err := s.Handle(ctx, encode(t, job), "repeat-"+job.IdempotencyKey); err != nil || out != OutcomeDuplicate {
			t.Fatalf("%s repeated: %s, %v; want a duplicate", job.IdempotencyKey, out, err)
		}
		if sender.count() != before+1 {
			t.Fatalf("%s: sent %d times", job.IdempotencyKey, sender.count()-before)
		}
		if rec, err := store.GetMail(ctx, job.IdempotencyKey); err != nil || rec.Status != StatusSent {
			t.Fatalf("%s: mail record %+v, %v", job.IdempotencyKey, rec, err)
		}
	}
	sender.mu.Lock()
	defer sender.mu.Unlock()
	if m := sender.sent[1]; m.Kind != domain.EmailConsentLink || len(m.To) != 1 || m.To[0] != "admin@contoso.com" || !strings.Contains(m.Text, "https://onboard.example/") {
		t.Errorf("consent-again email %q to %v; want a consent link", m.Subject, m.To)
	}
	if tn, _ := store.GetTenant(ctx, degraded.TenantID); tn.InviteHash == "" {
		t.Error("no consent link was minted for the email")
	}
}

// failingSender fails every send with err.
type failingSender struct{ err error }

func (f failingSender) SendMail(context.Context, domain.OutgoingMail) error { return f.err }

// A permanent failure is recorded and reported to operations once per job
// (its key names the failed job); an ops alert that fails is not alerted
// about. A transient one releases the claim for the retry and alerts no one.
func TestSendFailures(t *testing.T) {
	t.Parallel()
	s, _, pub, store := newService(t, time.Minute)
	ctx := context.Background()
	tn := customer(t, store, domain.StatusConsented, true)
	job := domain.LiveJob(tn.TenantID, []string{"admin@contoso.com"})

	s.Sender = failingSender{domain.Errorf(domain.CodeUnavailable, "mail service busy")}
	if _, err := s.Handle(ctx, encode(t, job), "m-1"); !domain.IsTransient(err) {
		t.Fatalf("transient failure: %v; want it returned", err)
	}
	if rec, _ := store.GetMail(ctx, job.IdempotencyKey); rec == nil || rec.Status != StatusRetry || !strings.Contains(rec.Detail, "busy") {
		t.Fatalf("after a transient failure: %+v; want released for retry", rec)
	}
	if n := pub.Count(""); n != 0 {
		t.Fatalf("a transient failure published %d jobs", n)
	}

	s.Sender = failingSender{domain.Errorf(domain.CodeInvalid, "mailbox refused: %s", strings.Repeat("é", 3000))}
	if out, err := s.Handle(ctx, encode(t, job), "m-1"); err != nil || out != OutcomeFailed {
		t.Fatalf("permanent failure: %s, %v", out, err)
	}
	alerts := pub.Jobs("")
	if len(alerts) != 1 || alerts[0].Kind != domain.EmailOpsAlert || alerts[0].IdempotencyKey != "ops-alert:email-failed:"+job.IdempotencyKey ||
		alerts[0].TenantID != tn.TenantID || alerts[0].Alert == nil || alerts[0].Alert.Facts["idempotencyKey"] != job.IdempotencyKey ||
		len(alerts[0].Alert.Detail) > 2000 || len(alerts[0].Recipients) != 1 {
		t.Fatalf("alerts %+v", alerts)
	}
	if _, err := domain.DecodeEmailJob(encode(t, alerts[0])); err != nil {
		t.Fatalf("the alert is not a valid job: %v", err)
	}
	if rec, _ := store.GetMail(ctx, job.IdempotencyKey); rec == nil || rec.Status != StatusFailed {
		t.Fatalf("after a permanent failure: %+v", rec)
	}

	if out, err := s.Handle(ctx, alertJob("ops-alert:failing"), "m-2"); err != nil || out != OutcomeFailed {
		t.Fatalf("failing ops alert: %s, %v", out, err)
	}
	if n := pub.Count(""); n != 1 {
		t.Fatalf("a failed ops alert was alerted about (%d jobs)", n)
	}

	// A job for a tenant that does not exist can never be sent.
	missing := domain.LiveJob(testkit.GUID(t), []string{"admin@contoso.com"})
	if out, err := s.Handle(ctx, encode(t, missing), "m-3"); err != nil || out != OutcomeFailed {
		t.Fatalf("missing tenant: %s, %v", out, err)
	}
	if n := pub.Count("ops-alert:email-failed:" + missing.IdempotencyKey); n != 1 {
		t.Fatalf("missing tenant: %d alerts", n)
	}
}
