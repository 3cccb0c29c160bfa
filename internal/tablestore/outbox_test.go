package tablestore

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

type sinkRecorder struct {
	mu    sync.Mutex
	parts []string
}

func (r *sinkRecorder) EventsCommitted(_ context.Context, p string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.parts = append(r.parts, p)
}

func pendingIDs(t *testing.T, s *Store, partition string) []string {
	t.Helper()
	evs, err := s.PendingEvents(context.Background(), partition)
	must(t, err)
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

// An event commits with its tenant write, numbered after the tenant's
// sequence, and only then; the relay's view lists it until marked.
func TestOutboxCommitsWithTheTenant(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	sink := &sinkRecorder{}
	s.SetEventSink(sink)
	ctx := context.Background()

	tn := fullTenant(tenantID(1))
	tn.EventSeq = 0
	tn.Emit(domain.EventProvisioned, nil)
	must(t, s.CreateTenant(ctx, tn))
	if tn.HasPendingEvents() || tn.EventSeq != 1 || tn.ETag == "" || tn.ETag == `W/"outbox-stale"` {
		t.Fatalf("after create: pending=%v seq=%d etag=%q", tn.HasPendingEvents(), tn.EventSeq, tn.ETag)
	}

	// A stale writer's change and its event are both refused.
	stale, err := s.GetTenant(ctx, tn.TenantID)
	must(t, err)
	tn.CustomerName = "Fabrikam"
	tn.Emit(domain.EventUpdated, map[string]string{"changed": "customerName"})
	must(t, s.UpdateTenant(ctx, tn)) // ETag read back: usable for the next write
	stale.Emit(domain.EventSuspended, nil)
	wantCode(t, s.UpdateTenant(ctx, stale), domain.CodePreconditionFailed)
	if stale.EventSeq != 1 || !stale.HasPendingEvents() {
		t.Errorf("failed write: seq %d (want 1, restored), pending %v (want kept)", stale.EventSeq, stale.HasPendingEvents())
	}

	_, err = domain.UpdateTenant(ctx, s, tn.TenantID, func(cur *domain.Tenant) (bool, error) {
		_, err := cur.SetStatus(domain.StatusOffboarded, "test", cur.UpdatedAt)
		return true, err
	})
	must(t, err)

	want := []string{
		domain.TenantEventID(tn.TenantID, 1, domain.EventProvisioned),
		domain.TenantEventID(tn.TenantID, 2, domain.EventUpdated),
		domain.TenantEventID(tn.TenantID, 3, domain.EventOffboarded),
	}
	if got := pendingIDs(t, s, tn.TenantID); !equal(got, want) {
		t.Fatalf("pending = %v, want %v", got, want)
	}
	evs, err := s.PendingEvents(ctx, tn.TenantID)
	must(t, err)
	var data domain.EventData
	must(t, json.Unmarshal(evs[2].Data, &data))
	if data.Status != domain.StatusOffboarded || data.CustomerName != "Fabrikam" || data.RequestID != "crm-42" || data.Details["fromStatus"] != "Suspended" {
		t.Errorf("offboarded data = %+v", data)
	}
	parts, err := s.PendingEventPartitions(ctx)
	must(t, err)
	if !equal(parts, []string{tn.TenantID}) {
		t.Errorf("partitions = %v", parts)
	}
	must(t, s.MarkEventPublished(ctx, evs[0]))
	if got := pendingIDs(t, s, tn.TenantID); !equal(got, want[1:]) {
		t.Errorf("after marking the first: %v", got)
	}
	sink.mu.Lock()
	if len(sink.parts) != 3 {
		t.Errorf("sink told %v, want 3 commits", sink.parts)
	}
	sink.mu.Unlock()
	// The tenant listing never sees outbox rows.
	page, err := s.ListTenants(ctx, domain.TenantFilter{}, 10, "")
	must(t, err)
	if len(page.Items) != 1 {
		t.Errorf("ListTenants = %d items, want 1", len(page.Items))
	}
}

// A rejected provisioning request commits its event with the rejection;
// other rejections publish nothing, and the listing is unchanged.
func TestOutboxRejectionEvents(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	rj := domain.Rejection{ID: "queue:provisioning:m1", Source: "queue:provisioning", RequestID: "crm-1", TenantID: tenantID(5), Field: "region", Reason: "unknown region"}
	must(t, s.AddRejection(ctx, rj))
	must(t, s.AddRejection(ctx, rj)) // redelivery: stored once
	must(t, s.AddRejection(ctx, domain.Rejection{ID: "queue:email:m2", Source: "queue:email", Reason: "bad job"}))
	evs, err := s.PendingEvents(ctx, domain.OutboxRejections)
	must(t, err)
	if len(evs) != 1 || evs[0].ID != "rejection/queue:provisioning:m1" || evs[0].Subject != tenantID(5) || evs[0].Type != domain.EventProvisioningRejected {
		t.Fatalf("rejection events = %+v", evs)
	}
	page, err := s.ListRejections(ctx, 10, "")
	must(t, err)
	if len(page.Items) != 2 {
		t.Errorf("ListRejections = %d, want 2", len(page.Items))
	}
	must(t, s.MarkEventPublished(ctx, evs[0]))
	if got := pendingIDs(t, s, domain.OutboxRejections); len(got) != 0 {
		t.Errorf("still pending after mark: %v", got)
	}
	// A rejection ID too long for a message ID gets a hashed event id.
	long := domain.Rejection{ID: "queue:provisioning:" + strings.Repeat("m", 150), Source: "queue:provisioning", Reason: "x"}
	must(t, s.AddRejection(ctx, long))
	evs, err = s.PendingEvents(ctx, domain.OutboxRejections)
	must(t, err)
	if len(evs) != 1 || len(evs[0].ID) > 128 || !strings.HasPrefix(evs[0].ID, "rejection/sha256-") {
		t.Fatalf("long rejection event = %+v", evs)
	}
	must(t, s.MarkEventPublished(ctx, evs[0]))
	if got := pendingIDs(t, s, domain.OutboxRejections); len(got) != 0 {
		t.Errorf("long one still pending after mark: %v", got)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
