package tablestore

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Storage down mid-run: every call fails as transient (so queue messages
// are redelivered, not rejected), and after Azurite is back on the same port
// the same Store works again without being rebuilt.
func TestStorageDownThenBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Its own Azurite (with data on disk, so it survives the restart): the
	// shared one must stay up for the other tests.
	srv, err := azurite.Start(ctx, azurite.Options{Location: t.TempDir()})
	if err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	t.Logf("outage azurite on 127.0.0.1:%d", srv.Port())
	s := newTestStoreOn(t, srv.ConnectionString())
	tn := fullTenant(tenantID(1))
	must(t, s.CreateTenant(ctx, tn))

	must(t, srv.Stop())

	calls := map[string]func(context.Context) error{
		"Ping": s.Ping,
		"GetTenant": func(ctx context.Context) error {
			_, err := s.GetTenant(ctx, tn.TenantID)
			return err
		},
		"CreateTenant": func(ctx context.Context) error { return s.CreateTenant(ctx, fullTenant(tenantID(2))) },
		"UpdateTenant": func(ctx context.Context) error { c := *tn; return s.UpdateTenant(ctx, &c) },
		"ListTenants": func(ctx context.Context) error {
			_, err := s.ListTenants(ctx, domain.TenantFilter{}, 10, "")
			return err
		},
		"ReserveTenantKey": func(ctx context.Context) error { return s.ReserveTenantKey(ctx, "1", tn.TenantID) },
		"SetAllowedIPs": func(ctx context.Context) error {
			return s.SetAllowedIPs(ctx, tn.TenantID, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")})
		},
		"ConsumeConsentState": func(ctx context.Context) error {
			_, err := s.ConsumeConsentState(ctx, "x")
			return err
		},
		"CreateRevalidationRun": func(ctx context.Context) error {
			return s.CreateRevalidationRun(ctx, &domain.RevalidationRun{RunID: "r"})
		},
		"EnsureTables": s.EnsureTables,
	}
	for name, call := range calls {
		start := time.Now()
		err := call(ctx)
		if !domain.IsTransient(err) {
			t.Errorf("%s with storage down = %v (code %q); want transient", name, err, domain.ErrorCode(err))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %s to fail", name, d)
		}
	}
	// A caller's deadline running out is transient too.
	dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-dctx.Done()
	if _, err := s.GetTenant(dctx, tn.TenantID); !domain.IsTransient(err) {
		t.Errorf("expired context: %v; want transient", err)
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	must(t, s.Ping(ctx))
	got, err := s.GetTenant(ctx, tn.TenantID)
	must(t, err)
	if got.CustomerName != tn.CustomerName || got.ETag != tn.ETag {
		t.Fatalf("after restart got %+v", got)
	}
	got.LastCheckOutcome = "ok"
	must(t, s.UpdateTenant(ctx, got))
}
