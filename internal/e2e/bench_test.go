package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// peakRSSMB is the process's peak resident set (VmHWM) in MB.
func peakRSSMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

// seedConsented writes n Consented tenants straight to the store and grants
// consent in the sandbox (setup, not measured).
func seedConsented(b testing.TB, s *stack, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newTenantID()
	}
	var wg sync.WaitGroup
	work := make(chan string)
	errs := make(chan error, 1)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				now := time.Now().UTC()
				code := strconv.Itoa(100000000 + int(now.UnixNano()%899999999))
				t := &domain.Tenant{TenantID: id, Status: domain.StatusConsented, StatusChanged: now, CustomerName: "Bench " + id[:8], Region: "eu",
					AppID: euAppID, TenantKeyCode: code, TenantKey: code + "@eu.teams.videosrv.net", InstructionURI: "http://127.0.0.1/api/join/" + code,
					AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}, Contacts: []domain.Contact{{Email: adminEmail(id), Role: domain.RoleAdmin}},
					ConsentedAt: now, GrantedRoles: domain.RequiredGraphRoles, CreatedAt: now, UpdatedAt: now}
				if err := s.app.Store.CreateTenant(context.Background(), t); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
				s.sb.Consent(id, euAppID)
			}
		}()
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return ids
}

// BenchmarkRevalidation re-validates N consented tenants through the local
// host (timer → batches → checks) against the sandbox with 50 ms latency
// and 1 % 429s (Retry-After: 1), and reports wall time against the ideal
// N × 2 requests × 50 ms / concurrency.
func BenchmarkRevalidation(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			const concurrency = 16
			const latency = 50 * time.Millisecond
			s := newStack(b, stackOptions{settings: map[string]string{"REVALIDATION_CONCURRENCY": strconv.Itoa(concurrency), "LOG_LEVEL": "warn"}})
			seedConsented(b, s, n)
			s.sb.SetFaults(entrasim.Faults{Latency: latency, Rate429: 0.01, RetryAfterSeconds: 1, ApplyToToken: true, ApplyToGraph: true})
			b.Cleanup(func() { s.sb.SetFaults(entrasim.Faults{}) })
			runtime.GC()
			for i := 0; i < b.N; i++ {
				before := s.sb.Stats()
				start := time.Now()
				runID := "bench-" + strconv.Itoa(n) + "-" + strconv.Itoa(i)
				if _, err := s.app.Server.Revalidation.StartRun(context.Background(), runID, "bench"); err != nil {
					b.Fatal(err)
				}
				s.waitIdleFor(10 * time.Minute)
				wall := time.Since(start)
				after := s.sb.Stats()
				graph := float64(after.GraphRequests-before.GraphRequests) / float64(n)
				tokens := float64(after.TokenRequests-before.TokenRequests) / float64(n)
				ideal := time.Duration(float64(n) * 2 * float64(latency) / concurrency)
				ratio := wall.Seconds() / ideal.Seconds()
				run, err := s.app.Store.GetRevalidationRun(context.Background(), runID)
				if err != nil || run.Checked != n {
					b.Fatalf("run = %+v, %v", run, err)
				}
				if st := s.host.QueueStats(queue.Revalidation); st.DeadLettered != 0 {
					b.Fatalf("dead-lettered batches: %d", st.DeadLettered)
				}
				fmt.Printf("tenants=%d concurrency=%d wall=%.1fs ideal=%.1fs ratio=%.2f graph_per_tenant=%.3f tokens_per_tenant=%.3f peak_rss_mb=%.0f transient_failures=%d 429s=%d\n",
					n, concurrency, wall.Seconds(), ideal.Seconds(), ratio, graph, tokens, peakRSSMB(), run.Failures, after.Served429-before.Served429)
				b.ReportMetric(ratio, "wall/ideal")
				b.ReportMetric(graph, "graph/tenant")
				b.ReportMetric(tokens, "tokens/tenant")
			}
		})
	}
}

// BenchmarkProvisioning measures provisioning through the local host on
// Azurite: throughput and latency from message to consent-link email.
func BenchmarkProvisioning(b *testing.B) {
	const n = 200
	s := newStack(b, stackOptions{settings: map[string]string{"LOG_LEVEL": "warn"}})
	for i := 0; i < b.N; i++ {
		ids := make([]string, n)
		enqueued := make(map[string]time.Time, n)
		before := lastSeq(s.sb)
		start := time.Now()
		for j := range ids {
			ids[j] = newTenantID()
			enqueued[adminEmail(ids[j])] = time.Now()
			if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "bench-" + ids[j], Body: testkit.JSON(b, example(b, ids[j], "CRM-bench-"+ids[j][:8]))}); err != nil {
				b.Fatal(err)
			}
		}
		s.waitIdle()
		wall := time.Since(start)
		var lat []time.Duration
		for _, m := range s.sb.SentMail() {
			if m.Seq <= before || len(m.To) == 0 {
				continue
			}
			if at, ok := enqueued[strings.ToLower(m.To[0])]; ok {
				lat = append(lat, m.At.Sub(at))
			}
		}
		if len(lat) != n {
			b.Fatalf("consent-link emails = %d, want %d", len(lat), n)
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		fmt.Printf("provisioning requests=%d wall=%.2fs throughput=%.1f/s p50_message_to_email=%dms p99_message_to_email=%dms\n",
			n, wall.Seconds(), float64(n)/wall.Seconds(), p50.Milliseconds(), p99.Milliseconds())
		b.ReportMetric(float64(n)/wall.Seconds(), "requests/s")
		b.ReportMetric(float64(p50.Milliseconds()), "p50_ms")
		b.ReportMetric(float64(p99.Milliseconds()), "p99_ms")
	}
}
