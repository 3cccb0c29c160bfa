package tenants

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/status"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// checker answers CheckTenant with a canned outcome.
type checker struct {
	out   revalidation.CheckOutcome
	calls []revalidation.CheckOptions
}

func (c *checker) CheckTenant(_ context.Context, id string, o revalidation.CheckOptions) (revalidation.CheckOutcome, error) {
	c.calls = append(c.calls, o)
	out := c.out
	out.TenantID = id
	return out, nil
}

type fixture struct {
	svc     *Service
	store   *tablestore.Store
	outbox  *outboxtest.Outbox
	checker *checker
	status  *status.Service
}

var olivia = domain.Actor{ID: "operator:0b1e5c1e-0000-4000-8000-000000000001", Name: "Olivia Operator"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	logger := slog.New(slog.DiscardHandler)
	base, _ := url.Parse("https://onboarding.onemeeting.example/")
	f := &fixture{store: store, outbox: &outboxtest.Outbox{}, checker: &checker{},
		status: &status.Service{Store: store, PublicBaseURL: base, Now: time.Now, Logger: logger}}
	f.svc = &Service{
		Store: store, Outbox: f.outbox, Revalidation: f.checker, Status: f.status,
		Consent: &consent.Service{Store: store, PublicBaseURL: base, LinkTTL: 7 * 24 * time.Hour, Now: time.Now, Logger: logger},
		Audit:   domain.AuditLog{Store: store, Logger: logger}, Now: time.Now, Logger: logger,
	}
	if err := f.svc.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b := f.outbox.Batches(); len(b) != 0 {
			t.Errorf("the tenants service scheduled re-validation: %+v", b)
		}
	})
	return f
}

// newFixtureWith is a fixture and one tenant in status st (see tenant).
func newFixtureWith(t *testing.T, st domain.Status) (*fixture, *domain.Tenant) {
	t.Helper()
	f := newFixture(t)
	return f, f.tenant(t, st)
}

// tenant stores a tenant in the given status with two admins and an
// allow-listed range.
func (f *fixture) tenant(t *testing.T, st domain.Status) *domain.Tenant {
	t.Helper()
	id := testkit.GUID(t)
	tn := &domain.Tenant{TenantID: id, Status: domain.StatusProvisioned, CustomerName: "Contoso Ltd", PrimaryDomain: "contoso.example",
		Region: "eu", AppID: testkit.GUID(t), TenantKey: "k-" + id[:8], TenantKeyCode: id[:8],
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("198.51.100.16/28")},
		Contacts: []domain.Contact{
			{Email: "a1@contoso.example", Role: domain.RoleAdmin}, {Email: "tech@contoso.example", Role: domain.RoleTechnical},
			{Email: "a2@contoso.example", Role: domain.RoleAdmin},
		}}
	if st == domain.StatusSuspended || st == domain.StatusOffboarded {
		tn.Status = domain.StatusConsented
		tn.StatusReason = "setup"
		if _, err := tn.SetStatus(st, "setup", time.Now()); err != nil {
			t.Fatal(err)
		}
	} else {
		tn.Status = st
	}
	ctx := context.Background()
	if err := f.store.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetAllowedIPs(ctx, id, tn.AllowedIPs); err != nil {
		t.Fatal(err)
	}
	return tn
}

// audits returns the tenant's audit rows of action, oldest first.
func (f *fixture) audits(t *testing.T, id, action string) []domain.AuditEvent {
	t.Helper()
	rows := teststore.AuditActions(t, f.store, id)[action]
	slices.Reverse(rows)
	return rows
}

func wantCode(t *testing.T, what string, err error, code domain.Code, in ...string) {
	t.Helper()
	if domain.ErrorCode(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
	for _, s := range in {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: %q does not say %q", what, err, s)
		}
	}
}

func TestGetNamesTheMissingTenant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := testkit.GUID(t)
	_, err := f.svc.Get(context.Background(), id)
	wantCode(t, "get", err, domain.CodeNotFound, "tenant "+id+" is not onboarded here")
	if strings.Contains(err.Error(), "table") {
		t.Errorf("not-found names the store: %q", err)
	}
}

