package teststore

import (
	"context"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestStoresDoNotShareRows(t *testing.T) {
	a, b := New(t, tablestore.Options{}), New(t, tablestore.Options{})
	id := testkit.GUID(t)
	if err := a.AppendAudit(context.Background(), domain.AuditEvent{ID: "x", TenantID: id, Action: "tenant.provisioned"}); err != nil {
		t.Fatal(err)
	}
	if page, err := b.ListAudit(context.Background(), id, 10, ""); err != nil || len(page.Items) != 0 {
		t.Fatalf("second store sees %v (err %v)", page.Items, err)
	}
	if page, err := a.ListAudit(context.Background(), id, 10, ""); err != nil || len(page.Items) != 1 {
		t.Fatalf("first store sees %v (err %v)", page.Items, err)
	}
}
