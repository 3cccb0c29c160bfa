//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststack"
)

// soakPlan is one soak run: tenants, 20 % duplicate messages (most with a new
// message ID, as a CRM that re-sends after a lost acknowledgement; some with
// the same ID, which duplicate detection drops), some later requests for the
// same tenant (new request ID, other IPs and name, same admins), a storage
// hang and a handler SIGKILL, both while work is in flight.
type soakPlan struct {
	tenants   int
	updates   int
	freeze    time.Duration // Azurite SIGSTOPped this long
	enqueueIn time.Duration // messages are spread over this
	settle    time.Duration // deadline for the queues to drain afterwards
}

type soakFigures struct {
	messages, accepted, deliveries, backoffCopies, consentEmails, opsAlerts, deadLetters, killedInFlight int
	seed                                                                                                 uint64
	wall                                                                                                 time.Duration
	peakRSSMB                                                                                            float64
}

// buildHandler compiles the handler binary into dir (as `make build` does).
func buildHandler(tb testing.TB, dir string) string {
	tb.Helper()
	path := filepath.Join(dir, "handler")
	build := exec.Command("go", "build", "-o", path, ".")
	build.Dir = testkit.Root(tb)
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build handler: %v\n%s", err, out)
	}
	return path
}

// pidsOf lists the running processes whose executable is path (Linux /proc).
func pidsOf(path string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			out = append(out, pid)
		}
	}
	return out
}

// peakRSSOfMB is a process's peak resident set (VmHWM) in MB, 0 if gone.
func peakRSSOfMB(pid int) float64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
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

// lockedFile serialises writes of the handler's and the host's logs.
type lockedFile struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

type soakMessage struct {
	tenant string
	msg    funchost.Message
}

