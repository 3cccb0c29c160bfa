package adminapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

type searchPage struct {
	Items        []tenantView `json:"items"`
	Continuation *string      `json:"continuation"`
	Total        int          `json:"total"`
}

func (e *env) search(t *testing.T, q string) searchPage {
	t.Helper()
	var p searchPage
	e.do(request{method: "GET", path: "/api/admin/tenants?" + q, token: e.readerToken}).want(t, http.StatusOK).decode(t, &p)
	return p
}

func names(p searchPage) []string {
	var out []string
	for _, it := range p.Items {
		out = append(out, it.CustomerName)
	}
	return out
}

func TestTenantSearchFieldsSortAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	contoso := e.provision("Contoso Ltd", "contoso.com", "eu")
	fabrikam := e.provision("Fabrikam Inc", "fabrikam.com", "us")
	e.provision("Tailspin Toys", "tailspin.example", "eu")
	e.provision("Adatum", "adatum.example", "us")

	for q, want := range map[string][]string{
		"q=ontos":                                  {"Contoso Ltd"},                  // name substring
		"q=" + url.QueryEscape("FABRIKAM.COM"):     {"Fabrikam Inc"},                 // domain, any case
		"q=" + url.QueryEscape("it-admin@adatum."): {"Adatum"},                       // contact email
		"q=" + contoso.TenantID[:8]:                {"Contoso Ltd"},                  // tenant ID prefix
		"q=" + url.QueryEscape(fabrikam.TenantKey): {"Fabrikam Inc"},                 // tenant key
		"region=eu&sort=name":                      {"Contoso Ltd", "Tailspin Toys"}, // sorted
		"region=eu&sort=-name":                     {"Tailspin Toys", "Contoso Ltd"}, // reversed
		"region=us&sort=name":                      {"Adatum", "Fabrikam Inc"},       // region filter
		"sort=created&pageSize=2":                  {"Contoso Ltd", "Fabrikam Inc"},  // creation order
		"sort=-created&pageSize=2":                 {"Adatum", "Tailspin Toys"},      // newest first
		"q=nothing-at-all":                         nil,
	} {
		if got := names(e.search(t, q)); !slices.Equal(got, want) {
			t.Errorf("?%s → %v, want %v", q, got, want)
		}
	}

	// A change is visible to the next search at once (the index catches up).
	e.do(request{method: "POST", path: "/api/admin/tenants/" + fabrikam.TenantID + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
	if got := names(e.search(t, "status=Suspended")); !slices.Equal(got, []string{"Fabrikam Inc"}) {
		t.Errorf("after suspend: %v", got)
	}
	patch := `{"customerName":"Fabrikam Renamed"}`
	_, etag := e.getTenant(fabrikam.TenantID)
	e.do(request{method: "PATCH", path: "/api/admin/tenants/" + fabrikam.TenantID, token: e.writerToken, body: []byte(patch),
		header: http.Header{"If-Match": {etag}}}).want(t, http.StatusOK)
	if got := names(e.search(t, "q=renamed")); !slices.Equal(got, []string{"Fabrikam Renamed"}) {
		t.Errorf("after rename: %v", got)
	}

	// Paging by name visits everyone once, in order, with the total.
	var seen []string
	q := "sort=name&pageSize=3"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("paging does not end")
		}
		p := e.search(t, q)
		if p.Total != 4 {
			t.Errorf("total %d, want 4", p.Total)
		}
		seen = append(seen, names(p)...)
		if p.Continuation == nil {
			break
		}
		q = "sort=name&pageSize=3&continuation=" + url.QueryEscape(*p.Continuation)
	}
	if want := []string{"Adatum", "Contoso Ltd", "Fabrikam Renamed", "Tailspin Toys"}; !slices.Equal(seen, want) {
		t.Errorf("paged %v, want %v", seen, want)
	}

	// A continuation replayed with other filters is refused.
	p := e.search(t, "sort=name&pageSize=1")
	bad := e.do(request{method: "GET", path: "/api/admin/tenants?sort=-name&pageSize=1&continuation=" + url.QueryEscape(*p.Continuation),
		token: e.readerToken}).problem(t, http.StatusBadRequest)
	if !slices.Contains(bad.fields(), "continuation") {
		t.Errorf("replayed continuation: %v", bad.fields())
	}
	if pr := e.do(request{method: "GET", path: "/api/admin/tenants?sort=size", token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest); !slices.Contains(pr.fields(), "sort") {
		t.Errorf("bad sort: %v", pr.fields())
	}
}

