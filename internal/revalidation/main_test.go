package revalidation

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// The revalidation tests run against the test binary's one Azurite
// (testkit); they fail, never skip, when it cannot start.
func TestMain(m *testing.M) { testkit.Main(m) }

// checker answers consent checks through a hook (which may change the store
// in between, as a concurrent operator would) and counts the calls.
type checker struct {
	mu    sync.Mutex
	calls int
	check func(tenantID string) (domain.ConsentCheck, error)
}

func (c *checker) CheckConsent(_ context.Context, tenantID, _ string, _ domain.CheckOptions) (domain.ConsentCheck, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	return c.check(tenantID)
}

func (c *checker) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// env is a service on fresh tables with a recording outbox (read the
// store back with teststore.Tenant and teststore.AuditActions).
type env struct {
	t     *testing.T
	store *tablestore.Store
	out   *outboxtest.Outbox
	chk   *checker
	svc   *Service
}

func newEnv(t *testing.T, check func(tenantID string) (domain.ConsentCheck, error)) *env {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	e := &env{t: t, store: store, out: &outboxtest.Outbox{}, chk: &checker{check: check}}
	e.svc = &Service{Store: store, Checker: e.chk, Outbox: e.out, OpsEmails: []string{"ops@example.net"}, BatchSize: 10, Concurrency: 2,
		AlertAfter: 3, Attempts: 1, Rechecks: domain.RecheckSchedule{First: time.Minute, Attempts: 3}, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	e.svc.Rejections = &rejections.Recorder{Store: store, Outbox: e.out, OpsEmails: e.svc.OpsEmails, Logger: e.svc.Logger}
	return e
}

// tenant creates a tenant in status (verification pending since
// pendingSince unless zero) with one admin contact; change adjusts it first.
func (e *env) tenant(status domain.Status, pendingSince time.Time, change ...func(*domain.Tenant)) *domain.Tenant {
	e.t.Helper()
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: testkit.GUID(e.t), Status: status, StatusChanged: now, CustomerName: "Contoso", Region: "eu", AppID: testkit.GUID(e.t),
		TenantKey: "1@eu.example", TenantKeyCode: "1", InstructionURI: "https://join.example/1",
		Contacts: []domain.Contact{{Email: "admin@contoso.example", Role: domain.RoleAdmin}}, CreatedAt: now, UpdatedAt: now}
	if !pendingSince.IsZero() {
		tn.VerificationPending, tn.VerificationPendingSince = true, pendingSince
	}
	for _, c := range change {
		c(tn)
	}
	if err := e.store.CreateTenant(context.Background(), tn); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

func (e *env) suspend(id string) {
	e.t.Helper()
	if _, err := domain.UpdateTenant(context.Background(), e.store, id, func(t *domain.Tenant) (bool, error) {
		return t.SetStatus(domain.StatusSuspended, "operator", time.Now().UTC())
	}); err != nil {
		e.t.Error(err)
	}
}

// handle delivers one revalidation message.
func (e *env) handle(b domain.RevalidationBatch) BatchResult {
	e.t.Helper()
	body, err := json.Marshal(b)
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.svc.HandleBatch(context.Background(), body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// always answers every check with c.
func always(c domain.ConsentCheck) func(string) (domain.ConsentCheck, error) {
	return func(string) (domain.ConsentCheck, error) { return c, nil }
}

var (
	lagging = domain.ConsentCheck{Outcome: domain.CheckDegraded, SPEnabled: true, Roles: domain.RequiredGraphRoles[:6],
		MissingRoles: domain.RequiredGraphRoles[6:], Detail: "missing roles"}
	consented = domain.ConsentCheck{Outcome: domain.CheckConsented, SPEnabled: true, Roles: domain.RequiredGraphRoles}
	revoked   = domain.ConsentCheck{Outcome: domain.CheckRevoked, Detail: "app not found"}
)
