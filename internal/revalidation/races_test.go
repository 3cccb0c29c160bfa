package revalidation

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
)

// raceAzurite is one Azurite for this file's tests, started on first use
// (no TestMain, so other test files of the package can have their own); the
// kernel stops it with the test binary (azurite's Pdeathsig).
var raceAzurite = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return "", fmt.Errorf("cannot start Azurite for the revalidation tests: %w", err)
	}
	return srv.ConnectionString(), nil
})

func raceGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

type racePublisher struct {
	mu   sync.Mutex
	msgs map[string][]queue.Message
}

func (p *racePublisher) Publish(_ context.Context, q string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]queue.Message{}
	}
	p.msgs[q] = append(p.msgs[q], msgs...)
	return nil
}

func (p *racePublisher) Close(context.Context) error { return nil }

func (p *racePublisher) get(q string) []queue.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]queue.Message(nil), p.msgs[q]...)
}

// emails are the email jobs of kind published so far.
func (p *racePublisher) emails(t *testing.T, kind domain.EmailKind) []*domain.EmailJob {
	t.Helper()
	var out []*domain.EmailJob
	for _, m := range p.get(queue.Email) {
		job, err := domain.DecodeEmailJob(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		if job.Kind == kind {
			out = append(out, job)
		}
	}
	return out
}

type raceChecker struct {
	check func() (domain.ConsentCheck, error)
}

func (c raceChecker) CheckConsent(context.Context, string, string, domain.CheckOptions) (domain.ConsentCheck, error) {
	return c.check()
}

type raceEnv struct {
	t     *testing.T
	store *tablestore.Store
	pub   *racePublisher
	svc   *Service
}

func newRaceEnv(t *testing.T, check func() (domain.ConsentCheck, error)) *raceEnv {
	t.Helper()
	prefix := make([]byte, 10)
	_, _ = rand.Read(prefix)
	for i := range prefix {
		prefix[i] = 'a' + prefix[i]%26
	}
	conn, err := raceAzurite()
	if err != nil {
		t.Fatal(err)
	}
	store, err := tablestore.NewFromConnectionString(conn, tablestore.Options{TablePrefix: string(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := &raceEnv{t: t, store: store, pub: &racePublisher{}}
	e.svc = &Service{Store: store, Checker: raceChecker{check}, Publisher: e.pub, OpsEmails: []string{"ops@example.net"}, BatchSize: 10, Concurrency: 2,
		AlertAfter: 3, Attempts: 1, Rechecks: domain.RecheckSchedule{First: time.Minute, Attempts: 3}, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	return e
}

func (e *raceEnv) tenant(status domain.Status, pendingSince time.Time) *domain.Tenant {
	e.t.Helper()
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: raceGUID(), Status: status, StatusChanged: now, CustomerName: "Contoso", Region: "eu", AppID: raceGUID(),
		TenantKey: "1@eu.example", TenantKeyCode: "1", InstructionURI: "https://join.example/1",
		Contacts: []domain.Contact{{Email: "admin@contoso.example", Role: domain.RoleAdmin}}, CreatedAt: now, UpdatedAt: now}
	if !pendingSince.IsZero() {
		tn.VerificationPending, tn.VerificationPendingSince = true, pendingSince
	}
	if err := e.store.CreateTenant(context.Background(), tn); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

func (e *raceEnv) suspend(id string) {
	e.t.Helper()
	if _, err := domain.UpdateTenant(context.Background(), e.store, id, func(t *domain.Tenant) (bool, error) {
		return t.SetStatus(domain.StatusSuspended, "operator", time.Now().UTC())
	}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *raceEnv) get(id string) *domain.Tenant {
	e.t.Helper()
	t, err := e.store.GetTenant(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

// handle delivers one revalidation message.
func (e *raceEnv) handle(b domain.RevalidationBatch) {
	e.t.Helper()
	body, _ := raceJSON(b)
	if _, err := e.svc.HandleBatch(context.Background(), body); err != nil {
		e.t.Fatal(err)
	}
}

var raceLagging = domain.ConsentCheck{Outcome: domain.CheckDegraded, SPEnabled: true, Roles: domain.RequiredGraphRoles[:6],
	MissingRoles: domain.RequiredGraphRoles[6:], Detail: "missing roles"}

var raceConsented = domain.ConsentCheck{Outcome: domain.CheckConsented, SPEnabled: true, Roles: domain.RequiredGraphRoles}

// A check reads the tenant, asks Graph, then writes: an operator's suspend
// in between wins, for every outcome that would change the status.
func TestCheckRacingSuspendLeavesItSuspended(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		from    domain.Status
		pending bool
		check   domain.ConsentCheck
	}{
		{"revoked", domain.StatusConsented, false, domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not found"}},
		{"consented", domain.StatusDegraded, false, raceConsented},
		{"pending-consented", domain.StatusProvisioned, true, raceConsented},
		{"pending-last-recheck", domain.StatusProvisioned, true, raceLagging},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var e *raceEnv
			var id string
			e = newRaceEnv(t, func() (domain.ConsentCheck, error) {
				e.suspend(id)
				return tc.check, nil
			})
			since := time.Time{}
			if tc.pending {
				since = time.Now().UTC().Add(-time.Hour)
			}
			tn := e.tenant(tc.from, since)
			id = tn.TenantID
			o := CheckOptions{RunID: "manual", Actor: "operator:x"}
			if tc.pending {
				o.Recheck = &domain.Recheck{Since: since, Attempt: 3}
			}
			out, err := e.svc.CheckTenant(context.Background(), id, o)
			if err != nil {
				t.Fatal(err)
			}
			got := e.get(id)
			if got.Status != domain.StatusSuspended || got.SuspendedFrom != tc.from || out.Transition {
				t.Fatalf("after the race: %s (from %s), transition=%v", got.Status, got.SuspendedFrom, out.Transition)
			}
			for _, kind := range []domain.EmailKind{domain.EmailConsentConfirmed, domain.EmailConsentRevoked, domain.EmailConsentDegraded} {
				if n := len(e.pub.emails(t, kind)); n != 0 {
					t.Errorf("%d %s emails for a suspended tenant", n, kind)
				}
			}
		})
	}
}

// The re-check chain: while the grant is not visible, each re-check keeps
// the tenant pending and schedules the next with a doubled delay; a stale
// chain schedules nothing; the last re-check alerts operations naming the
// missing roles and records Degraded, without a customer email.
func TestRecheckChain(t *testing.T) {
	t.Parallel()
	e := newRaceEnv(t, func() (domain.ConsentCheck, error) { return raceLagging, nil })
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	tn := e.tenant(domain.StatusProvisioned, since)

	before := time.Now()
	e.handle(domain.RecheckBatch(tn.TenantID, since, 1))
	msgs := e.pub.get(queue.Revalidation)
	if len(msgs) != 1 {
		t.Fatalf("after re-check 1: %d scheduled, want 1", len(msgs))
	}
	if d := msgs[0].ScheduledAt.Sub(before); d < 2*time.Minute-time.Second || d > 2*time.Minute+5*time.Second {
		t.Errorf("re-check 2 scheduled in %s, want 2m", d)
	}
	if got := e.get(tn.TenantID); got.Status != domain.StatusProvisioned || !got.VerificationPending || got.LastCheckOutcome != "pending" {
		t.Fatalf("after re-check 1: %s pending=%v outcome %s", got.Status, got.VerificationPending, got.LastCheckOutcome)
	}
	// A re-check of an earlier pending verification starts no second chain.
	e.handle(domain.RecheckBatch(tn.TenantID, since.Add(-time.Hour), 1))
	if n := len(e.pub.get(queue.Revalidation)); n != 1 {
		t.Errorf("a stale re-check scheduled another: %d", n)
	}

	e.handle(domain.RecheckBatch(tn.TenantID, since, 3))
	got := e.get(tn.TenantID)
	if got.Status != domain.StatusDegraded || got.VerificationPending || len(got.MissingRoles) != 2 {
		t.Fatalf("after the last re-check: %s pending=%v missing %v", got.Status, got.VerificationPending, got.MissingRoles)
	}
	alerts := e.pub.emails(t, domain.EmailOpsAlert)
	if len(alerts) != 1 || !strings.Contains(alerts[0].Alert.Detail, domain.RequiredGraphRoles[6]) || !strings.Contains(alerts[0].Alert.Detail, domain.RequiredGraphRoles[7]) {
		t.Fatalf("ops alerts = %+v", alerts)
	}
	if n := len(e.pub.emails(t, domain.EmailConsentDegraded)); n != 0 {
		t.Errorf("the customer was asked to consent again (%d degraded emails)", n)
	}
	if n := len(e.pub.get(queue.Revalidation)); n != 1 {
		t.Errorf("the last re-check scheduled another: %d", n)
	}
}

// A re-check that finds the grant makes the tenant Consented and queues the
// promised consent-confirmed email once, however often it is delivered.
func TestRecheckFindsGrant(t *testing.T) {
	t.Parallel()
	e := newRaceEnv(t, func() (domain.ConsentCheck, error) { return raceConsented, nil })
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	tn := e.tenant(domain.StatusProvisioned, since)
	e.handle(domain.RecheckBatch(tn.TenantID, since, 2))
	e.handle(domain.RecheckBatch(tn.TenantID, since, 2)) // redelivered
	got := e.get(tn.TenantID)
	if got.Status != domain.StatusConsented || got.VerificationPending || got.ConsentedAt.IsZero() {
		t.Fatalf("after the re-check: %s pending=%v", got.Status, got.VerificationPending)
	}
	confirmed := e.pub.emails(t, domain.EmailConsentConfirmed)
	if len(confirmed) != 1 {
		t.Fatalf("consent-confirmed emails = %d, want 1", len(confirmed))
	}
	if n := len(e.pub.get(queue.Revalidation)); n != 0 {
		t.Errorf("%d re-checks scheduled after the grant was found", n)
	}
}

func raceJSON(v any) ([]byte, error) { return json.Marshal(v) }

// A redelivered batch whose first delivery made a transition queues the
// customer email again under the same key (so a delivery that stopped
// between the write and the email still sends it, and once).
func TestRedeliveredTransitionNotifiesOnce(t *testing.T) {
	t.Parallel()
	e := newRaceEnv(t, func() (domain.ConsentCheck, error) {
		return domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not found"}, nil
	})
	tn := e.tenant(domain.StatusConsented, time.Time{})
	b := domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-1", TenantIDs: []string{tn.TenantID}}
	e.handle(b)
	e.handle(b)
	if got := e.get(tn.TenantID); got.Status != domain.StatusRevoked {
		t.Fatalf("status = %s", got.Status)
	}
	revoked := e.pub.emails(t, domain.EmailConsentRevoked)
	if len(revoked) != 2 || revoked[0].IdempotencyKey != revoked[1].IdempotencyKey {
		t.Fatalf("revoked emails = %+v, want the same key twice", revoked)
	}
	// Another run finds nothing new to say.
	e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-2", TenantIDs: []string{tn.TenantID}})
	if n := len(e.pub.emails(t, domain.EmailConsentRevoked)); n != 2 {
		t.Errorf("a later run queued another revoked email: %d", n)
	}
}
