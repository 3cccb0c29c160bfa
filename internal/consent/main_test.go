package consent

import (
	"context"
	"log/slog"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// The consent tests run against the test binary's one Azurite (testkit);
// they fail, never skip, when it cannot start.
func TestMain(m *testing.M) { testkit.Main(m) }

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
	out   *outboxtest.Outbox
	chk   *checker
	svc   *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	e := &env{t: t, store: store, out: &outboxtest.Outbox{}, chk: &checker{}}
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

// adminIP is inside every test tenant's allowed range.
var adminIP = netip.MustParseAddr("198.51.100.7")

// success is Microsoft's redirect after a granted admin consent.
func success(tenantID, state string) url.Values {
	return url.Values{"admin_consent": {"True"}, "tenant": {tenantID}, "state": {state}}
}

// consenting is a new tenant (see tenant) whose admin started consent from
// adminIP, and the redirect that brings the admin back granted.
func (e *env) consenting() (*domain.Tenant, url.Values) {
	e.t.Helper()
	tn := e.tenant()
	return tn, success(tn.TenantID, e.state(tn.TenantID, adminIP.String()))
}

// callback delivers the redirect q from adminIP.
func (e *env) callback(q url.Values) (*CallbackResult, error) {
	return e.svc.Callback(context.Background(), q, adminIP)
}

// answer makes every consent check return c.
func (e *env) answer(c domain.ConsentCheck) {
	e.chk.check = func() (domain.ConsentCheck, error) { return c, nil }
}

// token is the token of a fresh consent link for the tenant.
func (e *env) token(tenantID string) string {
	e.t.Helper()
	link, err := e.svc.IssueLink(context.Background(), tenantID, "test", "")
	if err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(link.URL)
	return u.Query().Get("t")
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

var allRoles = domain.ConsentCheck{Outcome: domain.CheckConsented, Roles: domain.RequiredGraphRoles, SPEnabled: true}
