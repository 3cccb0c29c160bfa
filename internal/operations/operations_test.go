package operations

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

func TestMain(m *testing.M) { testkit.Main(m) }

var regions = domain.Regions{"eu": {Code: "eu"}, "us": {Code: "us"}}

func newService(t *testing.T) (*Service, *tablestore.Store) {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	return &Service{Store: store, Regions: regions, ReminderDelay: 72 * time.Hour, AlertAfter: 3}, store
}

func tenant(t *testing.T, name, region string, status domain.Status) *domain.Tenant {
	t.Helper()
	id := testkit.GUID(t)
	slug := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	return &domain.Tenant{TenantID: id, Status: status, CustomerName: name, PrimaryDomain: slug + ".example", Region: region,
		AppID: "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10", TenantKey: id[:8] + "@" + region + ".cvi.example", TenantKeyCode: id[:8],
		Contacts:  []domain.Contact{{Email: "it@" + slug + ".example", Role: domain.RoleAdmin}},
		CreatedAt: time.Now().UTC().Add(-24 * time.Hour)}
}

func create(t *testing.T, s domain.TenantStore, ts ...*domain.Tenant) {
	t.Helper()
	for _, tn := range ts {
		if err := s.CreateTenant(t.Context(), tn); err != nil {
			t.Fatal(err)
		}
	}
}

func mutate(t *testing.T, s domain.TenantStore, id string, f func(*domain.Tenant)) {
	t.Helper()
	if _, err := domain.UpdateTenant(t.Context(), s, id, func(tn *domain.Tenant) (bool, error) { f(tn); return true, nil }); err != nil {
		t.Fatal(err)
	}
}

func names(res domain.TenantSearchResult) []string {
	var out []string
	for _, tn := range res.Items {
		out = append(out, tn.CustomerName)
	}
	return out
}

// plainStore hides the store's search index and cross-tenant reads, as a
// store without them would be.
type plainStore struct{ domain.TenantStore }

// A tenant changed or created after the index was built is found by the
// next search: the store's catch-up, and the full read without an index.
func TestSearchFindsChangesAfterTheIndexWasBuilt(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	a, b := tenant(t, "Contoso", "eu", domain.StatusProvisioned), tenant(t, "Fabrikam", "us", domain.StatusProvisioned)
	create(t, store, a, b)
	plain := &Service{Store: plainStore{store}}
	for _, s := range []*Service{svc, plain} {
		if got := names(mustSearch(t, s, domain.TenantQuery{Sort: domain.SortName})); !slices.Equal(got, []string{"Contoso", "Fabrikam"}) {
			t.Fatalf("first search %v", got)
		}
	}
	mutate(t, store, b.TenantID, func(tn *domain.Tenant) { tn.CustomerName, tn.Status = "Fabrikam Renamed", domain.StatusSuspended })
	c := tenant(t, "Tailspin", "eu", domain.StatusProvisioned)
	create(t, store, c)
	for i, s := range []*Service{svc, plain} {
		q := domain.TenantQuery{Filter: domain.TenantFilter{Text: "renamed", Statuses: []domain.Status{domain.StatusSuspended}}, Sort: domain.SortName}
		if got := names(mustSearch(t, s, q)); !slices.Equal(got, []string{"Fabrikam Renamed"}) {
			t.Errorf("service %d: after rename %v", i, got)
		}
		res := mustSearch(t, s, domain.TenantQuery{Filter: domain.TenantFilter{Region: "eu"}, Sort: domain.SortName, Desc: true, Limit: 1})
		if res.Total != 2 || !slices.Equal(names(res), []string{"Tailspin"}) {
			t.Errorf("service %d: new tenant: %v of %d", i, names(res), res.Total)
		}
	}
}

