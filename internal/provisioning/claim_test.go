package provisioning

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A crash between creating the tenant and writing tenant.provisioned: the
// retry writes the event, once, and completes the request.
func TestRetryAfterCrashWritesTheAuditRowOnce(t *testing.T) {
	t.Parallel()
	s, cs, store, pub := newService(t)
	ctx := context.Background()
	crashing(t, s, cs, Source{Kind: "queue", MessageID: "m-1"}, body)
	if got := auditActions(t, store); len(got) != 0 {
		t.Fatalf("audit after the crash: %v", got)
	}
	for i := range 3 { // the redelivery, then two more
		res, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"})
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if i == 0 && res.Outcome != OutcomeCreated {
			t.Fatalf("retry outcome %s; want created", res.Outcome)
		}
	}
	if got := auditActions(t, store); len(got) != 1 || got[0] != "tenant.provisioned" {
		t.Fatalf("audit = %v; want one tenant.provisioned", got)
	}
	if n := pub.Count("consent-link:"); n < 1 {
		t.Fatal("no consent link published")
	}
	if n := pub.Count("consent-reminder:"); n < 1 {
		t.Fatal("the retry of a new tenant did not schedule the reminder")
	}
}

// The longest request ID the contract allows (128 characters) still gives
// consent-email jobs whose message IDs Service Bus accepts; otherwise every
// retry's publish would fail and the tenant would never get its link.
func TestLongRequestIDKeepsMessageIDsWithinServiceBusLimits(t *testing.T) {
	t.Parallel()
	s, _, _, pub := newService(t)
	long := strings.Repeat("R", 128)
	if _, err := s.Provision(context.Background(), []byte(strings.Replace(body, "CRM-1", long, 1)), Source{Kind: "queue", MessageID: "m-long"}); err != nil {
		t.Fatal(err)
	}
	sent := pub.Sent()
	if len(sent) != 2 {
		t.Fatalf("published %d messages; want link and reminder", len(sent))
	}
	for _, m := range sent {
		if len(m.Job.IdempotencyKey) > domain.MaxMessageIDLength {
			t.Errorf("message ID is %d characters; Service Bus allows %d", len(m.Job.IdempotencyKey), domain.MaxMessageIDLength)
		}
	}
}

// A redelivered request (same requestId, same body) applies once: the
// second delivery is a replay that writes nothing, audits nothing and
// publishes nothing.
func TestRedeliveredRequestAppliesOnce(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	first, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"})
	if err != nil || first.Outcome != OutcomeCreated {
		t.Fatalf("first delivery: %+v, %v", first, err)
	}
	published := pub.Count("")
	// Reformatted, same content: the body hash is of the decoded request.
	again := strings.ReplaceAll(body, ",", " ,")
	second, err := s.Provision(ctx, []byte(again), Source{Kind: "queue", MessageID: "m-1"})
	if err != nil || second.Outcome != OutcomeReplay {
		t.Fatalf("redelivery: %+v, %v; want a replay", second, err)
	}
	tn := teststore.Tenant(t, store, tenantID)
	if tn.ETag != first.Tenant.ETag || second.Tenant.TenantKey != first.Tenant.TenantKey {
		t.Error("the replay wrote the tenant")
	}
	if pub.Count("") != published || published != 2 {
		t.Errorf("jobs: %d after the first delivery (want 2), %d after the replay", published, pub.Count(""))
	}
	if got := auditActions(t, store); len(got) != 1 {
		t.Errorf("audit = %v; want one row", got)
	}
	rec, err := store.GetProvisioningRecord(ctx, "CRM-1")
	if err != nil || rec.CompletedAt.IsZero() || rec.Outcome != string(OutcomeCreated) || rec.KeyCode != tn.TenantKeyCode {
		t.Fatalf("record %+v, %v; want completed as created, holding the tenant's key", rec, err)
	}
}

