package entrasim_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The missing-service-principal answer per tenant: 700016 is HTTP 400
// unauthorized_client (the default), 7000229 HTTP 401 invalid_client.
func TestMissingServicePrincipalCodes(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	for _, tc := range []struct {
		code, status int
		errCode      string
		text         string
	}{
		{0, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: Application with identifier '" + testAppID + "' was not found in the directory"},
		{700016, http.StatusBadRequest, "unauthorized_client", "AADSTS700016: "},
		{7000229, http.StatusUnauthorized, "invalid_client", "AADSTS7000229: The client application " + testAppID + " is missing service principal in the tenant "},
	} {
		tenantID := testkit.GUID(t)
		s.SetTenant(tenantID, entrasim.Scenario{MissingSPCode: tc.code})
		_, err := getToken(t.Context(), credential(t, s, tenantID, testAppID, testSecret))
		e := aadErrorOf(t, err)
		want := tc.code
		if want == 0 {
			want = 700016
		}
		if !e.hasCode(want) || e.Status != tc.status || e.Error != tc.errCode || !strings.Contains(e.ErrorDescription, tc.text) ||
			!strings.Contains(e.ErrorDescription, tenantID) || !strings.Contains(e.ErrorDescription, "Trace ID:") {
			t.Errorf("knob %d: %+v", tc.code, e)
		}
	}
	// An app registered nowhere is 700016 whatever the knob says.
	tenantID := testkit.GUID(t)
	s.SetTenant(tenantID, entrasim.Scenario{MissingSPCode: 7000229})
	_, err := getToken(t.Context(), credential(t, s, tenantID, testkit.GUID(t), "x"))
	if e := aadErrorOf(t, err); !e.hasCode(700016) {
		t.Errorf("unknown app: %+v", e)
	}
}

// disabledByMicrosoftStatus is null unless set, and each documented value
// comes back as set.
func TestGraphDisabledByMicrosoftStatus(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	read := func(tenantID string) (json.RawMessage, bool) {
		tok := tokenFor(t, s, tenantID, testAppID, testSecret)
		res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok, nil)
		var body map[string]json.RawMessage
		if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != http.StatusOK {
			t.Fatalf("GET SP: %d %s", res.Status, res.Body)
		}
		v, ok := body["disabledByMicrosoftStatus"]
		return v, ok
	}
	plain := testkit.GUID(t)
	s.Consent(plain, testAppID)
	if v, ok := read(plain); !ok || string(v) != "null" {
		t.Errorf("default: disabledByMicrosoftStatus = %s (present %v), want null", v, ok)
	}
	for _, status := range []string{"NotDisabled", "DisabledDueToViolationOfServicesAgreement"} {
		tenantID := testkit.GUID(t)
		s.SetTenant(tenantID, entrasim.Scenario{DisabledByMicrosoftStatus: status})
		s.Consent(tenantID, testAppID)
		if v, _ := read(tenantID); string(v) != `"`+status+`"` {
			t.Errorf("scenario %s: got %s", status, v)
		}
	}
	s.SetDisabledByMicrosoft(plain, testAppID, "DisabledDueToViolationOfServicesAgreement")
	if v, _ := read(plain); string(v) != `"DisabledDueToViolationOfServicesAgreement"` {
		t.Errorf("SetDisabledByMicrosoft: got %s", v)
	}
}

// Opaque tokens are not JWTs, and Graph accepts them like signed ones.
func TestOpaqueGraphTokens(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	s.SetTenant(tenantID, entrasim.Scenario{OpaqueTokens: true})
	s.Consent(tenantID, testAppID)
	tok, err := getToken(t.Context(), credential(t, s, tenantID, testAppID, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(tok.Token, ".") || len(tok.Token) < 40 {
		t.Fatalf("opaque token %q looks like a JWT or is too short", tok.Token)
	}
	res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", tok.Token, nil)
	if res.Status != http.StatusOK {
		t.Errorf("Graph with opaque token: %d %s", res.Status, res.Body)
	}
	if res := graphDo(t, http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')", "EwBnot-issued-here", nil); res.Status != http.StatusUnauthorized {
		t.Errorf("unknown opaque token: %d, want 401", res.Status)
	}
}