func mustSearch(t *testing.T, s *Service, q domain.TenantQuery) domain.TenantSearchResult {
	t.Helper()
	res, err := s.SearchTenants(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestOverviewCountsByStatusAndNeedsAttention(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	now := time.Now().UTC()
	svc.Now = func() time.Time { return now }
	ctx := t.Context()
	a := tenant(t, "Alpha", "eu", domain.StatusConsented)
	a.ConsentedAt, a.CreatedAt = now, now.Add(-2*time.Hour)
	b := tenant(t, "Beta", "us", domain.StatusDegraded)
	b.ConsentedAt, b.CreatedAt, b.MissingRoles = now, now.Add(-4*time.Hour), []string{"CallRecords.Read.All"}
	b.VerificationPending, b.VerificationPendingSince = true, now
	c := tenant(t, "Gamma", "eu", domain.StatusProvisioned)
	c.InviteIssuedAt = now.Add(-100 * time.Hour) // reminder (72 h) long past
	c.ConsecutiveCheckFailures, c.LastCheckError = 3, "graph: 503"
	d := tenant(t, "Delta", "eu", domain.StatusOffboarded)
	d.ConsentedAt = now // offboarded: counted by status only
	create(t, store, a, b, c, d)
	must(t, store.AppendAudit(ctx, domain.AuditEvent{ID: domain.NewID(), TenantID: c.TenantID, At: now, Action: "consent.started", Actor: "customer-admin"}))
	must(t, store.AddRejection(ctx, domain.Rejection{ID: "new", At: now.Add(-time.Hour), Source: "api", Reason: "bad region", Field: "region"}))
	must(t, store.AddRejection(ctx, domain.Rejection{ID: "old", At: now.Add(-8 * 24 * time.Hour), Source: "api", Reason: "too old"}))

	o, err := svc.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"Provisioned": 1, "Consented": 1, "Degraded": 1, "Revoked": 0, "Suspended": 0, "Offboarded": 1}
	if o.Total != 4 || !maps.Equal(o.ByStatus, want) || !maps.Equal(o.ByRegion, map[string]int{"eu": 3, "us": 1}) {
		t.Errorf("counts %d %v %v", o.Total, o.ByStatus, o.ByRegion)
	}
	if f := o.Funnel; f.Provisioned != 3 || f.LinkOpened != 3 || f.Consented != 2 || f.Verified != 1 ||
		f.TimeToConsent.Count != 2 || *f.TimeToConsent.MedianSeconds != 3*3600 || *f.TimeToConsent.P90Seconds != 4*3600 {
		t.Errorf("funnel %+v", f)
	}
	var kinds []string
	for _, it := range o.NeedsAttention {
		kinds = append(kinds, it.Kind+":"+it.TenantID+it.RejectionID)
	}
	slices.Sort(kinds)
	wantKinds := []string{"degraded:" + b.TenantID, "failing-checks:" + c.TenantID, "no-consent-after-reminder:" + c.TenantID,
		"rejected-request:new", "verification-pending:" + b.TenantID}
	if !slices.Equal(kinds, wantKinds) || o.NeedsAttentionTotal != 5 {
		t.Errorf("needs attention %v (total %d), want %v", kinds, o.NeedsAttentionTotal, wantKinds)
	}
	if !slices.IsSortedFunc(o.NeedsAttention, func(x, y Attention) int { return y.Since.Compare(x.Since) }) {
		t.Errorf("needs attention not newest first: %+v", o.NeedsAttention)
	}
	if o.LastRevalidationRun != nil {
		t.Errorf("no run yet: %+v", o.LastRevalidationRun)
	}
	must(t, store.CreateRevalidationRun(ctx, &domain.RevalidationRun{RunID: "run-1", StartedAt: now, FinishedAt: now, Trigger: "timer", Tenants: 4, Checked: 1}))
	if o, err = svc.Overview(ctx); err != nil || o.LastRevalidationRun == nil || o.LastRevalidationRun.State != "checking" || o.LastRevalidationRun.Percent != 25 {
		t.Errorf("last run %+v, %v", o.LastRevalidationRun, err)
	}
}

func TestProgress(t *testing.T) {
	for _, c := range []struct {
		run     domain.RevalidationRun
		state   string
		percent float64
	}{
		{domain.RevalidationRun{Tenants: 10}, "listing", 0},
		{domain.RevalidationRun{Tenants: 10, Checked: 5, FinishedAt: time.Now()}, "checking", 50},
		{domain.RevalidationRun{Tenants: 10, Checked: 10, FinishedAt: time.Now()}, "finished", 100},
		{domain.RevalidationRun{FinishedAt: time.Now()}, "finished", 100},
	} {
		if p := Progress(&c.run); p.State != c.state || p.Percent != c.percent {
			t.Errorf("%+v → %s %v, want %s %v", c.run, p.State, p.Percent, c.state, c.percent)
		}
	}
}

func TestRevalidationRunListsItsTenantsFailedFirst(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	ok1, ok2, bad, other := tenant(t, "Ok1", "eu", domain.StatusConsented), tenant(t, "Ok2", "eu", domain.StatusConsented),
		tenant(t, "Bad", "us", domain.StatusConsented), tenant(t, "Other", "eu", domain.StatusConsented)
	for _, tn := range []*domain.Tenant{ok1, ok2, bad} {
		tn.LastCheckRunID = "run-7"
	}
	bad.LastCheckError = "graph: 503"
	other.LastCheckRunID = "run-6"
	create(t, store, ok1, ok2, bad, other)
	must(t, store.CreateRevalidationRun(ctx, &domain.RevalidationRun{RunID: "run-7", StartedAt: time.Now().UTC(), Trigger: "manual", Tenants: 3}))
	d, err := svc.RevalidationRun(ctx, "run-7")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, tn := range d.Tenants {
		ids = append(ids, tn.TenantID)
	}
	oks := []string{ok1.TenantID, ok2.TenantID}
	slices.Sort(oks)
	if want := append([]string{bad.TenantID}, oks...); !slices.Equal(ids, want) || d.Truncated || d.Progress.State != "listing" {
		t.Errorf("run detail %v (state %s), want %v", ids, d.Progress.State, want)
	}
	_, err = svc.RevalidationRun(ctx, "run-8")
	if domain.ErrorCode(err) != domain.CodeNotFound || !strings.Contains(err.Error(), "there is no revalidation run run-8") {
		t.Errorf("missing run: %v", err)
	}
}

func TestEventsPageAcrossTenantsNewestFirst(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	a, b := testkit.GUID(t), testkit.GUID(t)
	for i := range 5 {
		must(t, store.AppendAudit(ctx, domain.AuditEvent{ID: fmt.Sprintf("e%d", i), TenantID: []string{a, b}[i%2], At: base.Add(time.Duration(i) * time.Minute),
			Action: "tenant.suspended", Actor: "operator:x"}))
	}
	must(t, store.AppendAudit(ctx, domain.AuditEvent{ID: "other", TenantID: a, At: base, Action: "consent.started", Actor: "customer-admin"}))
	q := domain.AuditQuery{Action: "tenant.", Limit: 1} // Limit is the service's
	var got []string
	var nexts []int
	for offset, pages := 0, 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		p, err := svc.Events(ctx, q, offset, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			got = append(got, e.ID)
		}
		nexts = append(nexts, p.Next)
		if p.Next == 0 {
			break
		}
		offset = p.Next
	}
	if want := []string{"e4", "e3", "e2", "e1", "e0"}; !slices.Equal(got, want) || !slices.Equal(nexts, []int{2, 4, 0}) {
		t.Errorf("paged %v (next %v), want %v", got, nexts, want)
	}
	if p, err := svc.Events(ctx, q, 9, 2); err != nil || len(p.Items) != 0 || p.Next != 0 {
		t.Errorf("past the end: %+v, %v", p, err)
	}
	if _, err := (&Service{Store: plainStore{store}}).Events(ctx, q, 0, 2); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("store without cross-tenant search: %v", err)
	}
}

