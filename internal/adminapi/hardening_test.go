package adminapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// TestIfMatchAnyVersion: If-Match: * changes whatever version is current.
func TestIfMatchAnyVersion(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	r := e.do(request{method: "PATCH", path: Prefix + "tenants/" + tenant.TenantID, token: e.writerToken,
		body: []byte(`{"customerName":"Contoso Group"}`), header: http.Header{"If-Match": {"*"}}}).want(t, http.StatusOK)
	var v tenantView
	r.decode(t, &v)
	if v.CustomerName != "Contoso Group" || r.header.Get("ETag") == "" {
		t.Errorf("after If-Match: * → %q, ETag %q", v.CustomerName, r.header.Get("ETag"))
	}
}

// TestBodylessRequests: a PATCH without a body (what the Functions host
// forwards when the client sent it chunked) is a 400 saying the body is
// missing and to send Content-Length, not a 415; an optional-body route
// whose chunked body arrived empty says the same.
func TestBodylessRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	_, etag := e.getTenant(tenant.TenantID)
	p := e.do(request{method: "PATCH", path: Prefix + "tenants/" + tenant.TenantID, token: e.writerToken, noType: true,
		header: http.Header{"If-Match": {etag}}}).problem(t, http.StatusBadRequest)
	if !strings.Contains(p.Detail, "missing") || !strings.Contains(p.Detail, "Content-Length") {
		t.Errorf("detail %q does not say the body is missing and to send Content-Length", p.Detail)
	}
	p = e.do(request{method: "POST", path: Prefix + "tenants/" + tenant.TenantID + "/suspend", token: e.writerToken,
		body: []byte{}, chunked: true}).problem(t, http.StatusBadRequest)
	if !strings.Contains(p.Detail, "Content-Length") {
		t.Errorf("chunked empty body: detail %q", p.Detail)
	}
	// A body that does arrive chunked is read as usual.
	e.do(request{method: "POST", path: Prefix + "tenants/" + tenant.TenantID + "/suspend", token: e.writerToken,
		body: []byte(`{"reason":"chunked but whole"}`), chunked: true}).want(t, http.StatusOK)
}

// TestSecondOffboardingWithAnotherReason: repeating DELETE (no reason, or
// the recorded one) is idempotent; another reason is 409 "already
// offboarded" and the record keeps the first reason.
func TestSecondOffboardingWithAnotherReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	path := Prefix + "tenants/" + tenant.TenantID
	del := func(body string) response {
		rq := request{method: "DELETE", path: path, token: e.writerToken}
		if body != "" {
			rq.body = []byte(body)
		}
		return e.do(rq)
	}
	del(`{"reason":"contract ended"}`).want(t, http.StatusOK)
	del(`{"reason":"contract ended"}`).want(t, http.StatusOK)
	del("").want(t, http.StatusOK)
	p := del(`{"reason":"duplicate tenant"}`).problem(t, http.StatusConflict)
	if !strings.Contains(p.Detail, "already offboarded") || !strings.Contains(p.Detail, "contract ended") {
		t.Errorf("detail %q", p.Detail)
	}
	v, _ := e.getTenant(tenant.TenantID)
	if v.StatusReason != "contract ended" {
		t.Errorf("reason now %q", v.StatusReason)
	}
}

// TestUnroutedPathsAreProblems: the bare base path and unclean paths get
// the problem+json 404, never the mux's text answers or redirects.
func TestUnroutedPathsAreProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Straight to the API, as handlers/ dispatches /api/admin... (an outer
	// mux would clean these paths with a redirect first).
	for _, p := range []string{"/api/admin", Prefix + "tenants//x", Prefix + "tenants/./" + testkit.GUID(t), Prefix + "x/../tenants"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "http://x"+Prefix, nil)
		req.URL.Path = p
		req.Header.Set("Authorization", "Bearer "+e.readerToken)
		e.api.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotFound || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %q %s", p, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
	r := e.do(request{method: "OPTIONS", path: Prefix + "tenants", token: e.readerToken, noSpecCheck: true})
	r.problem(t, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
}

// TestPatchCleansDisplayStringsAndKeepsBothDomainForms: PATCH applies the
// intake rules of provisioning.
func TestPatchCleansDisplayStringsAndKeepsBothDomainForms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	_, etag := e.getTenant(tenant.TenantID)
	r := e.do(request{method: "PATCH", path: Prefix + "tenants/" + tenant.TenantID, token: e.writerToken,
		body:   []byte(`{"customerName":"\u202eFabrikam\u2069 GmbH\u200b","primaryDomain":"Bücher.example","contacts":[{"name":"\u2066Ana\u2069","email":"ana@contoso.com","role":"admin"}]}`),
		header: http.Header{"If-Match": {etag}}}).want(t, http.StatusOK)
	var v tenantView
	r.decode(t, &v)
	if v.CustomerName != "Fabrikam GmbH" || v.Contacts[0].Name != "Ana" {
		t.Errorf("names %q / %q", v.CustomerName, v.Contacts[0].Name)
	}
	if v.PrimaryDomain != "xn--bcher-kva.example" || v.PrimaryDomainUnicode != "bücher.example" {
		t.Errorf("domain %q / %q", v.PrimaryDomain, v.PrimaryDomainUnicode)
	}
	p := e.do(request{method: "PATCH", path: Prefix + "tenants/" + tenant.TenantID, token: e.writerToken,
		body: []byte(`{"customerName":"\u202e\u200b"}`), header: http.Header{"If-Match": {r.header.Get("ETag")}}}).problem(t, http.StatusBadRequest)
	if len(p.Errors) == 0 || p.Errors[0].Field != "customerName" {
		t.Errorf("invisible-only name: %+v", p)
	}
}

// TestDeclinedConsentInRecordAndFilter: a recorded decline shows in the
// tenant view (checked against openapi.yaml) and consentOutcome filters.
func TestDeclinedConsentInRecordAndFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	declined := e.provision("Contoso Ltd", "contoso.com", "eu")
	other := e.provision("Fabrikam", "fabrikam.com", "eu")
	ctx := context.Background()
	if _, err := domain.UpdateTenant(ctx, e.store, declined.TenantID, func(tn *domain.Tenant) (bool, error) {
		tn.RecordConsentDeclined("access_denied", "AADSTS65004: User declined to consent to access the app.", time.Now().UTC())
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
	v, _ := e.getTenant(declined.TenantID)
	if v.LastConsentOutcome != "declined" || v.LastConsentError != "AADSTS65004" || v.LastConsentAt.IsZero() {
		t.Errorf("view %q %q %v", v.LastConsentOutcome, v.LastConsentError, v.LastConsentAt)
	}
	var page pageView[tenantView]
	e.do(request{method: "GET", path: Prefix + "tenants?consentOutcome=declined", token: e.readerToken}).want(t, http.StatusOK).decode(t, &page)
	var ids []string
	for _, it := range page.Items {
		ids = append(ids, it.TenantID)
	}
	if !slices.Contains(ids, declined.TenantID) || slices.Contains(ids, other.TenantID) {
		t.Errorf("filtered listing %v", ids)
	}
	p := e.do(request{method: "GET", path: Prefix + "tenants?consentOutcome=nope", token: e.readerToken}).problem(t, http.StatusBadRequest)
	if len(p.Errors) == 0 || p.Errors[0].Field != "consentOutcome" {
		t.Errorf("bad filter: %+v", p)
	}
}