// A requestId reused for a different request is a permanent conflict on
// requestId, recorded as a rejection; the tenant keeps the first request.
func TestRequestIDReusedForADifferentBodyIsRejected(t *testing.T) {
	t.Parallel()
	s, _, store, _ := newService(t)
	ctx := context.Background()
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(body, "Contoso Ltd", "Fabrikam", 1)
	_, err := s.Provision(ctx, []byte(changed), Source{Kind: "queue", MessageID: "m-2"})
	if domain.ErrorCode(err) != domain.CodeConflict || domain.ErrorField(err) != "requestId" {
		t.Fatalf("reused requestId: %v; want a conflict on requestId", err)
	}
	if tn, _ := store.GetTenant(ctx, tenantID); tn.CustomerName != "Contoso Ltd" {
		t.Errorf("customer name %q; the rejected request changed the tenant", tn.CustomerName)
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != "m-2" || page.Items[0].Field != "requestId" || page.Items[0].RequestID != "CRM-1" {
		t.Fatalf("rejections %+v, %v", page.Items, err)
	}
}

// takenKeys reports the first n key codes it is asked for as another
// tenant's, as a collision would.
type takenKeys struct {
	domain.TenantStore
	mu    sync.Mutex
	n     int
	tried []string
}

func (k *takenKeys) ReserveTenantKey(ctx context.Context, code, tenantID string) error {
	k.mu.Lock()
	k.tried = append(k.tried, code)
	taken := len(k.tried) <= k.n
	k.mu.Unlock()
	if taken {
		return domain.Errorf(domain.CodeConflict, "key %s belongs to another tenant", code)
	}
	return k.TenantStore.ReserveTenantKey(ctx, code, tenantID)
}

// A key code that belongs to someone else is never used: another one is
// drawn, remembered on the request's record, reserved for the tenant, and
// has the region's digits.
func TestTakenKeyCodeIsReplaced(t *testing.T) {
	t.Parallel()
	s, _, store, _ := newService(t)
	keys := &takenKeys{TenantStore: s.Store, n: 2}
	s.Store = keys
	ctx := context.Background()
	res, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"})
	if err != nil {
		t.Fatal(err)
	}
	code := res.Tenant.TenantKeyCode
	if len(keys.tried) != 3 || code != keys.tried[2] || code == keys.tried[0] || code == keys.tried[1] {
		t.Fatalf("tried %v, tenant got %s; want the third candidate", keys.tried, code)
	}
	if len(code) != 9 || code[0] == '0' || res.Tenant.TenantKey != code+"@eu.teams.videosrv.net" {
		t.Errorf("key %s (%s); want 9 digits, no leading zero, in the region's domain", code, res.Tenant.TenantKey)
	}
	if owner, err := store.TenantKeyOwner(ctx, code); err != nil || owner != tenantID {
		t.Errorf("key owner %q, %v", owner, err)
	}
	if rec, err := store.GetProvisioningRecord(ctx, "CRM-1"); err != nil || rec.KeyCode != code {
		t.Errorf("record key %v, %v; want %s", rec, err, code)
	}
}

// busyIPIndex is the IP index while another request or an operator holds
// the tenant's lease: transient for the first n calls.
type busyIPIndex struct {
	domain.TenantStore
	mu    sync.Mutex
	n     int
	calls int
	err   error
}

func (b *busyIPIndex) SetAllowedIPsAs(ctx context.Context, tenantID, owner string, ps []netip.Prefix) error {
	b.mu.Lock()
	b.calls++
	busy := b.calls <= b.n
	b.mu.Unlock()
	if busy {
		return b.err
	}
	return b.TenantStore.SetAllowedIPsAs(ctx, tenantID, owner, ps)
}

// The IP index is written as the request: a lease held by someone else is
// waited out briefly (the request completes), a permanent failure is
// returned at once, and the index then lists the tenant for its IPs only.
func TestAllowedIPsIndexedAfterWaitingForTheLease(t *testing.T) {
	t.Parallel()
	s, _, store, _ := newService(t)
	ctx := context.Background()
	busy := &busyIPIndex{TenantStore: s.Store, n: 2, err: domain.Errorf(domain.CodeUnavailable, "lease held by operator:x")}
	s.Store = busy
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatalf("with the lease held twice: %v", err)
	}
	if busy.calls != 3 {
		t.Errorf("%d index writes; want 3", busy.calls)
	}
	if ids, err := store.TenantsAllowingIP(ctx, netip.MustParseAddr("203.0.113.7")); err != nil || len(ids) != 1 || ids[0] != tenantID {
		t.Fatalf("tenants allowing 203.0.113.7: %v, %v", ids, err)
	}

	broken := &busyIPIndex{TenantStore: store, n: 1, err: domain.Errorf(domain.CodeInvalid, "refused")}
	s.Store = broken
	update := movedIP()
	if _, err := s.Provision(ctx, []byte(update), Source{Kind: "queue", MessageID: "m-2"}); domain.ErrorCode(err) != domain.CodeInvalid || broken.calls != 1 {
		t.Fatalf("permanent index failure: %v after %d calls; want it returned after one", err, broken.calls)
	}
	s.Store = store
	if _, err := s.Provision(ctx, []byte(update), Source{Kind: "queue", MessageID: "m-2"}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := store.TenantsAllowingIP(ctx, netip.MustParseAddr("203.0.113.7")); len(ids) != 0 {
		t.Errorf("the old IP still lists %v", ids)
	}
	if ids, _ := store.TenantsAllowingIP(ctx, netip.MustParseAddr("203.0.113.8")); len(ids) != 1 {
		t.Errorf("the new IP lists %v", ids)
	}
}
