// Package e2e drives the whole service the way Azure does: the real handler
// (main's wiring) behind the local Functions host, a real Azurite, and the
// sandbox identity platform + Graph through the real SDK clients.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/app"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

const (
	operatorTenant = "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f"
	euAppID        = "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"
	mailAppID      = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	appSecret      = "sandbox-only-not-a-secret"
)

// shared holds what all tests of the package share: one Azurite and one
// sandbox (tests isolate by table prefix and random tenant IDs).
var shared struct {
	az *azurite.Server
	sb *entrasim.Sandbox
}

func TestMain(m *testing.M) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	az, err := azurite.Start(ctx, azurite.Options{Logger: logger})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start Azurite:", err)
		os.Exit(1)
	}
	fmt.Printf("e2e: azurite table service on 127.0.0.1:%d\n", az.Port())
	// Tests read sent mail as the local outbox's .eml files, like a developer.
	outbox, err := os.MkdirTemp("", "e2e-outbox-")
	if err != nil {
		_ = az.Stop()
		fmt.Fprintln(os.Stderr, "e2e: outbox:", err)
		os.Exit(1)
	}
	sb, err := entrasim.Start(ctx, entrasim.Options{
		OutboxDir:        outbox,
		OperatorTenantID: operatorTenant,
		Apps: []entrasim.App{
			{AppID: euAppID, DisplayName: "OneMeeting CVI (Europe)", ClientSecret: appSecret},
			{AppID: mailAppID, DisplayName: "OneMeeting CVI mail", ClientSecret: appSecret},
		},
		AdminAPIClientID: adminAPIClientID,
		AdminAPIAudience: "api://onemeeting-cvi-admin",
		Logger:           logger,
	})
	if err != nil {
		_ = az.Stop()
		fmt.Fprintln(os.Stderr, "e2e: start sandbox:", err)
		os.Exit(1)
	}
	shared.az, shared.sb = az, sb
	code := m.Run()
	_ = sb.Close()
	_ = az.Stop()
	_ = os.RemoveAll(outbox)
	os.Exit(code)
}

// clock is the service's time, movable by tests (link and state expiry).
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// stack is one isolated service instance.
type stack struct {
	t      testing.TB
	cfg    *config.Config
	app    *app.App
	host   *funchost.Host
	clock  *clock
	sb     *entrasim.Sandbox
	az     *azurite.Server
	client *http.Client // does not follow redirects
}

