package adminapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// Rotating returns a new status-page URL (validated against the spec like
// every response), audited; an offboarded tenant gets 409, an unknown one 404.
func TestRotateStatusLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.provision("Rotate Co", "rotate.example", "eu").TenantID
	path := Prefix + "tenants/" + id + "/status-link"
	var first, second statusLinkView
	e.do(request{method: "POST", path: path, token: e.writerToken}).want(t, http.StatusOK).decode(t, &first)
	e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{}`)}).want(t, http.StatusOK).decode(t, &second)
	if !strings.HasPrefix(first.URL, "https://onboarding.onemeeting.example/api/status/") || first.URL == second.URL || second.IssuedAt.IsZero() {
		t.Fatalf("rotations: %+v then %+v", first, second)
	}
	e.do(request{method: "POST", path: path, token: e.readerToken}).problem(t, http.StatusForbidden)
	e.do(request{method: "POST", path: path, token: e.writerToken, body: []byte(`{"reason":"x"}`)}).problem(t, http.StatusBadRequest)
	e.do(request{method: "POST", path: Prefix + "tenants/" + testkit.GUID(t) + "/status-link", token: e.writerToken}).problem(t, http.StatusNotFound)
	e.do(request{method: "DELETE", path: Prefix + "tenants/" + id, token: e.writerToken}).want(t, http.StatusOK)
	e.do(request{method: "POST", path: path, token: e.writerToken}).problem(t, http.StatusConflict)
}

// The tenant view carries liveSince and flags a consented tenant that is
// not live after LIVE_REMINDER_AFTER.
func TestTenantViewNotLiveAfterConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.provision("Quiet Co", "quiet.example", "eu").TenantID
	set := func(change func(*domain.Tenant)) {
		t.Helper()
		if _, err := domain.UpdateTenant(context.Background(), e.store, id, func(tn *domain.Tenant) (bool, error) { change(tn); return true, nil }); err != nil {
			t.Fatal(err)
		}
	}
	set(func(tn *domain.Tenant) {
		_, _ = tn.SetStatus(domain.StatusConsented, "test", time.Now())
		tn.ConsentedAt = time.Now().Add(-8 * 24 * time.Hour)
	})
	if v, _ := e.getTenant(id); !v.NotLiveAfterConsent || !v.LiveSince.IsZero() {
		t.Errorf("8 days after consent, not live: notLiveAfterConsent=%v liveSince=%v", v.NotLiveAfterConsent, v.LiveSince)
	}
	live := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	set(func(tn *domain.Tenant) { tn.LiveSince, tn.LastInviteSeen = live, live })
	if v, _ := e.getTenant(id); v.NotLiveAfterConsent || !v.LiveSince.Equal(live) || !v.LastInviteSeen.Equal(live) {
		t.Errorf("live tenant view: notLiveAfterConsent=%v liveSince=%v lastInviteSeen=%v", v.NotLiveAfterConsent, v.LiveSince, v.LastInviteSeen)
	}
}
