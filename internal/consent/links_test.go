package consent

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// A link is stored only as its SHA-256 (full hex, domain.Digest), is valid
// for LinkTTL, and a newer link supersedes it.
func TestIssueLinkStoresTheHashAndSupersedes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tn := e.tenant()
	first, err := e.svc.IssueLink(context.Background(), tn.TenantID, "operator:o1", "Olivia")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(first.URL)
	if err != nil || u.Host != "onboarding.example" || u.Path != "/api/adminconsent" {
		t.Fatalf("link = %q, %v", first.URL, err)
	}
	token := u.Query().Get("t")
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if len(got.InviteHash) != 64 || got.InviteHash != domain.Digest(token, 32) || got.InviteHash == token {
		t.Fatalf("stored hash %q for token %q", got.InviteHash, token)
	}
	if d := got.InviteExpiresAt.Sub(got.InviteIssuedAt); d != 24*time.Hour || first.ExpiresAt.Sub(got.InviteExpiresAt).Abs() > time.Millisecond {
		t.Errorf("link valid %s (expires %v, returned %v)", d, got.InviteExpiresAt, first.ExpiresAt)
	}
	issued := teststore.AuditActions(t, e.store, tn.TenantID)["consent.link-issued"]
	if len(issued) != 2 || issued[0].Details["expiresAt"] == "" {
		t.Errorf("link-issued audit = %+v (the env issues one too)", issued)
	}

	if _, err := e.svc.IssueLink(context.Background(), tn.TenantID, "operator:o1", "Olivia"); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Start(context.Background(), token, adminIP)
	var r *Refusal
	if !errors.As(err, &r) || r.Kind != RefusedLinkSuperseded || !r.LinkProven {
		t.Fatalf("start with a superseded link: %v", err)
	}
}
