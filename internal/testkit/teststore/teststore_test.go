package teststore

import (
	"context"
	"fmt"
	"testing"
	"time"

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

func TestReadsBackTenantAndAuditTrail(t *testing.T) {
	ctx := context.Background()
	s := New(t, tablestore.Options{})
	now := time.Now().UTC()
	tn := &domain.Tenant{TenantID: testkit.GUID(t), Status: domain.StatusProvisioned, StatusChanged: now, CustomerName: "Contoso", Region: "eu",
		AppID: testkit.GUID(t), TenantKey: "1@eu.example", TenantKeyCode: "1", CreatedAt: now, UpdatedAt: now}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if got := Tenant(t, s, tn.TenantID); got.TenantID != tn.TenantID || got.CustomerName != "Contoso" || got.ETag == "" {
		t.Errorf("Tenant = %+v", got)
	}

	// More than one page of events, two actions.
	const n = 130
	for i := range n {
		action := "consent.checked"
		if i%10 == 0 {
			action = "tenant.updated"
		}
		e := domain.AuditEvent{ID: fmt.Sprintf("e-%03d", i), TenantID: tn.TenantID, Action: action, At: now.Add(time.Duration(i) * time.Second)}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all := Audit(t, s, tn.TenantID)
	if len(all) != n {
		t.Fatalf("Audit has %d events, want %d (every page)", len(all), n)
	}
	by := AuditActions(t, s, tn.TenantID)
	if len(by) != 2 || len(by["tenant.updated"]) != 13 || len(by["consent.checked"]) != n-13 {
		t.Fatalf("AuditActions: %d actions, %d tenant.updated, %d consent.checked", len(by), len(by["tenant.updated"]), len(by["consent.checked"]))
	}
	if u := by["tenant.updated"]; !u[0].At.After(u[len(u)-1].At) {
		t.Errorf("tenant.updated from %v to %v; want newest first", u[0].At, u[len(u)-1].At)
	}
}
