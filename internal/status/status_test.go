package status

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// countingStore records the store calls Resolve makes.
type countingStore struct {
	domain.TenantStore
	mu    sync.Mutex
	calls []string
}

func (c *countingStore) log(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, name)
}

func (c *countingStore) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

func (c *countingStore) GetStatusLink(ctx context.Context, h string) (domain.StatusLink, error) {
	c.log("GetStatusLink")
	return c.TenantStore.GetStatusLink(ctx, h)
}

func (c *countingStore) GetTenant(ctx context.Context, id string) (*domain.Tenant, error) {
	c.log("GetTenant")
	return c.TenantStore.GetTenant(ctx, id)
}

func (c *countingStore) UpdateTenant(ctx context.Context, tn *domain.Tenant) error {
	c.log("UpdateTenant")
	return c.TenantStore.UpdateTenant(ctx, tn)
}

func (c *countingStore) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, call := range c.calls {
		if call == name {
			n++
		}
	}
	return n
}

func newService(t *testing.T) (*Service, *countingStore, string) {
	t.Helper()
	st := teststore.New(t, tablestore.Options{})
	id := "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: id, Status: domain.StatusProvisioned, StatusChanged: now, CustomerName: "Contoso", Region: "eu",
		AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", TenantKey: "482913057@eu.teams.videosrv.net", TenantKeyCode: "482913057",
		InstructionURI: "https://join.example/api/join/482913057?conf={ConfId}", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
		Contacts: []domain.Contact{{Email: "admin@contoso.com", Role: domain.RoleAdmin}}, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateTenant(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{TenantStore: st}
	base, _ := url.Parse("https://onboard.example/")
	return &Service{Store: cs, Outbox: &outboxtest.Outbox{}, PublicBaseURL: base, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}, cs, id
}

// A hit and a miss make the same store calls, so timing tells nothing; an
// older generation is a miss.
func TestResolveSameWorkForHitAndMiss(t *testing.T) {
	t.Parallel()
	s, cs, id := newService(t)
	ctx := context.Background()
	u, err := s.Link(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	token := u[strings.LastIndex(u, "/")+1:]
	cs.take()
	tn, err := s.Resolve(ctx, token)
	if err != nil || tn.TenantID != id {
		t.Fatalf("hit: %v %v", tn, err)
	}
	hit := cs.take()
	if _, err := s.Resolve(ctx, strings.Repeat("A", 43)); err != ErrNotFound {
		t.Fatalf("miss: %v", err)
	}
	miss := cs.take()
	if fmt.Sprint(hit) != fmt.Sprint(miss) || len(hit) != 2 {
		t.Errorf("store calls: hit %v, miss %v", hit, miss)
	}
	// A second link works too; rotation kills both.
	u2, err := s.Link(ctx, id)
	if err != nil || u2 == u {
		t.Fatalf("second link %q %v", u2, err)
	}
	if _, err := s.Rotate(ctx, id, "operator:x", "X"); err != nil {
		t.Fatal(err)
	}
	for _, old := range []string{u, u2} {
		if _, err := s.Resolve(ctx, old[strings.LastIndex(old, "/")+1:]); err != ErrNotFound {
			t.Errorf("link after rotation: %v", err)
		}
	}
}

// The live tracker lets one write per tenant per interval through, however
// many sightings arrive, and sets liveSince once.
func TestLiveThrottle(t *testing.T) {
	t.Parallel()
	s, cs, id := newService(t)
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := &Live{Store: s.Store, Outbox: &outboxtest.Outbox{}, Now: clock, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Run(ctx)
	tn := teststore.Tenant(t, s.Store, id)
	cs.take()
	for range 1000 {
		l.Seen(tn) // the stale record: only the in-process throttle stops these
	}
	testkit.Eventually(t, 10*time.Second, "liveSince set", func() bool { got, _ := s.Store.GetTenant(ctx, id); return !got.LiveSince.IsZero() })
	first, _ := s.Store.GetTenant(ctx, id)
	if first.ETag == tn.ETag {
		t.Fatal("no write")
	}
	for range 1000 {
		l.Seen(tn)
	}
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	for range 1000 {
		l.Seen(tn)
	}
	testkit.Eventually(t, 10*time.Second, "lastInviteSeen moved", func() bool {
		got, _ := s.Store.GetTenant(ctx, id)
		return got.LastInviteSeen.After(first.LastInviteSeen)
	})
	second, _ := s.Store.GetTenant(ctx, id)
	if n := cs.count("UpdateTenant"); n != 2 {
		t.Errorf("%d tenant writes for 3000 sightings over two hours, want 2", n)
	}
	if !second.LiveSince.Equal(first.LiveSince) {
		t.Errorf("liveSince moved: %s → %s", first.LiveSince, second.LiveSince)
	}
	if len(l.queue) != 0 {
		t.Errorf("%d sightings still queued", len(l.queue))
	}
}
