package provisioning

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// The provisioning tests run on the test binary's Azurite (the store's
// conflicts and ETags are what idempotency relies on), with a recording
// outbox in place of the queues.

func TestMain(m *testing.M) { testkit.Main(m) }

// crashingStore dies (as far as the caller can tell) at chosen steps:
// the audit write fails and the next step too, so Provision stops there
// like a killed process would.
type crashingStore struct {
	domain.TenantStore
	crash bool
}

func (c *crashingStore) AppendAudit(ctx context.Context, e domain.AuditEvent) error {
	if c.crash {
		return domain.Errorf(domain.CodeUnavailable, "killed before the audit write")
	}
	return c.TenantStore.AppendAudit(ctx, e)
}

func (c *crashingStore) SetAllowedIPsAs(ctx context.Context, tenantID, owner string, ps []netip.Prefix) error {
	if c.crash {
		return domain.Errorf(domain.CodeUnavailable, "killed")
	}
	return c.TenantStore.SetAllowedIPsAs(ctx, tenantID, owner, ps)
}

const appID = "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"

func newService(t *testing.T) (*Service, *crashingStore, *tablestore.Store, *outboxtest.Outbox) {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	cs := &crashingStore{TenantStore: store}
	pub := &outboxtest.Outbox{}
	s := &Service{Store: cs, Outbox: pub,
		Regions:  domain.Regions{"eu": {Code: "eu", DisplayName: "Europe", AppID: appID, TenantKeyDomain: "eu.teams.videosrv.net", InstructionBaseURL: "https://x.example/api/join"}},
		IPPolicy: domain.IPPolicy{}, ReminderDelay: 72 * time.Hour,
		Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.Rejections = rejectionsOf(s)
	return s, cs, store, pub
}

const tenantID = "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"

const body = `{"schemaVersion":1,"requestId":"CRM-1","tenantId":"` + tenantID + `","customerName":"Contoso Ltd",
"region":"eu","adminIps":["203.0.113.7"],"contacts":[{"name":"IT","email":"it-admin@contoso.com","role":"admin"}]}`

// movedIP is body's next request, CRM-2: the same tenant and admins, the
// admin IP moved to 203.0.113.8.
func movedIP() string {
	return strings.Replace(strings.Replace(body, `"CRM-1"`, `"CRM-2"`, 1), `"203.0.113.7"`, `"203.0.113.8"`, 1)
}

// crashing delivers each body while cs crashes, each attempt failing
// transiently as a killed process's would; cs recovers afterwards.
func crashing(t *testing.T, s *Service, cs *crashingStore, src Source, bodies ...string) {
	t.Helper()
	cs.crash = true
	defer func() { cs.crash = false }()
	for _, b := range bodies {
		if _, err := s.Provision(context.Background(), []byte(b), src); !domain.IsTransient(err) {
			t.Fatalf("crashed attempt: %v; want a transient error", err)
		}
	}
}

// auditActions are the actions of the fixture tenant's audit trail, newest
// first.
func auditActions(t *testing.T, store *tablestore.Store) []string {
	t.Helper()
	var out []string
	for _, e := range teststore.Audit(t, store, tenantID) {
		out = append(out, e.Action)
	}
	return out
}
