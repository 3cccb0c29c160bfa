package provisioning

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// alwaysStale fails every tenant write with a stale ETag, as a store does
// while other writers keep changing the record.
type alwaysStale struct {
	domain.TenantStore
	writes int
}

func (s *alwaysStale) UpdateTenant(context.Context, *domain.Tenant) error {
	s.writes++
	return domain.Errorf(domain.CodePreconditionFailed, "stale ETag")
}

// An update that keeps losing to other writers stops after
// domain.MaxUpdateAttempts writes with a transient error (the message is
// redelivered), not a rejection: the request itself is fine.
func TestUpdateLosingEveryWriteIsBoundedAndTransient(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	pub.Reset()
	stale := &alwaysStale{TenantStore: s.Store}
	s.Store = stale
	_, err := s.Provision(ctx, request("CRM-2", "new-admin@contoso.com", "Contoso Group"), Source{Kind: "queue", MessageID: "m-2"})
	if !domain.IsTransient(err) || !errors.Is(err, domain.ErrUpdateContended) || stale.writes != domain.MaxUpdateAttempts {
		t.Fatalf("always stale: %v after %d writes; want a transient ErrUpdateContended after %d", err, stale.writes, domain.MaxUpdateAttempts)
	}
	if page, err := store.ListRejections(ctx, 10, ""); err != nil || len(page.Items) != 0 {
		t.Fatalf("rejections %+v, %v; a contended update is not the request's fault", page.Items, err)
	}
	if n := pub.Count(""); n != 0 {
		t.Errorf("%d jobs published for an update that was not applied", n)
	}
	if tn, _ := store.GetTenant(ctx, tenantID); tn.LastRequestID != "CRM-1" || !strings.Contains(tn.CustomerName, "Ltd") {
		t.Errorf("tenant last request %s, name %q; want CRM-1's", tn.LastRequestID, tn.CustomerName)
	}

	// The redelivery, once the contention is over, applies it.
	s.Store = stale.TenantStore
	if res, err := s.Provision(ctx, request("CRM-2", "new-admin@contoso.com", "Contoso Group"), Source{Kind: "queue", MessageID: "m-2"}); err != nil || res.Outcome != OutcomeUpdated {
		t.Fatalf("redelivery: %+v, %v", res, err)
	}
}
