package provisioning

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A crash after creating the tenant and before publishing its consent
// emails, then a later request for the tenant (same admins, so it sends no
// link) applied before the redelivery: the redelivery still sends the link
// and schedules the reminder, and does not put its older IPs back over the
// update's.
func TestRetryAfterCrashWithUpdateInBetweenStillSendsTheLink(t *testing.T) {
	t.Parallel()
	s, cs, store, pub := newService(t)
	ctx := context.Background()
	crashing(t, s, cs, Source{Kind: "queue", MessageID: "m-1"}, body)
	if res, err := s.Provision(ctx, []byte(movedIP()), Source{Kind: "queue", MessageID: "m-2"}); err != nil || res.Outcome != OutcomeUpdated {
		t.Fatalf("update: %+v, %v", res, err)
	}
	if n := pub.Count("consent-link:"); n != 0 {
		t.Fatalf("the update published %d links; its admins did not change", n)
	}
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if pub.Count("consent-link:") != 1 || pub.Count("consent-reminder:") != 1 {
		t.Fatalf("after the redelivery: %d links, %d reminders; want 1 and 1", pub.Count("consent-link:"), pub.Count("consent-reminder:"))
	}
	tn := teststore.Tenant(t, store, tenantID)
	if len(tn.AllowedIPs) != 1 || tn.AllowedIPs[0].String() != "203.0.113.8/32" || tn.LastRequestID != "CRM-2" {
		t.Fatalf("tenant after the redelivery: IPs %v, last request %s; want the update's", tn.AllowedIPs, tn.LastRequestID)
	}
	if got := auditActions(t, store); !slices.Contains(got, "tenant.provisioned") {
		t.Fatalf("audit = %v; want tenant.provisioned", got)
	}
}