func TestSuspendASuspendedTenantChangesNothing(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusConsented)
	ctx := context.Background()

	got, err := f.svc.Suspend(ctx, tn.TenantID, "", olivia)
	if err != nil || got.Status != domain.StatusSuspended || got.SuspendedFrom != domain.StatusConsented || got.StatusReason != "operator request by Olivia Operator" {
		t.Fatalf("suspend: %+v, %v", got, err)
	}
	etag := got.ETag
	again, err := f.svc.Suspend(ctx, tn.TenantID, "another reason", olivia)
	if err != nil || again.Status != domain.StatusSuspended || again.ETag != etag || again.StatusReason != got.StatusReason {
		t.Fatalf("suspend again: %+v, %v; want the unchanged tenant (ETag %s)", again, err, etag)
	}
	rows := f.audits(t, tn.TenantID, "tenant.suspended")
	if len(rows) != 2 || rows[0].Details["changed"] != "true" || rows[1].Details["changed"] != "false" {
		t.Fatalf("audit %+v, want changed=true then changed=false", rows)
	}
	if r := rows[0]; r.Actor != olivia.ID || r.ActorName != olivia.Name || r.FromState != domain.StatusConsented || r.ToState != domain.StatusSuspended {
		t.Errorf("audit row %+v does not name the operator and the change", r)
	}
}

func TestResumeOnlyFromSuspended(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusRevoked)
	ctx := context.Background()

	_, err := f.svc.Resume(ctx, tn.TenantID, "", olivia)
	wantCode(t, "resume a Revoked tenant", err, domain.CodeConflict, "is Revoked, not Suspended")
	if rows := f.audits(t, tn.TenantID, "tenant.resumed"); len(rows) != 0 {
		t.Errorf("a refused resume was audited: %+v", rows)
	}

	if _, err := f.svc.Suspend(ctx, tn.TenantID, "billing", olivia); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Resume(ctx, tn.TenantID, "paid", olivia)
	if err != nil || got.Status != domain.StatusRevoked || got.StatusReason != "paid" {
		t.Fatalf("resume: %+v, %v; want back to Revoked", got, err)
	}
	_, err = f.svc.Resume(ctx, testkit.GUID(t), "", olivia)
	wantCode(t, "resume a missing tenant", err, domain.CodeNotFound, "not onboarded here")
}

func TestOffboardTwice(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusConsented)
	ctx := context.Background()

	got, err := f.svc.Offboard(ctx, tn.TenantID, "contract ended", olivia)
	if err != nil || got.Status != domain.StatusOffboarded || got.StatusReason != "contract ended" {
		t.Fatalf("offboard: %+v, %v", got, err)
	}
	// Its addresses left the IP index.
	if ids, err := f.store.TenantsAllowingIP(ctx, netip.MustParseAddr("198.51.100.17")); err != nil || slices.Contains(ids, tn.TenantID) {
		t.Errorf("after offboarding the IP index still names the tenant: %v, %v", ids, err)
	}
	// The same reason, or none: idempotent.
	for _, reason := range []string{"contract ended", ""} {
		again, err := f.svc.Offboard(ctx, tn.TenantID, reason, olivia)
		if err != nil || again.ETag != got.ETag {
			t.Fatalf("offboard again (%q): %v; want the unchanged tenant", reason, err)
		}
	}
	// Another reason: a conflict that names the recorded one.
	_, err = f.svc.Offboard(ctx, tn.TenantID, "duplicate record", olivia)
	wantCode(t, "offboard with another reason", err, domain.CodeConflict, "already offboarded", `"contract ended"`, "new reason was not recorded")
	if cur, _ := f.svc.Get(ctx, tn.TenantID); cur.StatusReason != "contract ended" {
		t.Errorf("reason now %q", cur.StatusReason)
	}
	if rows := f.audits(t, tn.TenantID, "tenant.offboarded"); len(rows) != 3 {
		t.Errorf("%d offboarding audit rows, want 3 (the conflict is not one)", len(rows))
	}
	// Read-only now.
	name := "New Name"
	_, err = f.svc.Patch(ctx, tn.TenantID, Precondition{Any: true}, Patch{CustomerName: &name}, olivia)
	wantCode(t, "patch an offboarded tenant", err, domain.CodeConflict, "Offboarded", "read-only")
}