type overviewResp struct {
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"`
	ByRegion map[string]int `json:"byRegion"`
	Funnel   struct {
		Provisioned, LinkOpened, Consented, Verified int
		TimeToConsent                                struct {
			Count         int
			MedianSeconds *float64
			P90Seconds    *float64
		}
	} `json:"funnel"`
	NeedsAttention []attention `json:"needsAttention"`
	LastRun        *struct {
		State   string
		Percent float64
		Run     struct{ RunID string }
	} `json:"lastRevalidationRun"`
}

func TestOverview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	a := e.provision("Alpha", "alpha.example", "eu")
	b := e.provision("Beta", "beta.example", "us")
	c := e.provision("Gamma", "gamma.example", "eu")
	d := e.provision("Delta", "delta.example", "eu")
	created := time.Now().UTC()
	// Shape the records as consent and revalidation would leave them.
	mutate := func(id string, f func(*domain.Tenant)) {
		t.Helper()
		if _, err := domain.UpdateTenant(ctx, e.store, id, func(t *domain.Tenant) (bool, error) { f(t); return true, nil }); err != nil {
			t.Fatal(err)
		}
	}
	mutate(a.TenantID, func(t *domain.Tenant) {
		t.Status, t.ConsentedAt, t.CreatedAt = domain.StatusConsented, created, created.Add(-2*time.Hour)
	})
	mutate(b.TenantID, func(t *domain.Tenant) {
		t.Status, t.ConsentedAt, t.CreatedAt = domain.StatusDegraded, created, created.Add(-4*time.Hour)
		t.MissingRoles = []string{"CallRecords.Read.All"}
		t.VerificationPending, t.VerificationPendingSince = true, created
	})
	mutate(c.TenantID, func(t *domain.Tenant) {
		t.InviteIssuedAt = created.Add(-100 * time.Hour) // reminder (72 h) long past
		t.ConsecutiveCheckFailures, t.LastCheckError = 3, "graph: 503"
	})
	if err := e.store.AppendAudit(ctx, domain.AuditEvent{TenantID: c.TenantID, Action: "consent.started", Actor: "customer-admin"}); err != nil {
		t.Fatal(err)
	}
	e.do(request{method: "DELETE", path: "/api/admin/tenants/" + d.TenantID, token: e.writerToken}).want(t, http.StatusOK)
	run := &domain.RevalidationRun{RunID: "run-1", StartedAt: created, FinishedAt: created, Trigger: "timer", Tenants: 4, Batches: 1, Checked: 1}
	if err := e.store.CreateRevalidationRun(ctx, run); err != nil {
		t.Fatal(err)
	}

	var o overviewResp
	e.do(request{method: "GET", path: "/api/admin/overview", token: e.readerToken}).want(t, http.StatusOK).decode(t, &o)
	if o.Total != 4 || o.ByStatus["Consented"] != 1 || o.ByStatus["Degraded"] != 1 || o.ByStatus["Provisioned"] != 1 ||
		o.ByStatus["Offboarded"] != 1 || o.ByStatus["Revoked"] != 0 || o.ByRegion["eu"] != 3 || o.ByRegion["us"] != 1 {
		t.Errorf("counts: %+v %+v %+v", o.Total, o.ByStatus, o.ByRegion)
	}
	f := o.Funnel
	if f.Provisioned != 3 || f.LinkOpened != 3 || f.Consented != 2 || f.Verified != 1 {
		t.Errorf("funnel %+v", f)
	}
	if tc := f.TimeToConsent; tc.Count != 2 || tc.MedianSeconds == nil || *tc.MedianSeconds != 3*3600 || *tc.P90Seconds != 4*3600 {
		t.Errorf("time to consent %+v", tc)
	}
	kinds := map[string]string{}
	for _, it := range o.NeedsAttention {
		kinds[it.Kind] = it.TenantID
	}
	for kind, id := range map[string]string{"degraded": b.TenantID, "verification-pending": b.TenantID,
		"no-consent-after-reminder": c.TenantID, "failing-checks": c.TenantID} {
		if kinds[kind] != id {
			t.Errorf("needs attention %s: %q, want %s (list %+v)", kind, kinds[kind], id, o.NeedsAttention)
		}
	}
	if _, ok := kinds["revoked"]; ok {
		t.Error("nothing is revoked")
	}
	if o.LastRun == nil || o.LastRun.Run.RunID != "run-1" || o.LastRun.State != "checking" || o.LastRun.Percent != 25 {
		t.Errorf("last run %+v", o.LastRun)
	}

	// Run detail lists the tenants whose latest check was in the run.
	mutate(a.TenantID, func(t *domain.Tenant) {
		t.LastCheckRunID, t.LastCheckOutcome, t.LastCheckAt = "run-1", "consented", created
	})
	var detail struct {
		State   string
		Tenants []runTenantView
	}
	e.do(request{method: "GET", path: "/api/admin/revalidation-runs/run-1", token: e.readerToken}).want(t, http.StatusOK).decode(t, &detail)
	if detail.State != "checking" || len(detail.Tenants) != 1 || detail.Tenants[0].TenantID != a.TenantID {
		t.Errorf("run detail %+v", detail)
	}
	e.do(request{method: "GET", path: "/api/admin/revalidation-runs/run-2", token: e.readerToken}).problem(t, http.StatusNotFound)
}

