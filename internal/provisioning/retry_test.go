package provisioning

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
)

var azuriteConn string

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := azurite.Start(ctx, azurite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot start Azurite: %v\n", err)
		os.Exit(1)
	}
	azuriteConn = srv.ConnectionString()
	code := m.Run()
	_ = srv.Stop()
	os.Exit(code)
}

type recordingPublisher struct {
	mu   sync.Mutex
	msgs []queue.Message
}

func (p *recordingPublisher) Publish(_ context.Context, _ string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msgs...)
	return nil
}

func (p *recordingPublisher) Close(context.Context) error { return nil }

func (p *recordingPublisher) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.msgs {
		if strings.HasPrefix(m.ID, prefix) {
			n++
		}
	}
	return n
}

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

func newService(t *testing.T) (*Service, *crashingStore, *tablestore.Store, *recordingPublisher) {
	t.Helper()
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	store, err := tablestore.NewFromConnectionString(azuriteConn, tablestore.Options{TablePrefix: "p" + hex.EncodeToString(b)})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	cs := &crashingStore{TenantStore: store}
	pub := &recordingPublisher{}
	s := &Service{Store: cs, Publisher: pub,
		Regions:  domain.Regions{"eu": {Code: "eu", DisplayName: "Europe", AppID: appID, TenantKeyDomain: "eu.teams.videosrv.net", InstructionBaseURL: "https://x.example/api/join"}},
		IPPolicy: domain.IPPolicy{}, ReminderDelay: 72 * time.Hour, OpsEmails: []string{"ops@videosrv.net"},
		Now: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s, cs, store, pub
}

const body = `{"schemaVersion":1,"requestId":"CRM-1","tenantId":"3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10","customerName":"Contoso Ltd",
"region":"eu","adminIps":["203.0.113.7"],"contacts":[{"name":"IT","email":"it-admin@contoso.com","role":"admin"}]}`

func auditActions(t *testing.T, store *tablestore.Store) []string {
	t.Helper()
	page, err := store.ListAudit(context.Background(), "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range page.Items {
		out = append(out, e.Action)
	}
	return out
}

// A crash between creating the tenant and writing tenant.provisioned: the
// retry writes the event, once, and completes the request.
func TestRetryAfterCrashWritesTheAuditRowOnce(t *testing.T) {
	t.Parallel()
	s, cs, store, pub := newService(t)
	ctx := context.Background()
	cs.crash = true
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); !domain.IsTransient(err) {
		t.Fatalf("crashed attempt: %v; want a transient error", err)
	}
	if got := auditActions(t, store); len(got) != 0 {
		t.Fatalf("audit after the crash: %v", got)
	}
	cs.crash = false
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
	if n := pub.count("consent-link:"); n < 1 {
		t.Fatal("no consent link published")
	}
	if n := pub.count("consent-reminder:"); n < 1 {
		t.Fatal("the retry of a new tenant did not schedule the reminder")
	}
}

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
	if pub.count("ops-alert:rejection:") != 2 {
		t.Fatalf("alerts published = %d", pub.count("ops-alert:rejection:"))
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if pub.msgs[0].ID != pub.msgs[1].ID {
		t.Fatal("the two alerts do not share one key")
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
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.msgs) != 2 {
		t.Fatalf("published %d messages; want link and reminder", len(pub.msgs))
	}
	for _, m := range pub.msgs {
		if len(m.ID) > domain.MaxMessageIDLength {
			t.Errorf("message ID is %d characters; Service Bus allows %d", len(m.ID), domain.MaxMessageIDLength)
		}
	}
}

// A crash after creating the tenant and before publishing its consent
// emails, then a later request for the tenant (same admins, so it sends no
// link) applied before the redelivery: the redelivery still sends the link
// and schedules the reminder, and does not put its older IPs back over the
// update's.
func TestRetryAfterCrashWithUpdateInBetweenStillSendsTheLink(t *testing.T) {
	t.Parallel()
	s, cs, store, pub := newService(t)
	ctx := context.Background()
	cs.crash = true
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); !domain.IsTransient(err) {
		t.Fatalf("crashed attempt: %v; want a transient error", err)
	}
	cs.crash = false
	update := strings.Replace(strings.Replace(body, `"CRM-1"`, `"CRM-2"`, 1), `"203.0.113.7"`, `"203.0.113.8"`, 1)
	if res, err := s.Provision(ctx, []byte(update), Source{Kind: "queue", MessageID: "m-2"}); err != nil || res.Outcome != OutcomeUpdated {
		t.Fatalf("update: %+v, %v", res, err)
	}
	if n := pub.count("consent-link:"); n != 0 {
		t.Fatalf("the update published %d links; its admins did not change", n)
	}
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); err != nil {
		t.Fatalf("redelivery: %v", err)
	}
	if pub.count("consent-link:") != 1 || pub.count("consent-reminder:") != 1 {
		t.Fatalf("after the redelivery: %d links, %d reminders; want 1 and 1", pub.count("consent-link:"), pub.count("consent-reminder:"))
	}
	tn, err := store.GetTenant(ctx, "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10")
	if err != nil {
		t.Fatal(err)
	}
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
	later := strings.Replace(strings.Replace(body, `"CRM-1"`, `"CRM-2"`, 1), `"203.0.113.7"`, `"203.0.113.8"`, 1)
	cs.crash = true
	for _, b := range []string{later, body} { // CRM-2 creates, CRM-1 updates; both die before publishing
		if _, err := s.Provision(ctx, []byte(b), Source{Kind: "queue"}); !domain.IsTransient(err) {
			t.Fatalf("crashed attempt: %v; want a transient error", err)
		}
	}
	cs.crash = false
	for _, b := range []string{body, later} {
		if _, err := s.Provision(ctx, []byte(b), Source{Kind: "queue"}); err != nil {
			t.Fatalf("redelivery: %v", err)
		}
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	links := map[string]bool{}
	for _, m := range pub.msgs {
		if strings.HasPrefix(m.ID, "consent-link:") {
			links[m.ID] = true
		}
	}
	if len(links) != 1 {
		t.Fatalf("consent-link jobs %v; want one job for the one admin set", links)
	}
}