// Found by the soak (internal/e2e): a later request CRM-2 created the tenant
// and CRM-1 (same admins) updated it, both deliveries killed before they
// published the consent emails. Each redelivery re-publishes the link (the
// creator because it created the tenant, CRM-1 because it cannot know any
// more whether it changed the admins): both name the same job, so the
// admins get one link.
func TestTwoInterruptedRequestsForTheSameAdminsPublishOneLink(t *testing.T) {
	t.Parallel()
	s, cs, _, pub := newService(t)
	ctx := context.Background()
	later := movedIP()
	crashing(t, s, cs, Source{Kind: "queue"}, later, body) // CRM-2 creates, CRM-1 updates; both die before publishing
	for _, b := range []string{body, later} {
		if _, err := s.Provision(ctx, []byte(b), Source{Kind: "queue"}); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	links := map[string]bool{}
	for _, j := range pub.Jobs("consent-link:") {
		links[j.IdempotencyKey] = true
	}
	if len(links) != 1 {
		t.Fatalf("consent-link jobs %v; want one job for the one admin set", links)
	}
}

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

func statusRaceRequest(t *testing.T, tenantID, requestID, adminEmail string) []byte {
	t.Helper()
	return []byte(testkit.JSON(t, map[string]any{"schemaVersion": 1, "requestId": requestID, "tenantId": tenantID, "customerName": "Contoso Ltd",
		"region": "eu", "adminIps": []string{"203.0.113.7"},
		"contacts": []map[string]string{{"name": "Admin", "email": adminEmail, "role": "admin"}}}))
}

// A provisioning update reads the tenant and writes it back whole: an
// operator's suspend in between wins (the write is ETag-conditional and the
// update is applied again to the fresh record), and no consent link goes
// to a suspended tenant.
func TestProvisioningUpdateRacingSuspendKeepsSuspended(t *testing.T) {
	t.Parallel()
	inner := teststore.New(t, tablestore.Options{})
	ctx := context.Background()
	store := &suspendAfterRead{TenantStore: inner}
	pub := &outboxtest.Outbox{}
	svc := &Service{Store: store, Outbox: pub, IPPolicy: domain.IPPolicy{},
		Regions: domain.Regions{"eu": {Code: "eu", DisplayName: "Europe", AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10",
			TenantKeyDomain: "eu.example", InstructionBaseURL: "https://join.example/eu"}},
		ReminderDelay: time.Hour, Now: time.Now, Logger: slog.New(slog.DiscardHandler)}
	tenantID := testkit.GUID(t)
	if _, err := svc.Provision(ctx, statusRaceRequest(t, tenantID, "CRM-1", "old-admin@contoso.example"), Source{Kind: "queue", Actor: "crm"}); err != nil {
		t.Fatal(err)
	}
	pub.Reset()

	store.armed.Store(true)
	res, err := svc.Provision(ctx, statusRaceRequest(t, tenantID, "CRM-2", "new-admin@contoso.example"), Source{Kind: "queue", Actor: "crm"})
	if err != nil {
		t.Fatal(err)
	}
	if store.armed.Load() {
		t.Fatal("the update never read the tenant")
	}
	got := teststore.Tenant(t, inner, tenantID)
	if got.Status != domain.StatusSuspended || got.SuspendedFrom != domain.StatusProvisioned || res.Tenant.Status != domain.StatusSuspended {
		t.Fatalf("after the race: %s (from %s), result %s", got.Status, got.SuspendedFrom, res.Tenant.Status)
	}
	if len(got.Contacts) != 1 || got.Contacts[0].Email != "new-admin@contoso.example" || !got.AllowsIP(netip.MustParseAddr("203.0.113.7")) {
		t.Errorf("the update itself was lost: %+v", got.Contacts)
	}
	for _, job := range pub.Jobs("") {
		if job.Kind == domain.EmailConsentLink || job.Kind == domain.EmailConsentReminder {
			t.Errorf("a %s email was queued for a suspended tenant", job.Kind)
		}
	}
}

// request is the fixture request as requestID with the given admin and
// customer name.
func request(requestID, admin, customer string) []byte {
	b := strings.Replace(body, `"CRM-1"`, `"`+requestID+`"`, 1)
	b = strings.Replace(b, "it-admin@contoso.com", admin, 1)
	return []byte(strings.Replace(b, "Contoso Ltd", customer, 1))
}

// An update that changes the admins publishes a consent-link job under a
// new key (the new admin set), and no second reminder; one that keeps them
// publishes nothing. Both are audited with what changed.
func TestUpdateChangingAdminsPublishesANewConsentLink(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	links := pub.Jobs("consent-link:")
	reminders := pub.Jobs("consent-reminder:")
	if len(links) != 1 || len(reminders) != 1 {
		t.Fatalf("new tenant: %d links, %d reminders; want 1 and 1", len(links), len(reminders))
	}
	if links[0].IdempotencyKey != domain.ConsentLinkKey(tenantID, []string{"it-admin@contoso.com"}) ||
		reminders[0].IdempotencyKey != "consent-reminder:"+tenantID+":CRM-1" || links[0].Kind != domain.EmailConsentLink {
		t.Fatalf("keys %q, %q", links[0].IdempotencyKey, reminders[0].IdempotencyKey)
	}
	if at := pub.Sent()[1].At; !pub.Sent()[0].At.IsZero() || at.Before(time.Now().Add(71*time.Hour)) {
		t.Errorf("link at %v (want now), reminder at %v (want ReminderDelay after receipt)", pub.Sent()[0].At, at)
	}

	pub.Reset()
	res, err := s.Provision(ctx, request("CRM-2", "it-admin@contoso.com", "Contoso Group"), Source{Kind: "queue", MessageID: "m-2"})
	if err != nil || res.Outcome != OutcomeUpdated || res.Tenant.CustomerName != "Contoso Group" {
		t.Fatalf("same admins: %+v, %v", res, err)
	}
	if n := pub.Count(""); n != 0 {
		t.Fatalf("an update keeping the admins published %d jobs", n)
	}

	res, err = s.Provision(ctx, request("CRM-3", "new-admin@contoso.com", "Contoso Group"), Source{Kind: "queue", MessageID: "m-3"})
	if err != nil || res.Outcome != OutcomeUpdated {
		t.Fatalf("new admins: %+v, %v", res, err)
	}
	jobs := pub.Jobs("")
	if len(jobs) != 1 || jobs[0].Kind != domain.EmailConsentLink || jobs[0].IdempotencyKey == links[0].IdempotencyKey ||
		len(jobs[0].Recipients) != 1 || jobs[0].Recipients[0] != "new-admin@contoso.com" {
		t.Fatalf("after changing the admins: %+v; want one new consent-link job to the new admin", jobs)
	}
	details := map[string]map[string]string{}
	for _, e := range teststore.Audit(t, store, tenantID) {
		details[e.ID] = e.Details
	}
	if d := details["updated-CRM-2"]; d["customerName"] != "Contoso Ltd -> Contoso Group" || d["adminContactsChanged"] != "" {
		t.Errorf("CRM-2 audit %v", d)
	}
	if d := details["updated-CRM-3"]; d["adminContactsChanged"] != "true" || d["contacts"] != "changed" {
		t.Errorf("CRM-3 audit %v", d)
	}
}

// Consent links go only to a tenant still waiting for consent: new admins
// of a Consented tenant get none.
func TestUpdateOfAConsentedTenantPublishesNoLink(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := domain.UpdateTenant(ctx, store, tenantID, func(tn *domain.Tenant) (bool, error) {
		return tn.SetStatus(domain.StatusConsented, "test", time.Now().UTC())
	}); err != nil {
		t.Fatal(err)
	}
	pub.Reset()
	if _, err := s.Provision(ctx, request("CRM-2", "new-admin@contoso.com", "Contoso Ltd"), Source{Kind: "queue", MessageID: "m-2"}); err != nil {
		t.Fatal(err)
	}
	if n := pub.Count(""); n != 0 {
		t.Fatalf("%d jobs for a Consented tenant's new admins; want none", n)
	}
}

// What an update may not do is a permanent conflict naming the field,
// recorded as a rejection: move the region, or provision an offboarded
// tenant again.
func TestUpdateConflicts(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	s.Regions["us"] = domain.Region{Code: "us", DisplayName: "US", AppID: appID, TenantKeyDomain: "us.teams.videosrv.net", InstructionBaseURL: "https://x.example/api/join"}
	ctx := context.Background()
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatal(err)
	}
	pub.Reset()
	moved := strings.Replace(string(request("CRM-2", "it-admin@contoso.com", "Contoso Ltd")), `"region":"eu"`, `"region":"us"`, 1)
	if _, err := s.Provision(ctx, []byte(moved), Source{Kind: "queue", MessageID: "m-2"}); domain.ErrorCode(err) != domain.CodeConflict || domain.ErrorField(err) != "region" {
		t.Fatalf("region move: %v; want a conflict on region", err)
	}
	if _, err := domain.UpdateTenant(ctx, store, tenantID, func(tn *domain.Tenant) (bool, error) {
		tn.Status = domain.StatusOffboarded // a fixture; offboarding itself is not under test
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Provision(ctx, request("CRM-3", "it-admin@contoso.com", "Contoso Ltd"), Source{Kind: "queue", MessageID: "m-3"}); domain.ErrorCode(err) != domain.CodeConflict || domain.ErrorField(err) != "tenantId" {
		t.Fatalf("offboarded: %v; want a conflict on tenantId", err)
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 2 {
		t.Fatalf("rejections %+v, %v; want two", page.Items, err)
	}
	if n, alerts := pub.Count(""), pub.Count("ops-alert:rejection:"); n != 2 || alerts != 2 {
		t.Errorf("%d jobs, %d rejection alerts; want only the two alerts", n, alerts)
	}
	if tn, _ := store.GetTenant(ctx, tenantID); tn.Region != "eu" || tn.LastRequestID != "CRM-1" {
		t.Errorf("tenant region %s, last request %s; the rejected requests changed it", tn.Region, tn.LastRequestID)
	}
}