func runSoak(tb testing.TB, plan soakPlan) soakFigures {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	dir := tb.TempDir()
	handlerPath := buildHandler(tb, dir)

	// Its own Azurite, in memory: freezing it must not stall other tests.
	az, err := azurite.Start(ctx, azurite.Options{InMemory: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if pid := az.Pid(); pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGCONT) // a failed run may leave it frozen
		}
		_ = az.Stop()
	})
	sb := teststack.Sandbox(tb)
	caFile := filepath.Join(dir, "sandbox-ca.pem")
	if err := sb.WriteCACert(caFile); err != nil {
		tb.Fatal(err)
	}
	hostAddr := testkit.FreeAddr(tb)
	base := "http://" + hostAddr
	prefix := "s" + testkit.TablePrefix(tb)
	settings := map[string]string{
		"PUBLIC_BASE_URL":                base,
		"REGIONS":                        `[{"code":"eu","displayName":"Europe","appId":"` + euAppID + `","tenantKeyDomain":"eu.teams.videosrv.net","instructionBaseUrl":"` + base + `/api/join","directDialDomain":"eu.teams.videosrv.net"}]`,
		"OPERATOR_TENANT_ID":             operatorTenant,
		"MAIL_SENDER":                    "onboarding@videosrv.net",
		"MAIL_APP_ID":                    mailAppID,
		"OPERATIONS_EMAIL":               "ops-" + prefix + "@videosrv.net",
		"SUPPORT_EMAIL":                  "support@videosrv.net",
		"TableStorage__connectionString": az.ConnectionString(),
		"TABLE_PREFIX":                   prefix,
		"LOCAL_QUEUE_URL":                base,
		"GRAPH_CREDENTIAL":               "secret",
		"GRAPH_CLIENT_SECRET":            appSecret,
		"AUTHORITY_HOST":                 sb.AuthorityHost(),
		"CONSENT_AUTHORITY_HOST":         sb.ConsentHost(),
		"GRAPH_BASE_URL":                 sb.GraphBaseURL(),
		"AUTHORITY_CA_FILE":              caFile,
		"ADMIN_API_AUDIENCE":             "api://onemeeting-cvi-admin",
		"ADMIN_API_CLIENT_ID":            adminAPIClientID,
		"ALLOW_PRIVATE_ADMIN_IPS":        "true",
		"REVALIDATION_SCHEDULE":          "0 0 0 1 1 *", // not during the soak
		"LOG_LEVEL":                      "info",
		// Short but realistic back-off (the defaults are 10 s / 15 m / 24 h).
		"RETRY_BACKOFF_BASE":      "1s",
		"RETRY_BACKOFF_MAX":       "10s",
		"RETRY_BACKOFF_MAX_TOTAL": "1h",
	}
	store, err := tablestore.NewFromConnectionString(az.ConnectionString(), tablestore.Options{TablePrefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	if err := store.EnsureTables(ctx); err != nil {
		tb.Fatal(err)
	}

	logPath := filepath.Join(dir, "soak.log")
	lf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = lf.Close() })
	logs := &lockedFile{f: lf}
	env := os.Environ()
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	root := testkit.Root(tb)
	host, err := funchost.New(funchost.Config{
		FunctionsDir: filepath.Join(root, "functions"),
		HostJSONPath: filepath.Join(root, "host.json"),
		Handler:      &funchost.HandlerProcess{Path: handlerPath, Dir: dir, Env: env, Stdout: logs, Stderr: logs},
		ListenAddr:   hostAddr,
		Settings:     settings,
		// Service Bus's behaviour: maxDeliveryCount 10, redelivery at once.
		MaxDeliveryCount: 10,
		Logger:           slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	startCtx, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	defer cancelStart()
	if err := host.Start(startCtx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = host.Close(closeCtx)
	})
	failed := false
	defer func() {
		if failed || tb.Failed() || os.Getenv("SOAK_KEEP_LOG") != "" {
			dumpSoakLog(tb, logPath)
		}
	}()

	// The messages, shuffled.
	ids := make([]string, plan.tenants)
	var msgs []soakMessage
	for i := range ids {
		ids[i] = newTenantID()
		body := testkit.JSON(tb, example(tb, ids[i], "CRM-soak-"+ids[i][:8]))
		msgs = append(msgs, soakMessage{ids[i], funchost.Message{MessageID: "soak-" + ids[i], Body: body}})
		if i%5 == 0 { // 20 % duplicates
			dupID := "soak-" + ids[i] + "-resent"
			if i%20 == 0 {
				dupID = "soak-" + ids[i] // same ID: dropped by duplicate detection
			}
			msgs = append(msgs, soakMessage{ids[i], funchost.Message{MessageID: dupID, Body: body}})
		}
	}
	seed := rand.Uint64() // in the figures, so a failing order can be replayed
	if v, err := strconv.ParseUint(os.Getenv("SOAK_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	// Updates arrive right behind their tenant's first request, so the two
	// race (tenant creation, the IP index lease, the consent email).
	updates := map[string]soakMessage{}
	for i := range plan.updates {
		id := ids[(i*7+3)%len(ids)]
		upd := example(tb, id, "CRM-soak-"+id[:8]+"-u", "127.0.0.1", "192.0.2.0/28")
		upd["customerName"] = "Contoso Ltd (updated)"
		updates[id] = soakMessage{id, funchost.Message{MessageID: "soak-" + id + "-u", Body: testkit.JSON(tb, upd)}}
	}
	withUpdates := make([]soakMessage, 0, len(msgs)+len(updates))
	for _, m := range msgs {
		withUpdates = append(withUpdates, m)
		if u, ok := updates[m.tenant]; ok {
			withUpdates = append(withUpdates, u)
			delete(updates, m.tenant)
		}
	}
	msgs = withUpdates

	before := lastSeq(sb)
	handlerPIDs := pidsOf(handlerPath)
	if len(handlerPIDs) != 1 {
		tb.Fatalf("handler processes running %s: %v, want 1", handlerPath, handlerPIDs)
	}
	var peakRSS float64
	samplePeak := func() {
		for _, pid := range pidsOf(handlerPath) {
			peakRSS = max(peakRSS, peakRSSOfMB(pid))
		}
	}

	start := time.Now()
	// Faults on their own clock while messages arrive: the freeze starts a
	// quarter into the arrivals; the handler is killed shortly before the
	// thaw and again right after it; arrivals go on after both.
	freezeAt := plan.enqueueIn / 4
	var killedInFlight, kills atomic.Int64
	faults := make(chan error, 1)
	go func() {
		faults <- func() error {
			// One kill: wait (bounded) until enough deliveries are in flight
			// on the queue(s) named, then SIGKILL the handler.
			kill := func(what string, ready func(p, e funchost.QueueStats) bool) error {
				for until := time.Now().Add(15 * time.Second); time.Now().Before(until); time.Sleep(5 * time.Millisecond) {
					if ready(host.QueueStats(queue.Provisioning), host.QueueStats(queue.Email)) {
						break
					}
				}
				samplePeak()
				pids := pidsOf(handlerPath)
				if len(pids) != 1 {
					return fmt.Errorf("handler processes before the kill %s: %v", what, pids)
				}
				p, e := host.QueueStats(queue.Provisioning), host.QueueStats(queue.Email)
				killedInFlight.Add(int64(p.InFlight + e.InFlight))
				if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
					return fmt.Errorf("kill handler %s: %w", what, err)
				}
				kills.Add(1)
				return nil
			}
			time.Sleep(freezeAt) // a schedule, not a wait for a condition
			pid := az.Pid()
			if err := syscall.Kill(-pid, syscall.SIGSTOP); err != nil {
				return fmt.Errorf("freeze azurite: %w", err)
			}
			// Killed 3 s before the thaw, after the first hung deliveries gave
			// up (3 tries of 10 s) and were re-sent with back-off: the writes
			// it leaves in Azurite's sockets are applied after the thaw, when
			// their writer is dead.
			killAt := time.Now().Add(plan.freeze - 3*time.Second)
			time.Sleep(time.Until(killAt))
			if err := kill("during the freeze", func(p, _ funchost.QueueStats) bool { return p.InFlight >= 2 }); err != nil {
				return err
			}
			time.Sleep(time.Until(killAt.Add(3 * time.Second)))
			if err := syscall.Kill(-pid, syscall.SIGCONT); err != nil {
				return fmt.Errorf("thaw azurite: %w", err)
			}
			// Killed again while the thawed backlog's emails are being sent.
			return kill("after the thaw", func(p, e funchost.QueueStats) bool { return p.InFlight >= 1 && e.InFlight >= 2 })
		}()
	}()
	accepted := 0
	gap := plan.enqueueIn / time.Duration(len(msgs))
	for i, m := range msgs {
		dup, err := host.Enqueue(queue.Provisioning, m.msg)
		if err != nil {
			tb.Fatalf("enqueue %s: %v", m.msg.MessageID, err)
		}
		if !dup {
			accepted++
		}
		if next := start.Add(time.Duration(i+1) * gap); time.Until(next) > 0 {
			time.Sleep(time.Until(next)) // arrivals paced like a CRM's
		}
	}
	if err := <-faults; err != nil {
		tb.Fatal(err)
	}

	// Drain: nothing active or in flight, no back-off copy waiting; what
	// stays scheduled is one consent reminder per tenant (due in 72 h).
	deadline := time.Now().Add(plan.settle)
	stableSince := time.Time{}
	for {
		samplePeak()
		p, e := host.QueueStats(queue.Provisioning), host.QueueStats(queue.Email)
		idle := p.Active == 0 && p.InFlight == 0 && p.Scheduled == 0 && e.Active == 0 && e.InFlight == 0 && e.Scheduled <= plan.tenants
		quiet := idle && e.Scheduled == plan.tenants
		switch {
		case quiet && stableSince.IsZero():
			stableSince = time.Now()
		case !quiet:
			stableSince = time.Time{}
		}
		if quiet && time.Since(stableSince) > 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			failed = true
			tb.Fatalf("queues not drained %s after the arrivals: provisioning %+v email %+v (want email scheduled = %d reminders)", plan.settle, p, e, plan.tenants)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wall := stableSince.Sub(start)

	// Every tenant: exactly one consent-link email; none anywhere twice.
	consent := map[string]int{}
	opsAlerts := 0
	for _, m := range sb.SentMail() {
		if m.Seq <= before {
			continue
		}
		for _, to := range m.To {
			if strings.EqualFold(to, settings["OPERATIONS_EMAIL"]) {
				opsAlerts++
			}
			if m.Kind == string(domain.EmailConsentLink) {
				consent[strings.ToLower(to)]++
			}
		}
	}
	consentEmails := 0
	for _, id := range ids {
		n := consent[adminEmail(id)]
		consentEmails += n
		if n != 1 {
			tb.Errorf("tenant %s: %d consent-link emails, want 1", id, n)
		}
	}
	var tenants []*domain.Tenant
	for next := ""; ; {
		page, err := store.ListTenants(ctx, domain.TenantFilter{}, 100, next)
		if err != nil {
			tb.Fatal(err)
		}
		tenants = append(tenants, page.Items...)
		if next = page.Next; next == "" {
			break
		}
	}
	keys := map[string]string{}
	for _, t := range tenants {
		if t.TenantKey == "" || t.Status != domain.StatusProvisioned {
			tb.Errorf("tenant %s: key %q status %s", t.TenantID, t.TenantKey, t.Status)
		}
		if other, dup := keys[t.TenantKey]; dup {
			tb.Errorf("tenant key %s held by %s and %s", t.TenantKey, other, t.TenantID)
		}
		keys[t.TenantKey] = t.TenantID
	}
	// One tenant.provisioned event each (audit keys derive from the request).
	for _, t := range tenants {
		page, err := store.ListAudit(ctx, t.TenantID, 100, "")
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for _, e := range page.Items {
			if e.Action == "tenant.provisioned" {
				n++
			}
		}
		if n != 1 {
			tb.Errorf("tenant %s: %d tenant.provisioned events, want 1", t.TenantID, n)
		}
	}
	if len(tenants) != plan.tenants {
		tb.Errorf("%d tenants stored, want %d", len(tenants), plan.tenants)
	}
	rej, err := store.ListRejections(ctx, 100, "")
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range rej.Items {
		tb.Errorf("rejection recorded: %s %s: %s", r.MessageID, r.TenantID, r.Reason)
	}
	if opsAlerts != 0 {
		tb.Errorf("%d ops alerts, want 0", opsAlerts)
	}
	deadLetters, deliveries := 0, 0
	for _, st := range host.AllQueueStats() {
		deadLetters += st.DeadLettered
		deliveries += st.Deliveries
		for _, dl := range host.DeadLetters(st.Queue) {
			tb.Errorf("dead letter on %s: %s (%s)", st.Queue, dl.MessageID, dl.Reason+": "+dl.Description)
		}
	}
	// Still serving, on a restarted handler.
	resp, err := http.Get(host.URL() + "/api/healthz")
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Errorf("GET /api/healthz after the soak = %d", resp.StatusCode)
	}
	if now := pidsOf(handlerPath); len(now) != 1 || now[0] == handlerPIDs[0] || kills.Load() != 2 {
		tb.Errorf("handler processes after %d kills: %v (before: %v), want one new one", kills.Load(), now, handlerPIDs)
	}
	failed = tb.Failed()
	return soakFigures{messages: len(msgs), accepted: accepted, deliveries: deliveries, backoffCopies: countLines(logPath, "re-sent with back-off"),
		killedInFlight: int(killedInFlight.Load()), seed: seed, consentEmails: consentEmails, opsAlerts: opsAlerts, deadLetters: deadLetters, wall: wall, peakRSSMB: peakRSS}
}

func countLines(path, substr string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

// dumpSoakLog keeps the logs of a failed soak (or any, with SOAK_KEEP_LOG=1)
// where a developer finds them.
func dumpSoakLog(tb testing.TB, path string) {
	keep := filepath.Join(os.TempDir(), "soak-"+time.Now().UTC().Format("20060102T150405")+".log")
	if raw, err := os.ReadFile(path); err == nil && os.WriteFile(keep, raw, 0o644) == nil {
		tb.Logf("handler and host logs of this soak: %s", keep)
	}
}

func (f soakFigures) String() string {
	return fmt.Sprintf("seed=%d messages=%d accepted=%d wall=%.1fs deliveries=%d backoff_copies=%d killed_in_flight=%d consent_emails=%d ops_alerts=%d dead_letters=%d handler_peak_rss_mb=%.0f",
		f.seed, f.messages, f.accepted, f.wall.Seconds(), f.deliveries, f.backoffCopies, f.killedInFlight, f.consentEmails, f.opsAlerts, f.deadLetters, f.peakRSSMB)
}

// The soak of issue 11, small: the real handler process behind the local
// host (immediate redelivery, maxDeliveryCount 10) on Azurite, 60 tenants with
// 20 % duplicates and some updates, Azurite frozen for 10 s and the handler
// SIGKILLed mid-run. Exactly one consent email per tenant, no duplicate key,
// no dead letter, and the stack still serves.
func TestSoakStorageHangAndHandlerKill(t *testing.T) {
	t.Parallel()
	f := runSoak(t, soakPlan{tenants: 60, updates: 3, freeze: 35 * time.Second, enqueueIn: 40 * time.Second, settle: 90 * time.Second})
	t.Logf("soak: tenants=60 freeze=35s %s", f)
}

// BenchmarkSoak is the full soak of issue 11: 600 tenants, 750 messages, a
// 60 s storage hang and a handler SIGKILL (make bench).
func BenchmarkSoak(b *testing.B) {
	for i := 0; i < b.N; i++ {
		f := runSoak(b, soakPlan{tenants: 600, updates: 30, freeze: 60 * time.Second, enqueueIn: 100 * time.Second, settle: 5 * time.Minute})
		fmt.Printf("soak tenants=600 freeze=60s %s\n", f)
		b.ReportMetric(float64(f.messages), "messages")
		b.ReportMetric(f.wall.Seconds(), "wall_s")
		b.ReportMetric(float64(f.deliveries), "deliveries")
		b.ReportMetric(float64(f.backoffCopies), "backoff_copies")
		b.ReportMetric(float64(f.consentEmails), "consent_emails")
		b.ReportMetric(float64(f.deadLetters), "dead_letters")
		b.ReportMetric(f.peakRSSMB, "handler_peak_rss_MB")
	}
}
