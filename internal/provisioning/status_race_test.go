package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
)

// statusRaceAzurite is this file's Azurite, started on first use (no
// TestMain, so other test files of the package can have their own).
var statusRaceAzurite = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		return "", fmt.Errorf("cannot start Azurite for the provisioning status-race tests: %w", err)
	}
	return srv.ConnectionString(), nil
})

// suspendAfterRead suspends the tenant right after armed GetTenant reads
// it, as an operator acting between provisioning's read and its write.
type suspendAfterRead struct {
	domain.TenantStore
	armed atomic.Bool
}

func (s *suspendAfterRead) GetTenant(ctx context.Context, id string) (*domain.Tenant, error) {
	t, err := s.TenantStore.GetTenant(ctx, id)
	if err == nil && s.armed.CompareAndSwap(true, false) {
		if _, err := domain.UpdateTenant(ctx, s.TenantStore, id, func(cur *domain.Tenant) (bool, error) {
			return cur.SetStatus(domain.StatusSuspended, "operator", time.Now().UTC())
		}); err != nil {
			return nil, err
		}
	}
	return t, err
}

type statusRacePublisher struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (p *statusRacePublisher) Publish(_ context.Context, _ string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *statusRacePublisher) Close(context.Context) error { return nil }

func statusRaceRequest(t *testing.T, tenantID, requestID, adminEmail string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"schemaVersion": 1, "requestId": requestID, "tenantId": tenantID, "customerName": "Contoso Ltd",
		"region": "eu", "adminIps": []string{"203.0.113.7"},
		"contacts": []map[string]string{{"name": "Admin", "email": adminEmail, "role": "admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A provisioning update reads the tenant and writes it back whole: an
// operator's suspend in between wins (the write is ETag-conditional and the
// update is applied again to the fresh record), and no consent link goes
// to a suspended tenant.
func TestProvisioningUpdateRacingSuspendKeepsSuspended(t *testing.T) {
	t.Parallel()
	conn, err := statusRaceAzurite()
	if err != nil {
		t.Fatal(err)
	}
	prefix := make([]byte, 10)
	_, _ = rand.Read(prefix)
	for i := range prefix {
		prefix[i] = 'a' + prefix[i]%26
	}
	inner, err := tablestore.NewFromConnectionString(conn, tablestore.Options{TablePrefix: string(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := inner.EnsureTables(ctx); err != nil {
		t.Fatal(err)
	}
	store := &suspendAfterRead{TenantStore: inner}
	pub := &statusRacePublisher{}
	svc := &Service{Store: store, Publisher: pub, IPPolicy: domain.IPPolicy{},
		Regions: domain.Regions{"eu": {Code: "eu", DisplayName: "Europe", AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10",
			TenantKeyDomain: "eu.example", InstructionBaseURL: "https://join.example/eu"}},
		ReminderDelay: time.Hour, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	tenantID := "3f2b8c1e-6d4a-4b7e-9a51-" + fmt.Sprintf("%012x", prefix[:6])
	if _, err := svc.Provision(ctx, statusRaceRequest(t, tenantID, "CRM-1", "old-admin@contoso.example"), Source{Kind: "queue", Actor: "crm"}); err != nil {
		t.Fatal(err)
	}
	pub.mu.Lock()
	pub.msgs = nil
	pub.mu.Unlock()

	store.armed.Store(true)
	res, err := svc.Provision(ctx, statusRaceRequest(t, tenantID, "CRM-2", "new-admin@contoso.example"), Source{Kind: "queue", Actor: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	if store.armed.Load() {
		t.Fatal("the update never read the tenant")
	}
	got, err := inner.GetTenant(ctx, tenantID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.StatusSuspended || got.SuspendedFrom != domain.StatusProvisioned || res.Tenant.Status != domain.StatusSuspended {
		t.Fatalf("after the race: %s (from %s), result %s", got.Status, got.SuspendedFrom, res.Tenant.Status)
	}
	if len(got.Contacts) != 1 || got.Contacts[0].Email != "new-admin@contoso.example" || !got.AllowsIP(netip.MustParseAddr("203.0.113.7")) {
		t.Errorf("the update itself was lost: %+v", got.Contacts)
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	for _, m := range pub.msgs {
		job, err := domain.DecodeEmailJob(m.Body)
		if err == nil && (job.Kind == domain.EmailConsentLink || job.Kind == domain.EmailConsentReminder) {
			t.Errorf("a %s email was queued for a suspended tenant", job.Kind)
		}
	}
}
