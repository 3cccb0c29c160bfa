package consent

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
)

// azuriteConn is set once by TestMain and only read afterwards.
var azuriteConn string

// TestMain runs the consent tests against one real Azurite; they fail, never
// skip, when it cannot start.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := azurite.Start(ctx, azurite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot start Azurite for the consent tests: %v\n", err)
		os.Exit(1)
	}
	azuriteConn = srv.ConnectionString()
	code := m.Run()
	_ = srv.Stop()
	os.Exit(code)
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newTestStore(t *testing.T) *tablestore.Store {
	t.Helper()
	prefix := make([]byte, 10)
	_, _ = rand.Read(prefix)
	for i := range prefix {
		prefix[i] = 'a' + prefix[i]%26
	}
	s, err := tablestore.NewFromConnectionString(azuriteConn, tablestore.Options{TablePrefix: string(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// publisher records what would go to the queues.
type publisher struct {
	mu   sync.Mutex
	msgs map[string][]queue.Message
}

func (p *publisher) Publish(_ context.Context, q string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs == nil {
		p.msgs = map[string][]queue.Message{}
	}
	p.msgs[q] = append(p.msgs[q], msgs...)
	return nil
}

func (p *publisher) Close(context.Context) error { return nil }

func (p *publisher) count(q string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs[q])
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
	pub   *publisher
	chk   *checker
	svc   *Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	store := newTestStore(t)
	e := &env{t: t, store: store, pub: &publisher{}, chk: &checker{}}
	base, _ := url.Parse("https://onboarding.example/")
	e.svc = &Service{Store: store, Checker: e.chk, Publisher: e.pub, PublicBaseURL: base, ConsentAuthorityURL: "https://login.example/",
		LinkTTL: 24 * time.Hour, Rechecks: domain.RecheckSchedule{First: time.Minute, Attempts: 3}, Now: time.Now,
		Logger: slog.New(slog.DiscardHandler)}
	return e
}

// tenant creates a Provisioned tenant allowing 198.51.100.0/24, with a link.
func (e *env) tenant() *domain.Tenant {
	e.t.Helper()
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: newGUID(), Status: domain.StatusProvisioned, StatusChanged: now, CustomerName: "Contoso", Region: "eu",
		AppID: newGUID(), TenantKey: "123456789@eu.example", TenantKeyCode: "123456789", InstructionURI: "https://join.example/123456789",
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
	state := newGUID()
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
