package graph

import (
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// A tenant without our service principal is revoked whichever code Entra
// answers: 700016 (HTTP 400) or 7000229 (HTTP 401 invalid_client), both
// through the real azidentity client.
func TestCheckMissingServicePrincipalCodes(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	for _, code := range []int{700016, 7000229} {
		// Never consented.
		never := testkit.GUID(t)
		s.SetTenant(never, entrasim.Scenario{MissingSPCode: code})
		res, err := c.Check(ctxTimeout(t, 30*time.Second), never, testAppID, CheckOptions{})
		if err != nil || res.Outcome != OutcomeRevoked || res.AADSTS != code {
			t.Errorf("code %d, never consented: %+v, %v; want revoked AADSTS%d", code, res, err, code)
		}
		// Enterprise app deleted after consent; a fresh token is refused.
		removed := consented(t, s, entrasim.Scenario{MissingSPCode: code})
		if res, err := c.Check(ctxTimeout(t, 30*time.Second), removed, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
			t.Fatalf("code %d, before removal: %+v, %v", code, res, err)
		}
		s.RemoveServicePrincipal(removed, testAppID)
		res, err = c.Check(ctxTimeout(t, 30*time.Second), removed, testAppID, CheckOptions{Fresh: true})
		if err != nil || res.Outcome != OutcomeRevoked || res.AADSTS != code || !strings.Contains(res.Detail, "app not found in tenant") {
			t.Errorf("code %d, SP removed: %+v, %v; want revoked AADSTS%d", code, res, err, code)
		}
	}
}

// disabledByMicrosoftStatus: null and "NotDisabled" are enabled; any other
// value disables (read through msgraph-sdk-go from the sandbox's Graph).
func TestCheckDisabledByMicrosoftStatus(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)
	for _, tc := range []struct {
		status  string
		want    Outcome
		enabled bool
	}{
		{"", OutcomeConsented, true},
		{"NotDisabled", OutcomeConsented, true},
		{"DisabledDueToViolationOfServicesAgreement", OutcomeDegraded, false},
	} {
		tenantID := consented(t, s, entrasim.Scenario{DisabledByMicrosoftStatus: tc.status})
		res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{})
		if err != nil || res.Outcome != tc.want || res.SPEnabled != tc.enabled {
			t.Errorf("disabledByMicrosoftStatus %q: %+v, %v; want %s (enabled %v)", tc.status, res, err, tc.want, tc.enabled)
		}
		if tc.want == OutcomeDegraded && !strings.Contains(res.Detail, "disabled by Microsoft ("+tc.status+")") {
			t.Errorf("detail %q does not name the Microsoft status", res.Detail)
		}
	}
	// Changed on an existing service principal.
	tenantID := consented(t, s)
	s.SetDisabledByMicrosoft(tenantID, testAppID, "DisabledDueToViolationOfServicesAgreement")
	if res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeDegraded {
		t.Errorf("set on existing SP: %+v, %v; want degraded", res, err)
	}
	s.SetDisabledByMicrosoft(tenantID, testAppID, "NotDisabled")
	if res, err := c.Check(ctxTimeout(t, 30*time.Second), tenantID, testAppID, CheckOptions{}); err != nil || res.Outcome != OutcomeConsented {
		t.Errorf("NotDisabled on existing SP: %+v, %v; want consented", res, err)
	}
}

// A Graph token that is not a JWT does not fail the check: the service
// principal decides, and the roles are recorded as unknown.
func TestCheckOpaqueTokenRolesUnknown(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	c := newChecker(t, s, newCreds(t, s), nil)

	ok := consented(t, s, entrasim.Scenario{OpaqueTokens: true, GrantRoles: []string{}})
	res, err := c.Check(ctxTimeout(t, 30*time.Second), ok, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeConsented || !res.RolesUnknown || !res.SPEnabled || len(res.Roles) != 0 || len(res.MissingRoles) != 0 {
		t.Fatalf("opaque token, SP enabled: %+v, %v; want consented with roles unknown", res, err)
	}
	if tok, gr := requests(s, ok); tok != 1 || gr != 1 {
		t.Errorf("%d token + %d graph requests, want 1 + 1 (Graph accepted the opaque token)", tok, gr)
	}

	disabled := consented(t, s, entrasim.Scenario{OpaqueTokens: true, DisabledByMicrosoftStatus: "DisabledDueToViolationOfServicesAgreement"})
	res, err = c.Check(ctxTimeout(t, 30*time.Second), disabled, testAppID, CheckOptions{})
	if err != nil || res.Outcome != OutcomeDegraded || !res.RolesUnknown || res.SPEnabled {
		t.Errorf("opaque token, SP disabled by Microsoft: %+v, %v; want degraded with roles unknown", res, err)
	}

	// A readable token still reports roles.
	jwt := consented(t, s)
	if res, err := c.Check(ctxTimeout(t, 30*time.Second), jwt, testAppID, CheckOptions{}); err != nil || res.RolesUnknown || len(res.Roles) == 0 {
		t.Errorf("JWT: %+v, %v; want roles known", res, err)
	}
}
