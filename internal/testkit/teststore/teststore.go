// Package teststore gives a test its own Table Storage on the test binary's
// Azurite (tables under a random prefix). tablestore's own tests cannot use
// it (import cycle) and use testkit directly. Tenant, Audit and
// AuditActions read back what a test's flow stored.
package teststore

import (
	"context"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// New is a store on fresh tables in the shared Azurite; opts.TablePrefix is
// replaced by a random one.
func New(t testing.TB, opts tablestore.Options) *tablestore.Store {
	t.Helper()
	opts.TablePrefix = testkit.TablePrefix(t)
	s, err := tablestore.NewFromConnectionString(testkit.Azurite(t).ConnectionString(), opts)
	if err != nil {
		t.Fatalf("test store: %v", err)
	}
	if err := s.EnsureTables(context.Background()); err != nil {
		t.Fatalf("create test tables: %v", err)
	}
	return s
}

// Tenant is the stored tenant id, failing the test when it cannot be read.
func Tenant(t testing.TB, s domain.TenantStore, id string) *domain.Tenant {
	t.Helper()
	tn, err := s.GetTenant(context.Background(), id)
	if err != nil {
		t.Fatalf("get tenant %s: %v", id, err)
	}
	return tn
}

// Audit is the tenant's whole audit trail, newest first (every page).
func Audit(t testing.TB, s domain.TenantStore, tenantID string) []domain.AuditEvent {
	t.Helper()
	var out []domain.AuditEvent
	next := ""
	for {
		page, err := s.ListAudit(context.Background(), tenantID, 100, next)
		if err != nil {
			t.Fatalf("list the audit trail of tenant %s: %v", tenantID, err)
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out
		}
		next = page.Next
	}
}

// AuditActions is the tenant's audit trail by action, each newest first.
func AuditActions(t testing.TB, s domain.TenantStore, tenantID string) map[string][]domain.AuditEvent {
	t.Helper()
	out := map[string][]domain.AuditEvent{}
	for _, e := range Audit(t, s, tenantID) {
		out[e.Action] = append(out[e.Action], e)
	}
	return out
}