func TestTenantEmails(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	tn := tenant(t, "Alpha", "eu", domain.StatusProvisioned)
	create(t, store, tn)
	must(t, store.ClaimMail(ctx, &domain.MailRecord{Key: "consent-link:" + tn.TenantID, Status: "sent", Kind: domain.EmailConsentLink,
		TenantID: tn.TenantID, UpdatedAt: time.Now().UTC()}))
	mails, err := svc.TenantEmails(ctx, tn.TenantID)
	if err != nil || len(mails) != 1 || mails[0].Kind != domain.EmailConsentLink {
		t.Errorf("emails %+v, %v", mails, err)
	}
	id := testkit.GUID(t)
	if _, err := svc.TenantEmails(ctx, id); domain.ErrorCode(err) != domain.CodeNotFound || !strings.Contains(err.Error(), "tenant "+id+" is not onboarded here") {
		t.Errorf("unknown tenant: %v", err)
	}
}

func TestRejectionsAndRunsPageNewestFirst(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	now := time.Now().UTC()
	for i := range 3 {
		must(t, store.AddRejection(ctx, domain.Rejection{ID: fmt.Sprintf("r%d", i), At: now.Add(time.Duration(i) * time.Minute), Source: "api", Reason: "x"}))
		must(t, store.CreateRevalidationRun(ctx, &domain.RevalidationRun{RunID: fmt.Sprintf("run-%d", i), StartedAt: now.Add(time.Duration(i) * time.Minute), Trigger: "timer"}))
	}
	rej, err := svc.Rejections(ctx, 2, "")
	if err != nil || len(rej.Items) != 2 || rej.Items[0].ID != "r2" || rej.Next == "" {
		t.Fatalf("rejections %+v, %v", rej, err)
	}
	if rest, err := svc.Rejections(ctx, 2, rej.Next); err != nil || len(rest.Items) != 1 || rest.Items[0].ID != "r0" || rest.Next != "" {
		t.Errorf("second page %+v, %v", rest, err)
	}
	runs, err := svc.RevalidationRuns(ctx, 5, "")
	if err != nil || len(runs.Items) != 3 || runs.Items[0].RunID != "run-2" {
		t.Errorf("runs %+v, %v", runs, err)
	}
}