func TestPatch(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusProvisioned)
	ctx := context.Background()
	bob := domain.Actor{ID: "operator:0b1e5c1e-0000-4000-8000-000000000002", Name: "Bob Builder"}

	name := "Contoso Group"
	got, err := f.svc.Patch(ctx, tn.TenantID, Precondition{ETags: []string{tn.ETag}}, Patch{CustomerName: &name}, bob)
	if err != nil || got.CustomerName != name || got.ETag == tn.ETag {
		t.Fatalf("patch: %+v, %v", got, err)
	}
	rows := f.audits(t, tn.TenantID, "tenant.updated")
	if len(rows) != 1 || rows[0].Details["customerName"] != "Contoso Ltd -> Contoso Group" || rows[0].Actor != bob.ID || rows[0].Reason != "operator PATCH" {
		t.Fatalf("audit %+v", rows)
	}

	// The old ETag is stale now: the error says so and who changed it.
	other := "Olivia's Name"
	_, err = f.svc.Patch(ctx, tn.TenantID, Precondition{ETags: []string{tn.ETag}}, Patch{CustomerName: &other}, olivia)
	wantCode(t, "stale ETag", err, domain.CodePreconditionFailed, tn.TenantID, "tenant.updated by Bob Builder ("+bob.ID+")")
	if cur, _ := f.svc.Get(ctx, tn.TenantID); cur.CustomerName != name {
		t.Errorf("a stale patch changed the name to %q", cur.CustomerName)
	}

	// If-Match: * takes whatever is current; nothing to change is audited
	// as such and writes nothing.
	same, err := f.svc.Patch(ctx, tn.TenantID, Precondition{Any: true}, Patch{CustomerName: &name}, olivia)
	if err != nil || same.ETag != got.ETag {
		t.Fatalf("no-op patch: %v, ETag %s → %s", err, got.ETag, same.ETag)
	}
	if rows := f.audits(t, tn.TenantID, "tenant.updated"); len(rows) != 2 || rows[1].Details["changed"] != "nothing" {
		t.Errorf("no-op audit %+v", rows)
	}

	// Allowed IPs reach the IP index.
	ips := []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}
	if _, err := f.svc.Patch(ctx, tn.TenantID, Precondition{Any: true}, Patch{AllowedIPs: ips}, olivia); err != nil {
		t.Fatal(err)
	}
	if ids, _ := f.store.TenantsAllowingIP(ctx, netip.MustParseAddr("203.0.113.7")); !slices.Contains(ids, tn.TenantID) {
		t.Errorf("patched IP not indexed: %v", ids)
	}

	// If-Match: * on a tenant that is not there: no current version.
	missing := testkit.GUID(t)
	_, err = f.svc.Patch(ctx, missing, Precondition{Any: true}, Patch{CustomerName: &name}, olivia)
	if !errors.Is(err, ErrNoCurrentTenant) || domain.ErrorCode(err) != domain.CodePreconditionFailed {
		t.Errorf("If-Match: * on a missing tenant: %v", err)
	}
	_, err = f.svc.Patch(ctx, missing, Precondition{ETags: []string{"x"}}, Patch{CustomerName: &name}, olivia)
	wantCode(t, "named ETag on a missing tenant", err, domain.CodeNotFound, "not onboarded here")
}

// TestConcurrentPatchesSameETag: of two patches read from the same version,
// exactly one wins.
func TestConcurrentPatchesSameETag(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusProvisioned)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() {
			name := "Name " + string(rune('A'+i))
			_, errs[i] = f.svc.Patch(context.Background(), tn.TenantID, Precondition{ETags: []string{tn.ETag}}, Patch{CustomerName: &name}, olivia)
		})
	}
	wg.Wait()
	var codes []domain.Code
	for _, err := range errs {
		codes = append(codes, domain.ErrorCode(err))
	}
	slices.Sort(codes)
	if !slices.Equal(codes, []domain.Code{"", domain.CodePreconditionFailed}) {
		t.Fatalf("codes %v (%v), want one success and one precondition failed", codes, errs)
	}
}

func TestConsentLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()

	// A Consented tenant may be handed a link, but is emailed none.
	consented := f.tenant(t, domain.StatusConsented)
	_, err := f.svc.IssueConsentLink(ctx, consented.TenantID, true, olivia)
	wantCode(t, "email a Consented tenant", err, domain.CodeConflict, "is Consented", "only sent to Provisioned or Revoked tenants")
	if cur, _ := f.svc.Get(ctx, consented.TenantID); cur.InviteHash != "" {
		t.Error("a refused email still stored a link")
	}
	link, err := f.svc.IssueConsentLink(ctx, consented.TenantID, false, olivia)
	if err != nil || !strings.Contains(link.URL, "/api/adminconsent?t=") || link.Emailed || link.ExpiresAt.IsZero() {
		t.Fatalf("hand out: %+v, %v", link, err)
	}
	if rows := f.audits(t, consented.TenantID, "consent.link-handed-out"); len(rows) != 1 || rows[0].Actor != olivia.ID {
		t.Errorf("hand-out audit %+v", rows)
	}

	// Suspended and Offboarded tenants get no link at all.
	for _, st := range []domain.Status{domain.StatusSuspended, domain.StatusOffboarded} {
		tn := f.tenant(t, st)
		for _, email := range []bool{false, true} {
			_, err := f.svc.IssueConsentLink(ctx, tn.TenantID, email, olivia)
			wantCode(t, string(st), err, domain.CodeConflict, "consent links are refused")
		}
	}

	// A Provisioned tenant: the email goes to the admins, keyed per request.
	tn := f.tenant(t, domain.StatusProvisioned)
	for range 2 {
		link, err := f.svc.IssueConsentLink(ctx, tn.TenantID, true, olivia)
		if err != nil || !link.Emailed || link.URL != "" || !slices.Equal(link.Recipients, []string{"a1@contoso.example", "a2@contoso.example"}) {
			t.Fatalf("email: %+v, %v", link, err)
		}
	}
	jobs := f.outbox.Jobs("")
	if len(jobs) != 2 || jobs[0].IdempotencyKey == jobs[1].IdempotencyKey {
		t.Fatalf("jobs %+v, want two with distinct keys", jobs)
	}
	for _, j := range jobs {
		if j.Kind != domain.EmailConsentLink || j.TenantID != tn.TenantID || !strings.HasPrefix(j.IdempotencyKey, "consent-link:"+tn.TenantID+":operator:") {
			t.Errorf("job %+v", j)
		}
	}
	rows := f.audits(t, tn.TenantID, "consent.link-emailed")
	if len(rows) != 2 || rows[0].Details["idempotencyKey"] != jobs[0].IdempotencyKey || rows[0].Details["recipients"] != "2" || rows[0].ActorName != olivia.Name {
		t.Errorf("email audit %+v", rows)
	}

	// No admin to email.
	noAdmin := f.tenant(t, domain.StatusRevoked)
	cur, _ := f.svc.Get(ctx, noAdmin.TenantID)
	cur.Contacts = []domain.Contact{{Email: "tech@contoso.example", Role: domain.RoleTechnical}}
	if err := f.store.UpdateTenant(ctx, cur); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.IssueConsentLink(ctx, noAdmin.TenantID, true, olivia)
	wantCode(t, "no admin", err, domain.CodeConflict, "no admin contact")
	_, err = f.svc.IssueConsentLink(ctx, testkit.GUID(t), false, olivia)
	wantCode(t, "missing tenant", err, domain.CodeNotFound, "not onboarded here")
}

func TestRotateStatusLinkRevokesTheOldOne(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusConsented)
	ctx := context.Background()
	token := func(u string) string { return path.Base(u) }

	old, err := f.status.Link(ctx, tn.TenantID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.status.Resolve(ctx, token(old)); err != nil {
		t.Fatalf("the first link does not resolve: %v", err)
	}
	u, issuedAt, err := f.svc.RotateStatusLink(ctx, tn.TenantID, olivia)
	if err != nil || u == old || issuedAt.IsZero() {
		t.Fatalf("rotate: %q %v %v", u, issuedAt, err)
	}
	if _, err := f.status.Resolve(ctx, token(old)); !errors.Is(err, status.ErrNotFound) {
		t.Errorf("the old link still resolves after rotation: %v", err)
	}
	if got, err := f.status.Resolve(ctx, token(u)); err != nil || got.TenantID != tn.TenantID || !got.StatusLinkIssuedAt.Equal(issuedAt) {
		t.Errorf("the new link: %v, %v", got, err)
	}
	if rows := f.audits(t, tn.TenantID, "status.link-rotated"); len(rows) != 1 || rows[0].Actor != olivia.ID {
		t.Errorf("rotation audit %+v", rows)
	}
	_, _, err = f.svc.RotateStatusLink(ctx, testkit.GUID(t), olivia)
	wantCode(t, "missing tenant", err, domain.CodeNotFound, "not onboarded here")

	unconfigured := *f.svc
	unconfigured.Status = nil
	_, _, err = unconfigured.RotateStatusLink(ctx, tn.TenantID, olivia)
	wantCode(t, "no status service", err, domain.CodeUnavailable, "not configured")
}

