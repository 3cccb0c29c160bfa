package graph

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// BenchmarkCheck measures CPU and allocations per check against the sandbox
// (no latency; sandbox CPU included). cached-token is the steady state of
// re-validation (1 Graph request); fresh-token adds the token request.
func BenchmarkCheck(b *testing.B) {
	s := startSandbox(b)
	creds := newCreds(b, s, func(o *CredentialOptions) { o.CacheSize = 4096 })
	c := newChecker(b, s, creds, nil)
	ctx := context.Background()
	tenants := make([]string, 256)
	for i := range tenants {
		tenants[i] = consented(b, s)
		if _, err := c.Check(ctx, tenants[i], testAppID, CheckOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		opts CheckOptions
	}{
		{"cached-token", CheckOptions{}},
		{"fresh-token", CheckOptions{Fresh: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var next atomic.Uint64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tenantID := tenants[next.Add(1)%uint64(len(tenants))]
					res, err := c.Check(ctx, tenantID, testAppID, bc.opts)
					if err != nil || res.Outcome != OutcomeConsented {
						b.Errorf("check: %+v, %v", res, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAdapter is the per-call cost of a Graph request adapter, which is
// why adapters are built per call instead of cached beside credentials.
func BenchmarkAdapter(b *testing.B) {
	s := startSandbox(b)
	creds := newCreds(b, s)
	c := newChecker(b, s, creds, nil)
	cred, err := creds.For(testkit.GUID(b), testAppID)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.graph.adapter(cred); err != nil {
			b.Fatal(err)
		}
	}
}
