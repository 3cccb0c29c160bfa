package provisioning

import (
	"context"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A rejected request redelivered (same message ID, later) is recorded
// once, each delivery alerting with the same key (de-duplicated by the
// email claim).
func TestRedeliveredRejectionRecordedOnce(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	bad := strings.Replace(body, `"schemaVersion":1`, `"schemaVersion":2`, 1)
	for range 2 {
		if _, err := s.Provision(ctx, []byte(bad), Source{Kind: "queue", MessageID: "bad-1"}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Fatalf("bad request: %v", err)
		}
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("rejections = %d (%v); want 1", len(page.Items), err)
	}
	if pub.Count("ops-alert:rejection:") != 2 {
		t.Fatalf("alerts published = %d", pub.Count("ops-alert:rejection:"))
	}
	if sent := pub.Sent(); sent[0].Job.IdempotencyKey != sent[1].Job.IdempotencyKey {
		t.Fatal("the two alerts do not share one key")
	}
}

// A rejection is stored under its message ID with what the request said
// (best effort from an invalid body), and alerts operations under a key
// derived from that ID; a request without a message ID (the API) is keyed
// by its body, so a repeat maps to the same rejection.
func TestRejectionRecordedUnderItsMessage(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	bad := strings.Replace(body, `"schemaVersion":1`, `"schemaVersion":2`, 1)
	if _, err := s.Provision(ctx, []byte(bad), Source{Kind: "queue", MessageID: "bad-1"}); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Fatalf("bad request: %v", err)
	}
	for range 2 {
		if _, err := s.Provision(ctx, []byte(bad), Source{Kind: "api", Actor: "operator:x"}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Fatalf("bad API request: %v", err)
		}
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("rejections %+v, %v; want two (one per message)", page.Items, err)
	}
	byID := map[string]domain.Rejection{}
	for _, r := range page.Items {
		byID[r.ID] = r
	}
	q, ok := byID["bad-1"]
	if !ok || q.Source != "queue:provisioning" || q.MessageID != "bad-1" || q.Field != "schemaVersion" ||
		q.RequestID != "CRM-1" || q.TenantID != tenantID || q.BodyPrefix != bad {
		t.Fatalf("queue rejection %+v", q)
	}
	apiID := domain.Digest(bad, 8)
	if a, ok := byID[apiID]; !ok || a.Source != "api" || a.MessageID != "" || len(apiID) != 16 {
		t.Fatalf("API rejection under %s: %+v (all: %v)", apiID, a, byID)
	}
	alerts := pub.Jobs("ops-alert:rejection:")
	if len(alerts) != 3 || alerts[0].IdempotencyKey != "ops-alert:rejection:"+domain.Digest("bad-1", 12) ||
		alerts[1].IdempotencyKey != alerts[2].IdempotencyKey || alerts[0].TenantID != tenantID ||
		len(alerts[0].Recipients) != 1 || alerts[0].Alert == nil || alerts[0].Alert.Subject != "Provisioning request rejected" {
		t.Fatalf("alerts %+v", alerts)
	}
	if tn, err := store.GetTenant(ctx, tenantID); domain.ErrorCode(err) != domain.CodeNotFound {
		t.Fatalf("a rejected request created tenant %v (%v)", tn, err)
	}
}

// refusingRejections fails the rejection write transiently.
type refusingRejections struct{ domain.TenantStore }

func (refusingRejections) AddRejection(context.Context, domain.Rejection) error {
	return domain.Errorf(domain.CodeUnavailable, "storage down")
}

// A rejection that cannot be stored yet is a transient error (the message
// is retried, and the retry records it), not the permanent cause.
func TestRejectionNotStoredIsRetried(t *testing.T) {
	t.Parallel()
	s, _, _, pub := newService(t)
	s.Store = refusingRejections{s.Store}
	s.Rejections = rejectionsOf(s)
	bad := strings.Replace(body, `"schemaVersion":1`, `"schemaVersion":2`, 1)
	_, err := s.Provision(context.Background(), []byte(bad), Source{Kind: "queue", MessageID: "bad-1"})
	if !domain.IsTransient(err) {
		t.Fatalf("%v; want a transient error", err)
	}
	if n := pub.Count(""); n != 0 {
		t.Errorf("%d alerts before the rejection was stored", n)
	}
}