func TestAuditAcrossTenantsAndEmails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.provision("Alpha", "alpha.example", "eu")
	b := e.provision("Beta", "beta.example", "us")
	e.do(request{method: "POST", path: "/api/admin/tenants/" + a.TenantID + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
	e.do(request{method: "POST", path: "/api/admin/tenants/" + b.TenantID + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
	e.do(request{method: "POST", path: "/api/admin/tenants/" + b.TenantID + "/resume", token: e.writerToken}).want(t, http.StatusOK)

	list := func(q string) []auditView {
		t.Helper()
		var p pageView[auditView]
		e.do(request{method: "GET", path: "/api/admin/events?" + q, token: e.readerToken}).want(t, http.StatusOK).decode(t, &p)
		return p.Items
	}
	sus := list("action=tenant.suspended")
	if len(sus) != 2 || !sus[0].At.After(sus[1].At) && !sus[0].At.Equal(sus[1].At) {
		t.Errorf("suspensions across tenants: %+v", sus)
	}
	if got := list("action=tenant.&actor=" + url.QueryEscape("operator:"+e.writer.oid)); len(got) != 5 {
		t.Errorf("prefix + actor: %d events, want 5 (2 provisioned, 2 suspended, resumed): %+v", len(got), got)
	}
	if got := list("from=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))); len(got) != 0 {
		t.Errorf("future window: %+v", got)
	}
	// Paging by one.
	var p pageView[auditView]
	e.do(request{method: "GET", path: "/api/admin/events?action=tenant.&pageSize=1", token: e.readerToken}).want(t, http.StatusOK).decode(t, &p)
	if len(p.Items) != 1 || p.Continuation == nil {
		t.Fatalf("first page %+v", p)
	}
	pr := e.do(request{method: "GET", path: "/api/admin/events?from=yesterday", token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest)
	if !slices.Contains(pr.fields(), "from") {
		t.Errorf("bad from: %v", pr.fields())
	}

	// Emails: a claimed mail job for the tenant shows up.
	if err := e.store.ClaimMail(context.Background(), &domain.MailRecord{Key: "consent-link:" + a.TenantID, Status: "sent", Kind: domain.EmailConsentLink,
		TenantID: a.TenantID, UpdatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	var emails struct{ Items []emailView }
	e.do(request{method: "GET", path: "/api/admin/tenants/" + a.TenantID + "/emails", token: e.readerToken}).want(t, http.StatusOK).decode(t, &emails)
	if len(emails.Items) != 1 || emails.Items[0].Kind != "consent-link" || !strings.Contains(emails.Items[0].Key, a.TenantID) {
		t.Errorf("emails %+v", emails.Items)
	}
	e.do(request{method: "GET", path: "/api/admin/tenants/" + testkit.GUID(t) + "/emails", token: e.readerToken}).problem(t, http.StatusNotFound)
}
