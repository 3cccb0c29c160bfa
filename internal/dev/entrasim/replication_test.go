package entrasim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// With a replication lag, tokens issued right after consent carry no roles;
// once the lag has passed they carry every granted role.
func TestRoleReplicationLag(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tenantID := testkit.GUID(t)
	const lag = 1500 * time.Millisecond
	s.SetTenant(tenantID, entrasim.Scenario{RoleReplicationLag: lag})
	consented := time.Now()
	s.Consent(tenantID, testAppID)
	tok, err := getToken(t.Context(), credential(t, s, tenantID, testAppID, testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(consented) < lag {
		if _, present := claimsOf(t, tok.Token)["roles"]; present {
			t.Fatal("token issued during the replication lag carries roles")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A new credential each time: MSAL caches tokens per credential.
		tok, err = getToken(t.Context(), credential(t, s, tenantID, testAppID, testSecret))
		if err != nil {
			t.Fatal(err)
		}
		if got := stringsOf(claimsOf(t, tok.Token)["roles"]); slices.Equal(got, s.RequiredRoles()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("roles never appeared after the replication lag")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if time.Since(consented) < lag {
		t.Errorf("roles appeared after %s, before the lag of %s", time.Since(consented), lag)
	}
}
