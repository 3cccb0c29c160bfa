package adminapi

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

var adminAddr = netip.MustParseAddr(adminIP)

// linkToken pulls the consent token out of a link URL.
func linkToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	tok := u.Query().Get("t")
	if tok == "" {
		t.Fatalf("link %q has no token", link)
	}
	return tok
}

func refusal(t *testing.T, err error) consent.RefusalKind {
	t.Helper()
	var r *consent.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("consent start: %v, want a refusal", err)
	}
	return r.Kind
}

func TestConsentLinkSupersedesPrevious(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	path := "/api/admin/tenants/" + tenant.TenantID + "/consent-link"
	ctx := context.Background()

	issue := func() consentLinkView {
		t.Helper()
		r := e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{"email":false}`)}).want(t, http.StatusOK)
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("link response Cache-Control %q", cc)
		}
		var l consentLinkView
		r.decode(t, &l)
		if l.ExpiresAt.Before(time.Now().Add(6 * 24 * time.Hour)) {
			t.Errorf("link expires %s", l.ExpiresAt)
		}
		return l
	}
	first := issue()
	if _, err := e.consent.Start(ctx, linkToken(t, first.URL), adminAddr); err != nil {
		t.Fatalf("fresh link refused: %v", err)
	}
	second := issue()
	if second.URL == first.URL {
		t.Fatal("the same link was issued twice")
	}
	_, err := e.consent.Start(ctx, linkToken(t, first.URL), adminAddr)
	if kind := refusal(t, err); kind != consent.RefusedLinkSuperseded {
		t.Errorf("old link: %s, want %s", kind, consent.RefusedLinkSuperseded)
	}
	if _, err := e.consent.Start(ctx, linkToken(t, second.URL), adminAddr); err != nil {
		t.Errorf("new link refused: %v", err)
	}

	// email=true: the old link dies at once, the email is queued to the
	// admins with a key of its own per request, and the link is not shown.
	before := len(e.pub.emailJobs(t, domain.EmailConsentLink, tenant.TenantID))
	var keys []string
	for range 2 {
		r := e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{"email":true}`)}).want(t, http.StatusAccepted)
		var emailed consentLinkEmailView
		r.decode(t, &emailed)
		if !emailed.EmailQueued || !slices.Equal(emailed.Recipients, []string{"it-admin@contoso.com"}) || strings.Contains(string(r.body), "/api/adminconsent") {
			t.Errorf("email response %s", r.body)
		}
		jobs := e.pub.emailJobs(t, domain.EmailConsentLink, tenant.TenantID)
		job := jobs[len(jobs)-1]
		if !slices.Equal(job.Recipients, []string{"it-admin@contoso.com"}) {
			t.Errorf("emailed to %v", job.Recipients)
		}
		keys = append(keys, job.IdempotencyKey)
	}
	if got := len(e.pub.emailJobs(t, domain.EmailConsentLink, tenant.TenantID)); got != before+2 {
		t.Errorf("%d consent-link jobs queued, want %d", got-before, 2)
	}
	if keys[0] == keys[1] {
		t.Errorf("two requests share the idempotency key %q", keys[0])
	}
	_, err = e.consent.Start(ctx, linkToken(t, second.URL), adminAddr)
	if kind := refusal(t, err); kind != consent.RefusedLinkSuperseded {
		t.Errorf("link after email=true: %s, want superseded", kind)
	}

	// Body rules.
	for body, field := range map[string]string{`{"email":"yes"}`: "email", `{"email":true,"to":"x"}`: "to"} {
		p := e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(body)}).problem(t, http.StatusBadRequest)
		if !slices.Contains(p.fields(), field) {
			t.Errorf("%s: problem names %v", body, p.fields())
		}
	}
	// No body, or no "email", means email=false (issue 12.8; it used to be 415 / 400).
	for _, rq := range []request{{noType: true}, {body: []byte(`{}`)}} {
		rq.method, rq.path, rq.token = "POST", path, e.writerToken
		var link consentLinkView
		e.do(rq).want(t, http.StatusOK).decode(t, &link)
		if link.URL == "" {
			t.Errorf("body %q: no link returned", rq.body)
		}
	}
	e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{"email":false}`), contentType: "text/plain"}).problem(t, http.StatusUnsupportedMediaType)
	e.do(request{method: "POST", path: "/api/admin/tenants/" + testkit.GUID(t) + "/consent-link", token: e.writerToken,
		body: []byte(`{"email":false}`)}).problem(t, http.StatusNotFound)
}

// TestMutatingCallsAreAudited runs every route that needs Tenants.ReadWrite
// and checks it left an audit event naming the caller. A new mutating route
// without a case here fails the test.
func TestMutatingCallsAreAudited(t *testing.T) {
	t.Parallel()
	deadLetters := &queue.Recorder{}
	e := newEnv(t, withDeadLetters(deadLetters))
	cases := map[string]func(t *testing.T) (tenantID string){
		"POST " + Prefix + "tenants": func(t *testing.T) string {
			return e.provision("Created Co", "created.example", "eu").TenantID
		},
		"PATCH " + Prefix + "tenants/{tenantId}": func(t *testing.T) string {
			id := e.provision("Patched Co", "patched.example", "eu").TenantID
			_, etag := e.getTenant(id)
			e.do(request{method: "PATCH", path: Prefix + "tenants/" + id, token: e.writerToken, body: []byte(`{"customerName":"Patched Ltd"}`),
				header: http.Header{"If-Match": {etag}}}).want(t, http.StatusOK)
			return id
		},
		"DELETE " + Prefix + "tenants/{tenantId}": func(t *testing.T) string {
			id := e.provision("Gone Co", "gone.example", "eu").TenantID
			e.do(request{method: "DELETE", path: Prefix + "tenants/" + id, token: e.writerToken, body: []byte(`{"reason":"contract ended"}`)}).want(t, http.StatusOK)
			return id
		},
		"POST " + Prefix + "tenants/{tenantId}/consent-link": func(t *testing.T) string {
			id := e.provision("Link Co", "link.example", "eu").TenantID
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/consent-link", token: e.writerToken, body: []byte(`{"email":true}`)}).want(t, http.StatusAccepted)
			return id
		},
		"POST " + Prefix + "tenants/{tenantId}/status-link": func(t *testing.T) string {
			id := e.provision("Status Co", "status.example", "eu").TenantID
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/status-link", token: e.writerToken}).want(t, http.StatusOK)
			return id
		},
		"POST " + Prefix + "tenants/{tenantId}/revalidate": func(t *testing.T) string {
			id := e.provision("Check Co", "check.example", "eu").TenantID
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/revalidate", token: e.writerToken}).want(t, http.StatusOK)
			return id
		},
		"POST " + Prefix + "tenants/{tenantId}/suspend": func(t *testing.T) string {
			id := e.provision("Paused Co", "paused.example", "eu").TenantID
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
			return id
		},
		"POST " + Prefix + "tenants/{tenantId}/resume": func(t *testing.T) string {
			id := e.provision("Back Co", "back.example", "eu").TenantID
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
			e.do(request{method: "POST", path: Prefix + "tenants/" + id + "/resume", token: e.writerToken}).want(t, http.StatusOK)
			return id
		},
		"POST " + Prefix + "deadletters/{queue}/resubmit": func(t *testing.T) string {
			id := testkit.GUID(t)
			seq := deadLetters.AddDeadLetter(queue.DeadLetter{Queue: queue.Email, MessageID: "consent-link:" + id,
				Body: []byte(`{"schemaVersion":1,"tenantId":"` + id + `"}`)})
			e.do(request{method: "POST", path: Prefix + "deadletters/email/resubmit", token: e.writerToken,
				body: jsonBody(t, map[string]any{"sequenceNumbers": []int64{seq}})}).want(t, http.StatusOK)
			return id
		},
	}
	for _, rt := range routes {
		if rt.role == "" || rt.method == http.MethodGet {
			continue
		}
		name := rt.method + " " + rt.pattern
		run, ok := cases[name]
		if !ok {
			t.Errorf("mutating route %s has no audit case", name)
			continue
		}
		t.Run(name, func(t *testing.T) {
			id := run(t)
			// The operation's own event must name the caller (the
			// events before it come from provisioning the fixture).
			var mine []string
			for _, ev := range e.events(id) {
				if ev.Actor == "operator:"+e.writer.oid && ev.ActorName == e.writer.name {
					mine = append(mine, ev.Action)
				}
			}
			wantAction := map[string]string{
				"POST " + Prefix + "tenants":                         "tenant.provisioned",
				"PATCH " + Prefix + "tenants/{tenantId}":             "tenant.updated",
				"DELETE " + Prefix + "tenants/{tenantId}":            "tenant.offboarded",
				"POST " + Prefix + "tenants/{tenantId}/consent-link": "consent.link-emailed",
				"POST " + Prefix + "tenants/{tenantId}/revalidate":   "consent.revalidation-requested",
				"POST " + Prefix + "tenants/{tenantId}/status-link":  "status.link-rotated",
				"POST " + Prefix + "tenants/{tenantId}/suspend":      "tenant.suspended",
				"POST " + Prefix + "tenants/{tenantId}/resume":       "tenant.resumed",
				"POST " + Prefix + "deadletters/{queue}/resubmit":    "deadletter.resubmitted",
			}[name]
			if !slices.Contains(mine, wantAction) {
				t.Errorf("no %s event by operator:%s (%s); the caller's events: %v", wantAction, e.writer.oid, e.writer.name, mine)
			}
		})
	}
}

func TestLifecycleAndOffboarding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	base := Prefix + "tenants/" + tenant.TenantID
	post := func(suffix, body string) response {
		rq := request{method: "POST", path: base + suffix, token: e.writerToken}
		if body != "" {
			rq.body = []byte(body)
		}
		return e.do(rq)
	}
	status := func(r response) domain.Status {
		var v tenantView
		r.want(t, http.StatusOK).decode(t, &v)
		return v.Status
	}

	post("/resume", "").problem(t, http.StatusConflict) // not suspended
	if s := status(post("/suspend", `{"reason":"unpaid invoice"}`)); s != domain.StatusSuspended {
		t.Fatalf("suspend → %s", s)
	}
	got, _ := e.getTenant(tenant.TenantID)
	if got.StatusReason != "unpaid invoice" || got.SuspendedFrom != domain.StatusProvisioned {
		t.Errorf("suspended record %+v", got)
	}
	if s := status(post("/suspend", "")); s != domain.StatusSuspended { // again: unchanged
		t.Errorf("second suspend → %s", s)
	}
	// A suspended tenant gets no link.
	post("/consent-link", `{"email":false}`).problem(t, http.StatusConflict)
	if s := status(post("/resume", "")); s != domain.StatusProvisioned {
		t.Errorf("resume → %s", s)
	}
	post("/suspend", `{"reason":"x","extra":1}`).problem(t, http.StatusBadRequest)

	// A working link before offboarding…
	r := post("/consent-link", `{"email":false}`).want(t, http.StatusOK)
	var link consentLinkView
	r.decode(t, &link)
	if _, err := e.consent.Start(ctx, linkToken(t, link.URL), adminAddr); err != nil {
		t.Fatalf("link refused before offboarding: %v", err)
	}

	// …offboard (twice: idempotent).
	for range 2 {
		r := e.do(request{method: "DELETE", path: base, token: e.writerToken})
		if s := status(r); s != domain.StatusOffboarded {
			t.Fatalf("offboard → %s", s)
		}
	}
	// The record is kept, the key stays reserved, links are refused.
	stored, err := e.store.GetTenant(ctx, tenant.TenantID)
	if err != nil {
		t.Fatalf("record gone: %v", err)
	}
	if owner, err := e.store.TenantKeyOwner(ctx, stored.TenantKeyCode); err != nil || owner != tenant.TenantID {
		t.Errorf("key %s owner %q, %v; want still reserved for the tenant", stored.TenantKeyCode, owner, err)
	}
	_, err = e.consent.Start(ctx, linkToken(t, link.URL), adminAddr)
	if kind := refusal(t, err); kind != consent.RefusedTenantInactive {
		t.Errorf("link after offboarding: %s, want %s", kind, consent.RefusedTenantInactive)
	}
	if ids, err := e.store.TenantsAllowingIP(ctx, adminAddr); err != nil || slices.Contains(ids, tenant.TenantID) {
		t.Errorf("offboarded tenant still in the IP index: %v %v", ids, err)
	}
	post("/consent-link", `{"email":false}`).problem(t, http.StatusConflict)
	post("/suspend", "").problem(t, http.StatusConflict)
	post("/resume", "").problem(t, http.StatusConflict)
	_, etag := e.getTenant(tenant.TenantID)
	e.do(request{method: "PATCH", path: base, token: e.writerToken, body: []byte(`{"customerName":"X"}`), header: http.Header{"If-Match": {etag}}}).problem(t, http.StatusConflict)
	e.do(request{method: "GET", path: base + "/powershell", token: e.readerToken}).problem(t, http.StatusConflict)
	// Provisioning it again is refused too.
	again := provisioningBody("CRM-again", tenant.TenantID, "eu", "Contoso Ltd", "contoso.com")
	e.do(request{method: "POST", path: Prefix + "tenants", token: e.writerToken, body: jsonBody(t, again)}).problem(t, http.StatusConflict)

	// The trail, newest first, records each step with from/to.
	var actions []string
	for _, ev := range e.events(tenant.TenantID) {
		actions = append(actions, ev.Action+":"+string(ev.FromState)+">"+string(ev.ToState))
	}
	for _, want := range []string{"tenant.suspended:Provisioned>Suspended", "tenant.resumed:Suspended>Provisioned",
		"tenant.offboarded:Provisioned>Offboarded", "tenant.offboarded:Offboarded>Offboarded"} {
		if !slices.Contains(actions, want) {
			t.Errorf("trail lacks %s: %v", want, actions)
		}
	}
}

func TestPowerShellDownload(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	r := e.do(request{method: "GET", path: Prefix + "tenants/" + tenant.TenantID + "/powershell", token: e.readerToken}).want(t, http.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	cd := r.header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment; filename=") || !strings.HasSuffix(strings.Trim(cd, `"`), ".ps1") || !strings.Contains(cd, tenant.TenantKeyCode) {
		t.Errorf("Content-Disposition %q", cd)
	}
	script := string(r.body)
	for _, want := range []string{tenant.TenantID, tenant.TenantKey, euAppID} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	e.do(request{method: "GET", path: Prefix + "tenants/" + testkit.GUID(t) + "/powershell", token: e.readerToken}).problem(t, http.StatusNotFound)
}

func TestRevalidateNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	path := Prefix + "tenants/" + tenant.TenantID + "/revalidate"
	e.checker.set(tenant.TenantID, domain.ConsentCheck{Outcome: domain.CheckConsented, Roles: domain.RequiredGraphRoles, SPEnabled: true})

	r := e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{}`)}).want(t, http.StatusOK)
	var out revalidationView
	r.decode(t, &out)
	if !out.Transition || out.From != domain.StatusProvisioned || out.To != domain.StatusConsented || out.Check == nil || out.Check.Outcome != domain.CheckConsented {
		t.Errorf("outcome %+v", out)
	}
	got, _ := e.getTenant(tenant.TenantID)
	if got.Status != domain.StatusConsented {
		t.Errorf("status after check %s", got.Status)
	}
	// The service's transition event names the operator too.
	found := false
	for _, ev := range e.events(tenant.TenantID) {
		if ev.Action == "consent.revalidated" && ev.Actor == "operator:"+e.writer.oid && ev.ToState == domain.StatusConsented {
			found = true
		}
	}
	if !found {
		t.Error("no consent.revalidated event by the operator")
	}
	// Suspended tenants are skipped.
	e.do(request{method: "POST", path: Prefix + "tenants/" + tenant.TenantID + "/suspend", token: e.writerToken}).want(t, http.StatusOK)
	r = e.do(request{method: "POST", path: path, token: e.writerToken}).want(t, http.StatusOK)
	r.decode(t, &out)
	if !out.Skipped || out.Transition {
		t.Errorf("suspended outcome %+v", out)
	}
	e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{"force":true}`)}).problem(t, http.StatusBadRequest)
	e.do(request{method: "POST", path: Prefix + "tenants/" + testkit.GUID(t) + "/revalidate", token: e.writerToken}).problem(t, http.StatusNotFound)
}

func TestEventsRejectionsAndRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	for _, s := range []string{"/suspend", "/resume", "/suspend"} {
		e.do(request{method: "POST", path: Prefix + "tenants/" + tenant.TenantID + s, token: e.writerToken}).want(t, http.StatusOK)
	}
	// Newest first, one per page, all of them exactly once.
	var actions []string
	var times []time.Time
	cont := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		q := "?pageSize=1"
		if cont != "" {
			q += "&continuation=" + url.QueryEscape(cont)
		}
		r := e.do(request{method: "GET", path: Prefix + "tenants/" + tenant.TenantID + "/events" + q, token: e.readerToken}).want(t, http.StatusOK)
		var page pageView[auditView]
		r.decode(t, &page)
		for _, ev := range page.Items {
			actions = append(actions, ev.Action)
			times = append(times, ev.At)
		}
		if page.Continuation == nil {
			break
		}
		cont = *page.Continuation
	}
	if want := []string{"tenant.suspended", "tenant.resumed", "tenant.suspended", "tenant.provisioned"}; !slices.Equal(actions, want) {
		t.Errorf("events %v, want %v", actions, want)
	}
	if !slices.IsSortedFunc(times, func(a, b time.Time) int { return b.Compare(a) }) {
		t.Errorf("events not newest first: %v", times)
	}
	e.do(request{method: "GET", path: Prefix + "tenants/" + testkit.GUID(t) + "/events", token: e.readerToken}).problem(t, http.StatusNotFound)

	// Revalidation runs, newest first, with their counts.
	for i, id := range []string{"run-old", "run-new"} {
		run := &domain.RevalidationRun{RunID: id, StartedAt: time.Now().Add(time.Duration(i) * time.Minute), Trigger: "timer", Tenants: 10 + i, Batches: 1, Checked: 9, Transitions: 1, Failures: 1}
		if err := e.store.CreateRevalidationRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	r := e.do(request{method: "GET", path: Prefix + "revalidation-runs", token: e.readerToken}).want(t, http.StatusOK)
	var runs pageView[runView]
	r.decode(t, &runs)
	if len(runs.Items) != 2 || runs.Items[0].RunID != "run-new" || runs.Items[0].Tenants != 11 || runs.Items[0].TransientFailures != 1 || runs.Continuation != nil {
		t.Errorf("runs %+v", runs)
	}

	// Rejections of bad provisioning requests, newest first.
	e.do(request{method: "POST", path: Prefix + "tenants", token: e.writerToken, body: []byte(`{"schemaVersion":2}`)}).problem(t, http.StatusBadRequest)
	r = e.do(request{method: "GET", path: Prefix + "rejections?pageSize=1", token: e.readerToken}).want(t, http.StatusOK)
	var rejections pageView[rejectionView]
	r.decode(t, &rejections)
	if len(rejections.Items) != 1 || rejections.Items[0].Source != "api" || !strings.Contains(rejections.Items[0].Reason, "schemaVersion") {
		t.Errorf("rejections %+v", rejections)
	}
}
