package entrasim_test

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// checkTenant does what a revalidation does per tenant: one token, one SP read.
func checkTenant(tb testing.TB, s *entrasim.Sandbox, graph *http.Client, tenantID string) bool {
	tok := tokenFor(tb, s, tenantID, testAppID, testSecret)
	req, _ := http.NewRequest(http.MethodGet, s.GraphBaseURL()+"/servicePrincipals(appId='"+testAppID+"')?$select=id,accountEnabled", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("x-ms-throttle-priority", "low")
	resp, err := graph.Do(req)
	if err != nil {
		tb.Error(err)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func runTenants(tb testing.TB, s *entrasim.Sandbox, tenants []string, workers int) int64 {
	graph := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer graph.CloseIdleConnections()
	var ok atomic.Int64
	work := make(chan string)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for id := range work {
				if checkTenant(tb, s, graph, id) {
					ok.Add(1)
				}
			}
		})
	}
	for _, id := range tenants {
		work <- id
	}
	close(work)
	wg.Wait()
	return ok.Load()
}

func TestManyTenantsConcurrently(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) { o.SigningKeyBits = 1024 })
	tenants := make([]string, 300)
	for i := range tenants {
		tenants[i] = testkit.GUID(t)
		s.Consent(tenants[i], testAppID)
	}
	if ok := runTenants(t, s, tenants, 16); ok != int64(len(tenants)) {
		t.Errorf("%d of %d tenants checked", ok, len(tenants))
	}
	st := s.Stats()
	if st.TokensIssued != 300 || st.GraphRequests != 300 || st.LowPriorityGraphRequests != 300 || len(st.GraphRequestsByTenant) != 300 {
		t.Errorf("stats: issued %d graph %d low %d tenants %d", st.TokensIssued, st.GraphRequests, st.LowPriorityGraphRequests, len(st.GraphRequestsByTenant))
	}
	if st.MaxConcurrentGraph < 1 || st.MaxConcurrentGraph > 16 {
		t.Errorf("MaxConcurrentGraph = %d", st.MaxConcurrentGraph)
	}
}

// BenchmarkTenantCheck measures token + SP read per tenant at 16 workers:
// go test -run '^$' -bench TenantCheck -benchtime 10000x ./internal/dev/entrasim/
func BenchmarkTenantCheck(b *testing.B) {
	for _, bits := range []int{2048, 1024} {
		b.Run(map[int]string{2048: "rsa2048", 1024: "rsa1024"}[bits], func(b *testing.B) {
			s := startSandbox(b, func(o *entrasim.Options) { o.SigningKeyBits = bits })
			tenants := make([]string, b.N)
			for i := range tenants {
				tenants[i] = testkit.GUID(b)
			}
			// Heap per tenant: consented state plus what the run leaves behind.
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for _, id := range tenants {
				s.Consent(id, testAppID)
			}
			b.ResetTimer()
			if ok := runTenants(b, s, tenants, 16); ok != int64(b.N) {
				b.Fatalf("%d of %d ok", ok, b.N)
			}
			b.StopTimer()
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(b.N), "heapB/tenant")
		})
	}
}
