package status

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

func setStatus(t *testing.T, s *Service, id string, st domain.Status) {
	t.Helper()
	if _, err := domain.UpdateTenant(context.Background(), s.Store, id, func(tn *domain.Tenant) (bool, error) {
		tn.Status = st // a fixture: the lifecycle path there is not under test
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// "Grant consent again" publishes one consent-link job under the
// consent-again key (notify sends those to Degraded tenants too), audited;
// an ask inside the interval publishes nothing, nor one for a tenant that
// needs no consent.
func TestAskConsentAgainPublishesOneJobPerInterval(t *testing.T) {
	t.Parallel()
	s, _, id := newService(t)
	out := &outboxtest.Outbox{}
	s.Outbox = out
	ctx := context.Background()
	if err := s.AskConsentAgain(ctx, id, "203.0.113.9"); domain.ErrorCode(err) != domain.CodeConflict || out.Count("") != 0 {
		t.Fatalf("Provisioned tenant: %v, %d jobs; want a conflict and none", err, out.Count(""))
	}
	setStatus(t, s, id, domain.StatusDegraded)
	if err := s.AskConsentAgain(ctx, id, "203.0.113.9"); err != nil {
		t.Fatal(err)
	}
	jobs := out.Jobs("")
	if len(jobs) != 1 {
		t.Fatalf("jobs %+v; want one", jobs)
	}
	tn := teststore.Tenant(t, s.Store, id)
	j := jobs[0]
	if j.Kind != domain.EmailConsentLink || j.TenantID != id || len(j.Recipients) != 1 || j.Recipients[0] != "admin@contoso.com" ||
		j.IdempotencyKey != "consent-again:"+id+":"+tn.ConsentAgainAt.Format(time.RFC3339Nano) ||
		!strings.HasPrefix(j.IdempotencyKey, domain.ConsentAgainKeyPrefix) {
		t.Fatalf("job %+v", j)
	}
	var limited *ErrRateLimited
	if err := s.AskConsentAgain(ctx, id, "203.0.113.9"); !errors.As(err, &limited) || out.Count("") != 1 {
		t.Fatalf("second ask: %v, %d jobs; want rate-limited and still one", err, out.Count(""))
	}
	page, err := s.Store.ListAudit(ctx, id, 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Action != "consent.link-requested" || page.Items[0].SourceIP != "203.0.113.9" {
		t.Fatalf("audit %+v, %v; want one consent.link-requested", page.Items, err)
	}
}

// A failed publish fails the ask (the customer sees an error, not a
// silent "sent").
func TestAskConsentAgainReportsAFailedPublish(t *testing.T) {
	t.Parallel()
	s, _, id := newService(t)
	s.Outbox = &outboxtest.Outbox{Err: domain.Errorf(domain.CodeUnavailable, "queue down")}
	setStatus(t, s, id, domain.StatusRevoked)
	if err := s.AskConsentAgain(context.Background(), id, ""); !domain.IsTransient(err) {
		t.Fatalf("ask with the queue down: %v; want the transient error", err)
	}
}

// The first sighting publishes the tenant's one "you're live" job and
// audits tenant.live once; later sightings publish nothing more.
func TestFirstSightingPublishesTheLiveJobOnce(t *testing.T) {
	t.Parallel()
	s, _, id := newService(t)
	out := &outboxtest.Outbox{}
	now := time.Now().UTC()
	clock := func() time.Time { return now }
	l := &Live{Store: s.Store, Outbox: out, Interval: time.Nanosecond, Now: clock, Logger: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	tn := teststore.Tenant(t, s.Store, id)
	for i := range 3 {
		if err := l.record(ctx, sighting{tenantID: id, at: now.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	jobs := out.Jobs("")
	if len(jobs) != 1 || jobs[0].Kind != domain.EmailLive || jobs[0].IdempotencyKey != "live:"+id || len(jobs[0].Recipients) != 1 {
		t.Fatalf("jobs %+v; want one live:%s", jobs, id)
	}
	page, err := s.Store.ListAudit(ctx, tn.TenantID, 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Action != "tenant.live" || page.Items[0].ID != "live-"+id {
		t.Fatalf("audit %+v, %v; want one tenant.live", page.Items, err)
	}
}
