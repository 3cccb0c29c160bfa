package consent

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// allowIPs indexes tn's allowed addresses (as provisioning does), so a
// token-less start finds it.
func (e *env) allowIPs(tn *domain.Tenant) *domain.Tenant {
	e.t.Helper()
	if err := e.store.SetAllowedIPs(context.Background(), tn.TenantID, tn.AllowedIPs); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// A start from the allow-list redirects to Microsoft's admin-consent
// endpoint for the tenant, with a one-time state stored only hashed.
func TestStartRedirectsWithAOneTimeState(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	res, err := e.svc.Start(context.Background(), e.token(tn.TenantID), adminIP)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(res.RedirectURL)
	if err != nil || !strings.HasPrefix(res.RedirectURL, "https://login.example/"+tn.TenantID+"/v2.0/adminconsent?") {
		t.Fatalf("redirect = %q, %v", res.RedirectURL, err)
	}
	q := u.Query()
	if q.Get("client_id") != tn.AppID || q.Get("redirect_uri") != "https://onboarding.example/api/adminconsent/callback" || q.Get("state") == "" {
		t.Fatalf("redirect query = %v", q)
	}
	cs, err := e.store.GetConsentState(context.Background(), HashSecret(q.Get("state")))
	if err != nil || cs.TenantID != tn.TenantID || cs.ClientIP != adminIP.String() || cs.ExpiresAt.Sub(cs.CreatedAt) != StateTTL {
		t.Fatalf("stored state = %+v, %v", cs, err)
	}
	if started := teststore.AuditActions(t, e.store, tn.TenantID)["consent.started"]; len(started) != 1 || started[0].Details["via"] != "link" {
		t.Errorf("started audit = %+v", started)
	}
}

// An expired link, and a caller outside the allow-list, are refused and the
// refusal audited; no state is created.
func TestStartRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	token := e.token(tn.TenantID)

	_, err := e.svc.Start(context.Background(), token, netip.MustParseAddr("203.0.113.9"))
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedIPNotAllowed || r.Tenant == nil || r.Tenant.TenantID != tn.TenantID {
		t.Fatalf("start from outside the allow-list: %v", err)
	}
	e.svc.Now = func() time.Time { return time.Now().Add(25 * time.Hour) } // past LinkTTL
	if _, err := e.svc.Start(context.Background(), token, adminIP); !errors.As(err, &r) || r.Kind != RefusedLinkExpired {
		t.Fatalf("start with an expired link: %v", err)
	}
	if _, err := e.svc.Start(context.Background(), "not-a-link", adminIP); !errors.As(err, &r) || r.Kind != RefusedLinkUnknown || r.Tenant != nil {
		t.Fatalf("start with an unknown link: %v", err)
	}
	refused := teststore.AuditActions(t, e.store, tn.TenantID)["consent.refused"]
	if len(refused) != 2 || refused[0].Reason == refused[1].Reason {
		t.Fatalf("refusal audit = %+v, want ip-not-allowed and link-expired", refused)
	}
	if n := len(teststore.AuditActions(t, e.store, tn.TenantID)["consent.started"]); n != 0 {
		t.Errorf("%d starts audited", n)
	}
}

// Without a token the caller's address picks the tenant: exactly one tenant
// must allow it.
func TestStartByAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.allowIPs(e.tenant())
	ip := netip.MustParseAddr("198.51.100.77")
	res, err := e.svc.Start(context.Background(), "", ip)
	var r *Refusal
	if err != nil || res.Tenant.TenantID != tn.TenantID {
		t.Fatalf("start by address = %+v, %v", res, err)
	}
	if started := teststore.AuditActions(t, e.store, tn.TenantID)["consent.started"]; len(started) != 1 || started[0].Details["via"] != "ip" {
		t.Errorf("started audit = %+v", started)
	}
	e.allowIPs(e.tenant()) // a second tenant allowing the same range
	if _, err := e.svc.Start(context.Background(), "", ip); !errors.As(err, &r) || r.Kind != RefusedAmbiguousIP {
		t.Fatalf("start by an address two tenants allow: %v", err)
	}
	if _, err := e.svc.Start(context.Background(), "", netip.MustParseAddr("192.0.2.1")); !errors.As(err, &r) || r.Kind != RefusedNoTenantForIP {
		t.Fatalf("start by an address no tenant allows: %v", err)
	}
}