// deadLetters is an in-memory domain.DeadLetters.
type deadLetters struct {
	mu      sync.Mutex
	dead    []domain.DeadLetter
	by      []string
	failAt  int64 // sequence number whose resubmit fails
	listMax int
}

func (d *deadLetters) ListDeadLetters(_ context.Context, queue string, max int) ([]domain.DeadLetter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.listMax = max
	var out []domain.DeadLetter
	for _, dl := range d.dead {
		if dl.Queue == queue && len(out) < max {
			out = append(out, dl)
		}
	}
	return out, nil
}

func (d *deadLetters) ResubmitDeadLetters(_ context.Context, queue string, sel domain.DeadLetterSelection, by string) ([]domain.Resubmitted, []int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.by = append(d.by, by)
	var done []domain.Resubmitted
	found := map[int64]bool{}
	for _, dl := range slices.Clone(d.dead) {
		if dl.Queue != queue || !sel.Has(dl.SequenceNumber) {
			continue
		}
		if dl.SequenceNumber == d.failAt {
			return done, nil, errors.New("send failed")
		}
		done = append(done, domain.Resubmitted{SequenceNumber: dl.SequenceNumber, DeadLetterID: dl.MessageID, OriginalMessageID: dl.MessageID,
			MessageID: dl.MessageID + ":resubmit", TenantID: dl.TenantID})
		found[dl.SequenceNumber] = true
		d.dead = slices.DeleteFunc(d.dead, func(x domain.DeadLetter) bool { return x.SequenceNumber == dl.SequenceNumber })
	}
	var missing []int64
	for _, s := range sel.SequenceNumbers {
		if !found[s] {
			missing = append(missing, s)
		}
	}
	return done, missing, nil
}