type stackOptions struct {
	az               *azurite.Server // default: the shared one
	settings         map[string]string
	maxDeliveryCount int
	redelivery       func(int) time.Duration
	// publisher wraps the local-host publisher the handler uses (tests that record sends).
	publisher func(*queue.Local) queue.Publisher
	// wrapLiveStore wraps the store of live tracking (status_test.go).
	wrapLiveStore func(domain.TenantStore) domain.TenantStore
}

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// newTenantID returns a fresh random tenant GUID.
func newTenantID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func newStack(t testing.TB, o stackOptions) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	az := o.az
	if az == nil {
		az = shared.az
	}
	sb := shared.sb
	caFile := filepath.Join(t.TempDir(), "sandbox-ca.pem")
	if err := sb.WriteCACert(caFile); err != nil {
		t.Fatal(err)
	}
	hostAddr := freeAddr(t)
	base := "http://" + hostAddr
	settings := map[string]string{
		"PUBLIC_BASE_URL":                base,
		"REGIONS":                        `[{"code":"eu","displayName":"Europe","appId":"` + euAppID + `","tenantKeyDomain":"eu.teams.videosrv.net","instructionBaseUrl":"` + base + `/api/join","directDialDomain":"eu.teams.videosrv.net"}]`,
		"OPERATOR_TENANT_ID":             operatorTenant,
		"MAIL_SENDER":                    "onboarding@videosrv.net",
		"MAIL_APP_ID":                    mailAppID,
		"OPERATIONS_EMAIL":               "ops@videosrv.net",
		"SUPPORT_EMAIL":                  "support@videosrv.net",
		"TableStorage__connectionString": az.ConnectionString(),
		"TABLE_PREFIX":                   "e" + randomSuffix(),
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
		"CONSENT_VERIFY_TIMEOUT":         "2s",
		"REVALIDATION_SCHEDULE":          "0 0 0 1 1 *", // tests fire it by hand
		"REVALIDATION_BATCH_INTERVAL":    "0s",
		// Short back-off for transient failures, so tests see retries within seconds.
		"RETRY_BACKOFF_BASE":      "100ms",
		"RETRY_BACKOFF_MAX":       "1s",
		"RETRY_BACKOFF_MAX_TOTAL": "10m",
	}
	for k, v := range o.settings {
		settings[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := app.Options{Logger: logger, Now: clk.Now, WrapLiveStore: o.wrapLiveStore}
	if o.publisher != nil {
		opts.Publisher = o.publisher(queue.NewLocal(cfg.LocalQueueURL, nil))
	}
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Store.EnsureTables(ctx); err != nil {
		t.Fatal(err)
	}
	handlerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Server, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(handlerLn) }()
	t.Cleanup(func() { _ = srv.Close() })

	root := repoRoot(t)
	// nil: redelivery at once, as Service Bus does (reference §3); a test
	// that needs the old spacing says so itself.
	redelivery := o.redelivery
	host, err := funchost.New(funchost.Config{
		FunctionsDir:     filepath.Join(root, "functions"),
		HostJSONPath:     filepath.Join(root, "host.json"),
		HandlerURL:       "http://" + handlerLn.Addr().String(),
		ListenAddr:       hostAddr,
		Settings:         settings,
		MaxDeliveryCount: o.maxDeliveryCount,
		RedeliveryDelay:  redelivery,
		MaxMessageSize:   4 << 20,
		Logger:           logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = host.Close(closeCtx)
	})
	return &stack{t: t, cfg: cfg, app: a, host: host, clock: clk, sb: sb, az: az,
		client: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// testWriter sends service logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// example returns the contract example for a fresh tenant ID.
func example(t testing.TB, tenantID, requestID string, adminIPs ...string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "e2e", "testdata", "provisioning.v1.example.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["tenantId"] = tenantID
	m["requestId"] = requestID
	if len(adminIPs) == 0 {
		adminIPs = []string{"127.0.0.1"}
	}
	ips := make([]any, len(adminIPs))
	for i, ip := range adminIPs {
		ips[i] = ip
	}
	m["adminIps"] = ips
	// Unique addresses keep tests that share the sandbox apart.
	m["contacts"] = []any{
		map[string]any{"name": "Contoso IT Admin", "email": adminEmail(tenantID), "role": "admin"},
		map[string]any{"name": "Contoso Service Desk", "email": "desk-" + tenantID[:8] + "@contoso.com", "role": "technical"},
	}
	return m
}

func adminEmail(tenantID string) string { return "admin-" + tenantID[:8] + "@contoso.com" }

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runFunction posts to the host's admin endpoint, as an operator would.
func (s *stack) runFunction(name, input string) {
	s.t.Helper()
	body := mustJSON(s.t, map[string]string{"input": input})
	resp, err := http.Post(s.host.URL()+"/admin/functions/"+name, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("run %s: %d %s", name, resp.StatusCode, b)
	}
}

func (s *stack) waitIdle() {
	s.t.Helper()
	s.waitIdleFor(60 * time.Second)
}

func (s *stack) waitIdleFor(d time.Duration) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.host.WaitIdle(ctx); err != nil {
		s.t.Fatalf("host not idle: %v", err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mails returns the sandbox's sent mail about a tenant (subject or body
// mentions it) or to a recipient.
func (s *stack) mailsTo(addr string, since int) []entrasim.SentMail {
	var out []entrasim.SentMail
	for _, m := range s.sb.SentMail() {
		if m.Seq <= since {
			continue
		}
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func lastSeq(sb *entrasim.Sandbox) int {
	all := sb.SentMail()
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1].Seq
}

func (s *stack) tenant(id string) *domain.Tenant {
	s.t.Helper()
	t, err := s.app.Store.GetTenant(context.Background(), id)
	if err != nil {
		s.t.Fatalf("get tenant %s: %v", id, err)
	}
	return t
}

func (s *stack) audit(id string) []domain.AuditEvent {
	s.t.Helper()
	page, err := s.app.Store.ListAudit(context.Background(), id, 100, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return page.Items
}

func itoa(i int) string { return strconv.Itoa(i) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