func TestRecheck(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusConsented)
	ctx := context.Background()
	f.checker.out = revalidation.CheckOutcome{From: domain.StatusConsented, To: domain.StatusRevoked, Transition: true,
		Check: &domain.ConsentCheck{Outcome: domain.CheckRevoked}}

	out, err := f.svc.Recheck(ctx, tn.TenantID, olivia)
	if err != nil || !out.Transition || out.TenantID != tn.TenantID {
		t.Fatalf("recheck: %+v, %v", out, err)
	}
	if len(f.checker.calls) != 1 || f.checker.calls[0].Actor != olivia.ID || f.checker.calls[0].ActorName != olivia.Name {
		t.Errorf("check options %+v, want the operator", f.checker.calls)
	}
	rows := f.audits(t, tn.TenantID, "consent.revalidation-requested")
	if len(rows) != 1 || rows[0].Details["outcome"] != string(domain.CheckRevoked) || rows[0].Details["transition"] != "true" || rows[0].ToState != domain.StatusRevoked {
		t.Errorf("audit %+v", rows)
	}

	// A long transient error is cut to 300 characters, whole runes.
	f.checker.out = revalidation.CheckOutcome{From: domain.StatusConsented, To: domain.StatusConsented, TransientFailure: true, Error: strings.Repeat("é", 400)}
	if _, err := f.svc.Recheck(ctx, tn.TenantID, olivia); err != nil {
		t.Fatal(err)
	}
	rows = f.audits(t, tn.TenantID, "consent.revalidation-requested")
	if len(rows) != 2 || len([]rune(rows[1].Details["error"])) > 300 || !strings.HasPrefix(rows[1].Details["error"], "éé") {
		t.Errorf("error detail %q", rows[len(rows)-1].Details["error"])
	}

	_, err = f.svc.Recheck(ctx, testkit.GUID(t), olivia)
	wantCode(t, "missing tenant", err, domain.CodeNotFound, "not onboarded here")
	if len(f.checker.calls) != 2 {
		t.Errorf("a missing tenant was checked")
	}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	f, tn := newFixtureWith(t, domain.StatusConsented)
	ctx := context.Background()
	if _, err := f.svc.Suspend(ctx, tn.TenantID, "", olivia); err != nil {
		t.Fatal(err)
	}
	page, err := f.svc.Events(ctx, tn.TenantID, 10, "")
	if err != nil || len(page.Items) != 1 || page.Items[0].Action != "tenant.suspended" {
		t.Fatalf("events %+v, %v", page, err)
	}
	_, err = f.svc.Events(ctx, testkit.GUID(t), 10, "")
	wantCode(t, "missing tenant", err, domain.CodeNotFound, "not onboarded here")
}

// racingStore lets another writer change the tenant just before the first
// write, so that write finds its ETag stale.
type racingStore struct {
	*tablestore.Store
	once sync.Once
	t    *testing.T
}

func (s *racingStore) UpdateTenant(ctx context.Context, t *domain.Tenant) error {
	s.once.Do(func() {
		cur, err := s.Store.GetTenant(ctx, t.TenantID)
		if err != nil {
			s.t.Error(err)
			return
		}
		cur.PrimaryDomain = "changed.example"
		if err := s.Store.UpdateTenant(ctx, cur); err != nil {
			s.t.Error(err)
		}
	})
	return s.Store.UpdateTenant(ctx, t)
}

// TestPatchAnyVersionRereads: with If-Match: * a concurrent change is
// re-read and the patch applied on top of it; with a named ETag it is a
// precondition failure.
func TestPatchAnyVersionRereads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	name := "Contoso Group"

	tn := f.tenant(t, domain.StatusProvisioned)
	f.svc.Store = &racingStore{Store: f.store, t: t}
	got, err := f.svc.Patch(ctx, tn.TenantID, Precondition{Any: true}, Patch{CustomerName: &name}, olivia)
	if err != nil || got.CustomerName != name || got.PrimaryDomain != "changed.example" {
		t.Fatalf("patch with *: %+v, %v; want both changes kept", got, err)
	}

	tn = f.tenant(t, domain.StatusProvisioned)
	f.svc.Store = &racingStore{Store: f.store, t: t}
	_, err = f.svc.Patch(ctx, tn.TenantID, Precondition{ETags: []string{tn.ETag}}, Patch{CustomerName: &name}, olivia)
	wantCode(t, "patch a version changed meanwhile", err, domain.CodePreconditionFailed)
	if cur, _ := f.store.GetTenant(ctx, tn.TenantID); cur.CustomerName == name {
		t.Error("the patch overwrote the concurrent change")
	}
}
