// Package e2e drives the whole service the way Azure does: the real handler
// (main's wiring) behind the local Functions host, a real Azurite, and the
// sandbox identity platform + Graph through the real SDK clients.
package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/onemeeting/cvi-onboarding/internal/app"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststack"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// The sandbox's tenant and apps (teststack's, which its settings name).
const (
	operatorTenant = teststack.OperatorTenant
	euAppID        = teststack.EUAppID
	mailAppID      = teststack.MailAppID
	appSecret      = teststack.AppSecret
)

// TestMain stops the Azurite and the sandbox all tests of the package share
// (they keep apart by table prefix and random tenant IDs).
func TestMain(m *testing.M) { testkit.Main(m) }

// clock is the service's time, movable by tests (link and state expiry).
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// stack is one isolated service instance.
type stack struct {
	t      testing.TB
	cfg    *config.Config
	app    *app.App
	host   *funchost.Host
	clock  *clock
	sb     *entrasim.Sandbox
	az     *azurite.Server
	client *http.Client // does not follow redirects
}

type stackOptions struct {
	az               *azurite.Server // default: the shared one
	settings         map[string]string
	maxDeliveryCount int
	redelivery       func(int) time.Duration
	// publisher wraps the local-host publisher the handler uses (tests that record sends).
	publisher func(*queue.Local) queue.Publisher
	// wrapLiveStore wraps the store of live tracking (status_test.go).
	wrapLiveStore func(domain.TenantStore) domain.TenantStore
}

// newTenantID returns a fresh random tenant GUID.
func newTenantID() string { return testkit.NewGUID() }

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	clk := &clock{}
	st := teststack.Start(t, teststack.Options{
		Azurite:  o.az, // nil: the shared one
		Settings: o.settings,
		App:      app.Options{Now: clk.Now, WrapLiveStore: o.wrapLiveStore},
		// nil: redelivery at once, as Service Bus does (reference §3); a test
		// that needs the old spacing says so itself.
		RedeliveryDelay:  o.redelivery,
		MaxDeliveryCount: o.maxDeliveryCount,
		Publisher:        o.publisher,
	})
	return &stack{t: t, cfg: st.Config, app: st.App, host: st.Host, clock: clk, sb: st.Sandbox, az: st.Azurite,
		client: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// example returns the contract example for a fresh tenant ID.
func example(t testing.TB, tenantID, requestID string, adminIPs ...string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(contracts.ProvisioningV1Example(), &m); err != nil {
		t.Fatal(err)
	}
	m["tenantId"] = tenantID
	m["requestId"] = requestID
	if len(adminIPs) == 0 {
		adminIPs = []string{"127.0.0.1"}
	}
	ips := make([]any, len(adminIPs))
	for i, ip := range adminIPs {
		ips[i] = ip
	}
	m["adminIps"] = ips
	// Unique addresses keep tests that share the sandbox apart.
	m["contacts"] = []any{
		map[string]any{"name": "Contoso IT Admin", "email": adminEmail(tenantID), "role": "admin"},
		map[string]any{"name": "Contoso Service Desk", "email": "desk-" + tenantID[:8] + "@contoso.com", "role": "technical"},
	}
	return m
}

func adminEmail(tenantID string) string { return "admin-" + tenantID[:8] + "@contoso.com" }

// runFunction posts to the host's admin endpoint, as an operator would.
func (s *stack) runFunction(name, input string) {
	s.t.Helper()
	body := testkit.JSON(s.t, map[string]string{"input": input})
	resp, err := http.Post(s.host.URL()+"/admin/functions/"+name, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("run %s: %d %s", name, resp.StatusCode, b)
	}
}

func (s *stack) waitIdle() {
	s.t.Helper()
	s.waitIdleFor(60 * time.Second)
}

func (s *stack) waitIdleFor(d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.host.WaitIdle(ctx); err != nil {
		s.t.Fatalf("host not idle: %v", err)
	}
}

// mails returns the sandbox's sent mail about a tenant (subject or body
// mentions it) or to a recipient.
func (s *stack) mailsTo(addr string, since int) []entrasim.SentMail {
	var out []entrasim.SentMail
	for _, m := range s.sb.SentMail() {
		if m.Seq <= since {
			continue
		}
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func lastSeq(sb *entrasim.Sandbox) int {
	all := sb.SentMail()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Seq
}

func (s *stack) tenant(id string) *domain.Tenant {
	s.t.Helper()
	return teststore.Tenant(s.t, s.app.Store, id)
}

// audit is the tenant's whole audit trail, newest first.
func (s *stack) audit(id string) []domain.AuditEvent {
	s.t.Helper()
	return teststore.Audit(s.t, s.app.Store, id)
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
