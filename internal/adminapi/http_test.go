package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// throttledStore answers reads as a throttled Table service would.
type throttledStore struct{ domain.TenantStore }

func (throttledStore) GetTenant(context.Context, string) (*domain.Tenant, error) {
	return nil, domain.Wrap(domain.CodeUnavailable, errSecretDetail, "read tenants")
}

func (throttledStore) ListTenants(context.Context, domain.TenantFilter, int, string) (domain.Page[*domain.Tenant], error) {
	return domain.Page[*domain.Tenant]{}, domain.Wrap(domain.CodeUnavailable, errSecretDetail, "query tenants")
}

var errSecretDetail = &domain.Error{Code: domain.CodeUnavailable, Message: "429 from https://acct.table.core.windows.net"}

func TestTransientStoreErrorsAre503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *envDeps) { d.Store = throttledStore{d.Store} })
	for _, rq := range []request{
		{method: "GET", path: Prefix + "tenants", token: e.readerToken},
		{method: "GET", path: Prefix + "tenants/" + testkit.GUID(t), token: e.readerToken},
		{method: "POST", path: Prefix + "tenants/" + testkit.GUID(t) + "/consent-link", token: e.writerToken, body: []byte(`{"email":false}`)},
	} {
		r := e.do(rq)
		p := r.problem(t, http.StatusServiceUnavailable)
		if r.header.Get("Retry-After") == "" {
			t.Errorf("%s %s: 503 without Retry-After", rq.method, rq.path)
		}
		if strings.Contains(p.Detail, "windows.net") {
			t.Errorf("503 detail leaks the cause: %q", p.Detail)
		}
	}
}

func TestUnknownPathsAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := testkit.GUID(t)
	r := e.do(request{method: "GET", path: Prefix + "nothing-here", noSpecCheck: true})
	r.problem(t, http.StatusNotFound)
	r = e.do(request{method: "PUT", path: Prefix + "tenants/" + id, token: e.writerToken, noSpecCheck: true})
	r.problem(t, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "GET, PATCH, DELETE, HEAD" {
		t.Errorf("Allow %q", allow)
	}
	r = e.do(request{method: "GET", path: Prefix + "tenants/" + id + "/suspend", noSpecCheck: true})
	r.problem(t, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow %q", allow)
	}
}

// TestAccessLog: every call is logged with method, route pattern, status
// and the caller's oid, and no token ever reaches the log.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tenant := e.provision("Contoso Ltd", "contoso.com", "eu")
	e.do(request{method: "GET", path: Prefix + "tenants/" + tenant.TenantID, token: e.readerToken}).want(t, http.StatusOK)
	e.do(request{method: "GET", path: Prefix + "tenants/" + tenant.TenantID, token: e.readerToken + "x"}).want(t, http.StatusUnauthorized)
	r := e.do(request{method: "POST", path: Prefix + "tenants/" + tenant.TenantID + "/consent-link", token: e.writerToken, body: []byte(`{"email":false}`)}).want(t, http.StatusOK)
	var link consentLinkView
	r.decode(t, &link)

	type line struct {
		Msg    string `json:"msg"`
		Method string `json:"method"`
		Route  string `json:"route"`
		Status int    `json:"status"`
		OID    string `json:"oid"`
	}
	var calls []line
	for _, raw := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var l line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line %q: %v", raw, err)
		}
		if l.Msg == "admin api call" {
			calls = append(calls, l)
		}
	}
	want := []line{
		{"admin api call", "POST", Prefix + "tenants", 201, e.writer.oid},
		{"admin api call", "GET", Prefix + "tenants/{tenantId}", 200, e.reader.oid},
		{"admin api call", "GET", Prefix + "tenants/{tenantId}", 401, ""},
		{"admin api call", "POST", Prefix + "tenants/{tenantId}/consent-link", 200, e.writer.oid},
	}
	if len(calls) != len(want) {
		t.Fatalf("logged calls %+v, want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("log line %d: %+v, want %+v", i, calls[i], want[i])
		}
	}
	logs := e.logs.String()
	for _, secret := range []string{e.readerToken, e.writerToken, strings.Split(e.readerToken, ".")[2], linkToken(t, link.URL)} {
		if strings.Contains(logs, secret) {
			t.Errorf("a secret reached the log")
		}
	}
}
