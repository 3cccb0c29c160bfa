package adminapi

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestCreateTenantAndReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := testkit.GUID(t)
	body := jsonBody(t, provisioningBody("CRM-2026-0001", strings.ToUpper(id), "eu", "Contoso Ltd", "contoso.com"))

	r := e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: body}).want(t, http.StatusCreated)
	if loc := r.header.Get("Location"); loc != "/api/admin/tenants/"+id {
		t.Errorf("Location %q", loc)
	}
	var res provisionView
	r.decode(t, &res)
	if res.Outcome != "created" || res.Tenant.TenantID != id || res.Tenant.Status != domain.StatusProvisioned || res.Tenant.TenantKey == "" {
		t.Fatalf("created %+v", res)
	}
	if etag := r.header.Get("ETag"); etag == "" || etag != res.Tenant.ETag {
		t.Errorf("ETag header %q, body etag %q", etag, res.Tenant.ETag)
	}

	// The same request again: 200, same tenant, same key, Location again.
	r = e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: body}).want(t, http.StatusOK)
	if loc := r.header.Get("Location"); loc != "/api/admin/tenants/"+id {
		t.Errorf("replay Location %q", loc)
	}
	var replay provisionView
	r.decode(t, &replay)
	if replay.Outcome != "replay" || replay.Tenant.TenantKey != res.Tenant.TenantKey {
		t.Errorf("replay %+v", replay)
	}

	// The same requestId with another body is a conflict naming the field.
	other := provisioningBody("CRM-2026-0001", id, "eu", "Contoso Renamed", "contoso.com")
	p := e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: jsonBody(t, other)}).problem(t, http.StatusConflict)
	if !slices.Contains(p.fields(), "requestId") {
		t.Errorf("conflict names %v", p.fields())
	}

	// A new request for the same tenant updates it: 200.
	update := provisioningBody("CRM-2026-0002", id, "eu", "Contoso Renamed", "contoso.com")
	r = e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: jsonBody(t, update)}).want(t, http.StatusOK)
	r.decode(t, &res)
	if res.Outcome != "updated" || res.Tenant.CustomerName != "Contoso Renamed" {
		t.Errorf("update %+v", res)
	}

	// Created and updated are audited under the operator.
	var actions []string
	for _, ev := range e.events(id) {
		actions = append(actions, ev.Action)
		if ev.Actor != "operator:"+e.writer.oid || ev.ActorName != e.writer.name {
			t.Errorf("event %s by %q (%q)", ev.Action, ev.Actor, ev.ActorName)
		}
	}
	for _, ev := range e.events(id) {
		if ev.Action == "tenant.provisioning-replayed" && ev.Details["requestId"] != "CRM-2026-0001" {
			t.Errorf("replay event names request %q", ev.Details["requestId"])
		}
	}
	for _, want := range []string{"tenant.provisioned", "tenant.provisioning-replayed", "tenant.updated"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit lacks %s: %v", want, actions)
		}
	}
}

func TestCreateTenantRejectsBadBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	post := func(body []byte, contentType string) response {
		return e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: body, contentType: contentType})
	}

	// Every bad field is named.
	bad := provisioningBody("CRM-1", "not-a-guid", "mars", "Contoso", "contoso.com")
	bad["adminIps"] = []string{"10.0.0.1", "203.0.113.0/8"}
	bad["contacts"] = []map[string]any{{"email": "nobody", "role": "admin"}}
	p := post(jsonBody(t, bad), "").problem(t, http.StatusBadRequest)
	for _, f := range []string{"tenantId", "region", "adminIps[0]", "adminIps[1]", "contacts[0].email"} {
		if !slices.Contains(p.fields(), f) {
			t.Errorf("problem does not name %s: %v", f, p.fields())
		}
	}

	// Unknown field.
	extra := provisioningBody("CRM-2", testkit.GUID(t), "eu", "Contoso", "contoso.com")
	extra["discount"] = 10
	p = post(jsonBody(t, extra), "").problem(t, http.StatusBadRequest)
	if !slices.Contains(p.fields(), "discount") {
		t.Errorf("unknown field not named: %+v", p)
	}

	// 64 KiB cap: 413 one byte over, whatever the JSON.
	big := bytes.Repeat([]byte(" "), MaxBodyBytes+1)
	copy(big, `{"a":1}`)
	post(big, "").problem(t, http.StatusRequestEntityTooLarge)
	e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: big, chunked: true}).problem(t, http.StatusRequestEntityTooLarge)
	// Exactly at the cap is read and judged as JSON (400, not 413).
	atCap := bytes.Repeat([]byte(" "), MaxBodyBytes)
	copy(atCap, `{}`)
	post(atCap, "").problem(t, http.StatusBadRequest)

	// Content-Type.
	valid := jsonBody(t, provisioningBody("CRM-3", testkit.GUID(t), "eu", "Contoso", "contoso.com"))
	post(valid, "text/plain").problem(t, http.StatusUnsupportedMediaType)
	post(valid, "application/json; charset=latin1").problem(t, http.StatusUnsupportedMediaType)
	e.do(request{method: "POST", path: "/api/admin/tenants", token: e.writerToken, body: valid, noType: true}).problem(t, http.StatusUnsupportedMediaType)
	post(nil, "application/json").problem(t, http.StatusBadRequest)
	post(valid, "application/json; charset=UTF-8").want(t, http.StatusCreated)

	// The rejections were recorded with their reasons.
	r := e.do(request{method: "GET", path: "/api/admin/rejections?pageSize=200", token: e.readerToken}).want(t, http.StatusOK)
	var page pageView[rejectionView]
	r.decode(t, &page)
	found := false
	for _, rj := range page.Items {
		if rj.Source == "api" && strings.Contains(rj.Reason, "discount") {
			found = true
		}
	}
	if !found {
		t.Errorf("rejection of the unknown field not listed: %+v", page.Items)
	}
}

func TestListTenantsFiltersAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	contoso := e.provision("Contoso Ltd", "contoso.com", "eu")
	fabrikam := e.provision("Fabrikam Inc", "fabrikam.com", "us")
	tailspin := e.provision("Tailspin Toys", "tailspin.example", "eu")
	wingtip := e.provision("Wingtip", "wingtiptoys.com", "us")
	northwind := e.provision("Northwind", "northwind.example", "eu")
	e.do(request{method: "POST", path: "/api/admin/tenants/" + fabrikam.TenantID + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
	e.do(request{method: "DELETE", path: "/api/admin/tenants/" + northwind.TenantID, token: e.writerToken}).want(t, http.StatusOK)

	list := func(q string) []string {
		t.Helper()
		r := e.do(request{method: "GET", path: "/api/admin/tenants?" + q, token: e.readerToken}).want(t, http.StatusOK)
		var page pageView[tenantView]
		r.decode(t, &page)
		var ids []string
		for _, it := range page.Items {
			ids = append(ids, it.TenantID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	cases := []struct {
		query string
		want  []string
	}{
		{"", sorted(contoso.TenantID, fabrikam.TenantID, tailspin.TenantID, wingtip.TenantID, northwind.TenantID)},
		{"status=Provisioned", sorted(contoso.TenantID, tailspin.TenantID, wingtip.TenantID)},
		{"status=Suspended&status=Offboarded", sorted(fabrikam.TenantID, northwind.TenantID)},
		{"status=Suspended,Offboarded", sorted(fabrikam.TenantID, northwind.TenantID)},
		{"region=us", sorted(fabrikam.TenantID, wingtip.TenantID)},
		{"region=eu&status=Provisioned", sorted(contoso.TenantID, tailspin.TenantID)},
		{"q=TOYS", sorted(tailspin.TenantID, wingtip.TenantID)},
		{"q=" + url.QueryEscape("contoso.com"), sorted(contoso.TenantID)},
		{"q=nothing-matches", nil},
	}
	for _, tc := range cases {
		if got := list(tc.query); !slices.Equal(got, tc.want) {
			t.Errorf("?%s → %v, want %v", tc.query, got, tc.want)
		}
	}

	// Paging visits every tenant exactly once.
	var seen []string
	cont := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		q := "pageSize=2"
		if cont != "" {
			q += "&continuation=" + url.QueryEscape(cont)
		}
		r := e.do(request{method: "GET", path: "/api/admin/tenants?" + q, token: e.readerToken}).want(t, http.StatusOK)
		var page pageView[tenantView]
		r.decode(t, &page)
		if len(page.Items) > 2 {
			t.Fatalf("page of %d with pageSize=2", len(page.Items))
		}
		for _, it := range page.Items {
			seen = append(seen, it.TenantID)
		}
		if page.Continuation == nil {
			break
		}
		cont = *page.Continuation
	}
	slices.Sort(seen)
	if !slices.Equal(seen, cases[0].want) {
		t.Errorf("paged through %v, want %v", seen, cases[0].want)
	}

	// Bad parameters are 400 naming them.
	for q, field := range map[string]string{
		"status=Active":              "status",
		"pageSize=0":                 "pageSize",
		"pageSize=201":               "pageSize",
		"pageSize=ten":               "pageSize",
		"region=mars":                "region",
		"stat=Provisioned":           "stat",
		"continuation=bogus":         "continuation",
		"q=" + url.QueryEscape("\n"): "q",
	} {
		p := e.do(request{method: "GET", path: "/api/admin/tenants?" + q, token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest)
		if !slices.Contains(p.fields(), field) {
			t.Errorf("?%s: problem names %v, want %s", q, p.fields(), field)
		}
	}
}

func TestGetTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	created := e.provision("Contoso Ltd", "contoso.com", "eu")
	// Give it a consent link so an invite hash is stored.
	e.do(request{method: "POST", path: "/api/admin/tenants/" + created.TenantID + "/consent-link", token: e.writerToken,
		body: []byte(`{"email":false}`)}).want(t, http.StatusOK)
	stored, err := e.store.GetTenant(context.Background(), created.TenantID)
	if err != nil || stored.InviteHash == "" {
		t.Fatalf("stored tenant %+v, %v", stored, err)
	}

	r := e.do(request{method: "GET", path: "/api/admin/tenants/" + strings.ToUpper(created.TenantID), token: e.readerToken}).want(t, http.StatusOK)
	etag := r.header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || strings.Count(etag, `"`) != 2 {
		t.Errorf("ETag %q is not a quoted entity-tag", etag)
	}
	if tags, err := ifMatch(&http.Request{Header: http.Header{"If-Match": {etag}}}); err != nil || len(tags) != 1 || tags[0] != stored.ETag {
		t.Errorf("ETag %q does not map back to the store's %q: %v %v", etag, stored.ETag, tags, err)
	}
	if bytes.Contains(r.body, []byte(stored.InviteHash)) || bytes.Contains(bytes.ToLower(r.body), []byte("invitehash")) {
		t.Errorf("the record exposes the invite hash: %s", r.body)
	}
	var v tenantView
	r.decode(t, &v)
	if v.TenantID != created.TenantID || v.InviteExpiresAt.IsZero() {
		t.Errorf("got %+v", v)
	}

	e.do(request{method: "GET", path: "/api/admin/tenants/" + testkit.GUID(t), token: e.readerToken}).problem(t, http.StatusNotFound)
	for _, bad := range []string{"not-a-guid", "00000000-0000-0000-0000-000000000000", url.PathEscape("'; drop")} {
		p := e.do(request{method: "GET", path: "/api/admin/tenants/" + bad, token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest)
		if !slices.Contains(p.fields(), "tenantId") {
			t.Errorf("%s: problem names %v", bad, p.fields())
		}
	}
}

func TestPatchTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	path := "/api/admin/tenants/" + tenant.TenantID
	_, etag := e.getTenant(tenant.TenantID)
	patch := func(body string, ifMatch string) response {
		rq := request{method: "PATCH", path: path, token: e.writerToken, body: []byte(body)}
		if ifMatch != "" {
			rq.header = http.Header{"If-Match": {ifMatch}}
		}
		return e.do(rq)
	}

	patch(`{"customerName":"Contoso"}`, "").problem(t, http.StatusPreconditionRequired)
	// If-Match: * matches any current version (RFC 9110 §13.1.1; it used to
	// be refused with 428), and fails only where there is no tenant.
	e.do(request{method: "PATCH", path: "/api/admin/tenants/" + testkit.GUID(t), token: e.writerToken, body: []byte(`{"customerName":"Contoso"}`),
		header: http.Header{"If-Match": {"*"}}}).problem(t, http.StatusPreconditionFailed)
	patch(`{"customerName":"Contoso"}`, `*, "bm90LXRoZS1ldGFn"`).problem(t, http.StatusBadRequest)
	patch(`{"customerName":"Contoso"}`, `"bm90LXRoZS1ldGFn"`).problem(t, http.StatusPreconditionFailed)
	patch(`{"customerName":"Contoso"}`, "W/"+etag).problem(t, http.StatusPreconditionFailed)

	// Validation names every bad field; nothing is written.
	p := patch(`{"customerName":" ","primaryDomain":"not a domain","contacts":[{"email":"a@contoso.com","role":"billing"}],"allowedIps":["10.1.2.3","2001:db8::/8"],"tenantKey":"x"}`, etag).problem(t, http.StatusBadRequest)
	for _, f := range []string{"customerName", "primaryDomain", "contacts", "allowedIps[0]", "allowedIps[1]", "tenantKey"} {
		if !slices.Contains(p.fields(), f) {
			t.Errorf("problem does not name %s: %v", f, p.fields())
		}
	}
	patch(`{}`, etag).problem(t, http.StatusBadRequest)
	patch(`{"contacts":[{"email":"a@contoso.com","role":"admin","phone":"1"}]}`, etag).problem(t, http.StatusBadRequest)

	// A valid change: new ETag, IP index follows, diff audited.
	r := patch(`{"customerName":"Contoso Group","primaryDomain":null,"allowedIps":["192.0.2.10","2001:db8:1::/48"],
		"contacts":[{"name":"New Admin","email":"new-admin@contoso.com","role":"admin"}]}`, etag).want(t, http.StatusOK)
	var v tenantView
	r.decode(t, &v)
	newETag := r.header.Get("ETag")
	if newETag == etag || v.ETag != newETag {
		t.Errorf("ETag %q → %q (body %q)", etag, newETag, v.ETag)
	}
	if v.CustomerName != "Contoso Group" || v.PrimaryDomain != "" || !slices.Equal(v.AllowedIPs, []string{"192.0.2.10/32", "2001:db8:1::/48"}) ||
		len(v.Contacts) != 1 || v.Contacts[0].Email != "new-admin@contoso.com" {
		t.Errorf("patched %+v", v)
	}
	ctx := context.Background()
	if ids, err := e.store.TenantsAllowingIP(ctx, netip.MustParseAddr("192.0.2.10")); err != nil || !slices.Contains(ids, tenant.TenantID) {
		t.Errorf("new IP not indexed: %v %v", ids, err)
	}
	if ids, err := e.store.TenantsAllowingIP(ctx, netip.MustParseAddr(adminIP)); err != nil || slices.Contains(ids, tenant.TenantID) {
		t.Errorf("old IP still indexed: %v %v", ids, err)
	}
	var diff map[string]string
	for _, ev := range e.events(tenant.TenantID) {
		if ev.Action == "tenant.updated" && ev.Actor == "operator:"+e.writer.oid {
			diff = ev.Details
		}
	}
	if !strings.Contains(diff["customerName"], "Contoso Ltd -> Contoso Group") || diff["allowedIps"] == "" || diff["contacts"] == "" ||
		!strings.Contains(diff["primaryDomain"], "contoso.com -> ") {
		t.Errorf("audited diff %v", diff)
	}

	// The old ETag is stale now; merge-patch media type is accepted.
	patch(`{"customerName":"Again"}`, etag).problem(t, http.StatusPreconditionFailed)
	e.do(request{method: "PATCH", path: path, token: e.writerToken, body: []byte(`{"customerName":"Again"}`),
		contentType: "application/merge-patch+json", header: http.Header{"If-Match": {newETag}}}).want(t, http.StatusOK)

	e.do(request{method: "PATCH", path: "/api/admin/tenants/" + testkit.GUID(t), token: e.writerToken, body: []byte(`{"customerName":"X"}`),
		header: http.Header{"If-Match": {newETag}}}).problem(t, http.StatusNotFound)
}

// TestConcurrentPatchesSameETag: of two PATCHes with the same If-Match,
// exactly one wins.
func TestConcurrentPatchesSameETag(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	for round := range 3 {
		_, etag := e.getTenant(tenant.TenantID)
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				body := jsonBody(t, map[string]string{"customerName": "Writer " + string(rune('A'+i)) + " round " + string(rune('0'+round))})
				r := e.do(request{method: "PATCH", path: "/api/admin/tenants/" + tenant.TenantID, token: e.writerToken, body: body,
					header: http.Header{"If-Match": {etag}}})
				statuses[i] = r.status
			}()
		}
		close(start)
		wg.Wait()
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusOK, http.StatusPreconditionFailed}) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412", round, statuses)
		}
	}
}