func auditOf(t *testing.T, store domain.TenantStore, partition string) []domain.AuditEvent {
	t.Helper()
	page, err := store.ListAudit(t.Context(), partition, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

// Listed sequence numbers resubmit those (the missing ones reported), all
// resubmits the rest; each copy is audited for the operator, in the
// tenant's trail or the operations partition.
func TestResubmitListedThenAll(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	ctx := t.Context()
	tenantID := testkit.GUID(t)
	dl := &deadLetters{dead: []domain.DeadLetter{
		{Queue: "provisioning", SequenceNumber: 1, MessageID: "crm-1", TenantID: tenantID},
		{Queue: "provisioning", SequenceNumber: 2, MessageID: "crm-2"},
		{Queue: "email", SequenceNumber: 3, MessageID: "mail-3"},
	}}
	svc.DeadLetters = dl
	by := domain.Actor{ID: "operator:abc", Name: "Olivia"}

	res, err := svc.ResubmitDeadLetters(ctx, "provisioning", domain.DeadLetterSelection{SequenceNumbers: []int64{1, 99}}, by)
	if err != nil || len(res.Resubmitted) != 1 || res.Resubmitted[0].SequenceNumber != 1 || !slices.Equal(res.NotFound, []int64{99}) {
		t.Fatalf("listed: %+v, %v", res, err)
	}
	evs := auditOf(t, store, tenantID)
	if len(evs) != 1 || evs[0].Action != "deadletter.resubmitted" || evs[0].Actor != by.ID || evs[0].ActorName != by.Name ||
		evs[0].Details["queue"] != "provisioning" || evs[0].Details["sequenceNumber"] != "1" || evs[0].Details["messageId"] != "crm-1:resubmit" {
		t.Errorf("tenant audit %+v", evs)
	}

	res, err = svc.ResubmitDeadLetters(ctx, "provisioning", domain.DeadLetterSelection{All: true}, by)
	if err != nil || len(res.Resubmitted) != 1 || res.Resubmitted[0].SequenceNumber != 2 || res.NotFound == nil || len(res.NotFound) != 0 {
		t.Fatalf("all: %+v, %v", res, err)
	}
	if evs := auditOf(t, store, DeadLetterAuditPartition); len(evs) != 1 || evs[0].Details["deadLetterMessageId"] != "crm-2" {
		t.Errorf("operations audit %+v", evs)
	}
	if left, _ := svc.ListDeadLetters(ctx, "email", 10); len(left) != 1 || left[0].MessageID != "mail-3" {
		t.Errorf("other queue touched: %+v", left)
	}
	if !slices.Equal(dl.by, []string{by.ID, by.ID}) {
		t.Errorf("copies made by %v", dl.by)
	}
	// Nothing left: an empty, non-nil answer.
	if res, err = svc.ResubmitDeadLetters(ctx, "provisioning", domain.DeadLetterSelection{All: true}, by); err != nil || res.Resubmitted == nil || len(res.Resubmitted) != 0 {
		t.Errorf("empty: %+v, %v", res, err)
	}
}

// A failure part-way says how many went out, and those are audited.
func TestResubmitFailurePartWay(t *testing.T) {
	t.Parallel()
	svc, store := newService(t)
	svc.DeadLetters = &deadLetters{failAt: 2, dead: []domain.DeadLetter{
		{Queue: "email", SequenceNumber: 1, MessageID: "m1"}, {Queue: "email", SequenceNumber: 2, MessageID: "m2"}}}
	_, err := svc.ResubmitDeadLetters(t.Context(), "email", domain.DeadLetterSelection{All: true}, domain.Actor{ID: "operator:x"})
	if err == nil || !strings.Contains(err.Error(), "1 dead letter(s) were resubmitted before the failure") {
		t.Errorf("err = %v", err)
	}
	if evs := auditOf(t, store, DeadLetterAuditPartition); len(evs) != 1 || evs[0].Details["deadLetterMessageId"] != "m1" {
		t.Errorf("audit %+v", evs)
	}
}

func TestDeadLetterQueueChecks(t *testing.T) {
	t.Parallel()
	svc := &Service{}
	if err := svc.CheckDeadLetterQueue("nosuchqueue"); domain.ErrorCode(err) != domain.CodeInvalid {
		t.Errorf("unknown queue: %v", err)
	}
	if _, err := svc.ListDeadLetters(t.Context(), "email", 10); domain.ErrorCode(err) != domain.CodeUnavailable {
		t.Errorf("no port: %v", err)
	}
	dl := &deadLetters{}
	svc.DeadLetters = dl
	if err := svc.CheckDeadLetterQueue("revalidation"); err != nil {
		t.Errorf("known queue: %v", err)
	}
	if _, err := svc.ListDeadLetters(t.Context(), "email", 7); err != nil || dl.listMax != 7 {
		t.Errorf("list: max %d, %v", dl.listMax, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
