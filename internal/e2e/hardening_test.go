package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// adminCall calls the admin API through the local host as an operator.
func (s *stack) adminCall(method, path, body string) (int, string) {
	s.t.Helper()
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "33333333-aaaa-4bbb-8ccc-444444444444", Name: "Hardening Operator",
		Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var hiddenRunes = []string{"\u202E", "\u202C", "\u2066", "\u2069", "\u200B"}

// A provisioning request with bidi overrides in the names and a Unicode
// domain: stored cleaned and in both domain forms, and no hidden character
// reaches the consent-link email or the admin API.
func TestProvisioningCleansNamesAndKeepsBothDomainForms(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	msg := example(t, id, "CRM-"+id[:8])
	msg["customerName"] = "Contoso \u202Egnp.exe\u202C Ltd\u200B"
	msg["primaryDomain"] = "Bücher.example"
	msg["contacts"] = []any{map[string]any{"name": "\u2066Ana Admin\u2069", "email": adminEmail(id), "role": "admin"}}
	before := lastSeq(s.sb)
	s.runFunction("ProvisionTenant", testkit.JSON(t, msg))
	var mailHTML string
	testkit.Eventually(t, 5*time.Second, "consent-link email", func() bool {
		for _, m := range s.mailsTo(adminEmail(id), before) {
			mailHTML = m.Subject + m.HTMLBody
			return true
		}
		return false
	})
	tn := s.tenant(id)
	if tn.CustomerName != "Contoso gnp.exe Ltd" || tn.Contacts[0].Name != "Ana Admin" {
		t.Errorf("stored names %q / %q", tn.CustomerName, tn.Contacts[0].Name)
	}
	if tn.PrimaryDomain != "xn--bcher-kva.example" || tn.PrimaryDomainUnicode != "bücher.example" {
		t.Errorf("stored domain %q / %q", tn.PrimaryDomain, tn.PrimaryDomainUnicode)
	}
	code, body := s.adminCall("GET", "/api/admin/tenants/"+id, "")
	if code != http.StatusOK {
		t.Fatalf("get tenant: %d %s", code, body)
	}
	var view struct{ CustomerName, PrimaryDomain, PrimaryDomainUnicode string }
	_ = json.Unmarshal([]byte(body), &view)
	if view.PrimaryDomain != "xn--bcher-kva.example" || view.PrimaryDomainUnicode != "bücher.example" || view.CustomerName != "Contoso gnp.exe Ltd" {
		t.Errorf("admin view %+v", view)
	}
	// Either form finds it.
	for _, q := range []string{"bücher", "xn--bcher"} {
		if code, body := s.adminCall("GET", "/api/admin/tenants?q="+url.QueryEscape(q), ""); code != http.StatusOK || !strings.Contains(body, id) {
			t.Errorf("q=%s: %d, tenant listed %v", q, code, strings.Contains(body, id))
		}
	}
	for _, h := range hiddenRunes {
		if strings.Contains(mailHTML, h) || strings.Contains(body, h) {
			t.Errorf("U+%04X reached the email or the admin API", []rune(h)[0])
		}
	}
	// Admin PATCH applies the same rules.
	etag := tenantETag(t, body)
	code, body = s.adminCallIfMatch("PATCH", "/api/admin/tenants/"+id, `{"customerName":"\u202EFabrikam\u2069 GmbH","primaryDomain":"münchen.example"}`, etag)
	if code != http.StatusOK {
		t.Fatalf("patch: %d %s", code, body)
	}
	tn = s.tenant(id)
	if tn.CustomerName != "Fabrikam GmbH" || tn.PrimaryDomain != "xn--mnchen-3ya.example" || tn.PrimaryDomainUnicode != "münchen.example" {
		t.Errorf("after PATCH: %q %q %q", tn.CustomerName, tn.PrimaryDomain, tn.PrimaryDomainUnicode)
	}
}

func tenantETag(t *testing.T, body string) string {
	t.Helper()
	var v struct{ ETag string }
	if err := json.Unmarshal([]byte(body), &v); err != nil || v.ETag == "" {
		t.Fatalf("no etag in %s", body)
	}
	return v.ETag
}

func (s *stack) adminCallIfMatch(method, path, body, etag string) (int, string) {
	s.t.Helper()
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "33333333-aaaa-4bbb-8ccc-444444444444", Name: "Hardening Operator",
		Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		s.t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("If-Match", etag)
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A declined consent shows in the tenant's record with the AADSTS code and
// time, and the admin API lists it with consentOutcome=declined.
func TestDeclinedConsentIsRecordedAndFiltered(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id, other := newTenantID(), newTenantID()
	s.provisioned(other)
	state := s.startConsent(s.provisioned(id))
	resp, body := s.callback(url.Values{"admin_consent": {"True"}, "tenant": {id}, "state": {state}, "error": {"access_denied"},
		"error_subcode": {"cancel"}, "error_description": {"AADSTS65004: User declined to consent to access the app."}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("declined page: %d %s", resp.StatusCode, body)
	}
	tn := s.tenant(id)
	if tn.LastConsentOutcome != domain.ConsentOutcomeDeclined || tn.LastConsentError != "AADSTS65004" || tn.LastConsentAt.IsZero() {
		t.Fatalf("record: %q %q %v", tn.LastConsentOutcome, tn.LastConsentError, tn.LastConsentAt)
	}
	code, body := s.adminCall("GET", "/api/admin/tenants?consentOutcome=declined", "")
	if code != http.StatusOK || !strings.Contains(body, id) || strings.Contains(body, other) {
		t.Fatalf("filter: %d %s", code, body)
	}
	if !strings.Contains(body, `"lastConsentOutcome":"declined"`) || !strings.Contains(body, `"lastConsentError":"AADSTS65004"`) {
		t.Errorf("view lacks the decline: %s", body)
	}
	if code, body := s.adminCall("GET", "/api/admin/tenants?consentOutcome=maybe", ""); code != http.StatusBadRequest {
		t.Errorf("bad filter value: %d %s", code, body)
	}
}

// Through the local host: any method or path under /api/admin/ that the
// API does not serve answers problem+json, never the host's or the mux's
// text 404.
func TestAdminAPIUnknownRoutesThroughTheHost(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"PUT", "/api/admin/tenants/" + newTenantID(), http.StatusMethodNotAllowed},
		{"OPTIONS", "/api/admin/tenants", http.StatusMethodNotAllowed},
		{"GET", "/api/admin/nothing-here", http.StatusNotFound},
		{"GET", "/api/admin/", http.StatusNotFound},
	} {
		code, body := s.adminCall(c.method, c.path, "")
		if code != c.status || !strings.Contains(body, "urn:onemeeting-cvi:problem:") {
			t.Errorf("%s %s: %d %s, want %d problem+json", c.method, c.path, code, body, c.status)
		}
	}
}
