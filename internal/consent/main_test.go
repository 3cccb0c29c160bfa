package consent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// The consent tests run against the test binary's one Azurite (testkit);
// they fail, never skip, when it cannot start.
func TestMain(m *testing.M) { testkit.Main(m) }

// outbox records what the service hands to the queues, each job and batch
// checked as the queue functions will decode it.
type outbox struct {
	mu        sync.Mutex
	sent      []domain.EmailJob
	scheduled []scheduledBatch
}

type scheduledBatch struct {
	Batch domain.RevalidationBatch
	At    time.Time
}

var _ domain.Outbox = (*outbox)(nil)

func (o *outbox) SendEmail(_ context.Context, job domain.EmailJob, _ time.Time) error {
	body, err := json.Marshal(job)
	if err != nil {
		return err
	}
	if _, err := domain.DecodeEmailJob(body); err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, job)
	return nil
}

func (o *outbox) ScheduleRevalidation(_ context.Context, batches []domain.RevalidationBatch, at func(int) time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, b := range batches {
		body, err := json.Marshal(b)
		if err != nil {
			return err
		}
		decoded, err := domain.DecodeRevalidationBatch(body)
		if err != nil {
			return err
		}
		sb := scheduledBatch{Batch: *decoded}
		if at != nil {
			sb.At = at(i)
		}
		o.scheduled = append(o.scheduled, sb)
	}
	return nil
}

// emails are the email jobs sent so far.
func (o *outbox) emails() []domain.EmailJob {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]domain.EmailJob(nil), o.sent...)
}

// batches are the re-validation batches scheduled so far.
func (o *outbox) batches() []scheduledBatch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]scheduledBatch(nil), o.scheduled...)
}

// checker answers consent checks through a hook (which may change the
// store in between, as a concurrent operator would).
type checker struct {
	calls int
	check func() (domain.ConsentCheck, error)
}

func (c *checker) CheckConsent(context.Context, string, string, domain.CheckOptions) (domain.ConsentCheck, error) {
	c.calls++
	return c.check()
}

type env struct {
	t     *testing.T
	store *tablestore.Store
	out   *outbox
	chk   *checker
	svc   *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	e := &env{t: t, store: store, out: &outbox{}, chk: &checker{}}
	base, _ := url.Parse("https://onboarding.example/")
	e.svc = &Service{Store: store, Checker: e.chk, Outbox: e.out, PublicBaseURL: base, ConsentAuthorityURL: "https://login.example/",
		LinkTTL: 24 * time.Hour, Rechecks: domain.RecheckSchedule{First: time.Minute, Attempts: 3}, Now: time.Now,
		Logger: slog.New(slog.DiscardHandler)}
	return e
}

// tenant creates a Provisioned tenant allowing 198.51.100.0/24, with a link.
func (e *env) tenant() *domain.Tenant {
	e.t.Helper()
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: testkit.GUID(e.t), Status: domain.StatusProvisioned, StatusChanged: now, CustomerName: "Contoso", Region: "eu",
		AppID: testkit.GUID(e.t), TenantKey: "123456789@eu.example", TenantKeyCode: "123456789", InstructionURI: "https://join.example/123456789",
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Contacts:   []domain.Contact{{Email: "admin@contoso.example", Role: domain.RoleAdmin}}, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateTenant(context.Background(), tn); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.IssueLink(context.Background(), tn.TenantID, "test", ""); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// state stores a consent state as Start would, from ip.
func (e *env) state(tenantID, ip string) string {
	e.t.Helper()
	state := testkit.GUID(e.t)
	now := time.Now().UTC()
	if err := e.store.PutConsentState(context.Background(), domain.ConsentState{StateHash: HashSecret(state), TenantID: tenantID, ClientIP: ip,
		CreatedAt: now, ExpiresAt: now.Add(StateTTL)}); err != nil {
		e.t.Fatal(err)
	}
	return state
}

func (e *env) suspend(tenantID string) {
	e.t.Helper()
	_, err := domain.UpdateTenant(context.Background(), e.store, tenantID, func(t *domain.Tenant) (bool, error) {
		return t.SetStatus(domain.StatusSuspended, "operator", time.Now().UTC())
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) get(tenantID string) *domain.Tenant {
	e.t.Helper()
	t, err := e.store.GetTenant(context.Background(), tenantID)
	if err != nil {
		e.t.Fatal(err)
	}
	return t
}

func (e *env) actions(tenantID string) map[string][]domain.AuditEvent {
	e.t.Helper()
	page, err := e.store.ListAudit(context.Background(), tenantID, 100, "")
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]domain.AuditEvent{}
	for _, a := range page.Items {
		out[a.Action] = append(out[a.Action], a)
	}
	return out
}

var allRoles = domain.ConsentCheck{Outcome: domain.CheckConsented, Roles: domain.RequiredGraphRoles, SPEnabled: true}
