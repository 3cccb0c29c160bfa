// Package consolee2e runs the operator console's browser tests (console/e2e/run.mjs, headless
// Chromium through playwright-core) against the real stack: the handler with the embedded console
// build behind the local Functions host, a real Azurite, and the sandbox identity platform.
package consolee2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/app"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
)

const (
	operatorTenant   = "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f"
	euAppID          = "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"
	mailAppID        = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	appSecret        = "sandbox-only-not-a-secret"
	adminAPIClientID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
	adminAudience    = "api://onemeeting-cvi-admin"
)

func repoRoot(t *testing.T) string {
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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// spkiHashes are the base64 SHA-256 hashes of the public keys the sandbox's TLS port presents, for
// Chromium's --ignore-certificate-errors-spki-list: it then trusts exactly the sandbox's keys.
func spkiHashes(t *testing.T, authority string, pool func() *tls.Config) string {
	t.Helper()
	u, err := url.Parse(authority)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", u.Host, pool())
	if err != nil {
		t.Fatalf("TLS to the sandbox (verified with its CA): %v", err)
	}
	defer conn.Close()
	var out []string
	for _, c := range conn.ConnectionState().PeerCertificates {
		sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
		out = append(out, base64.StdEncoding.EncodeToString(sum[:]))
	}
	return strings.Join(out, ",")
}

func TestConsoleInChromium(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("headless Chromium is needed at /usr/bin/chromium (make test installs Debian's chromium)")
	}
	if _, err := os.Stat(filepath.Join(root, "console", "node_modules", "playwright-core")); err != nil {
		t.Fatal("console dependencies are missing: run `npm --prefix console ci && npm --prefix console run build` (make console)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	az, err := azurite.Start(ctx, azurite.Options{Logger: logger})
	if err != nil {
		t.Fatalf("start Azurite: %v", err)
	}
	t.Cleanup(func() { _ = az.Stop() })
	outbox := t.TempDir()
	sb, err := entrasim.Start(ctx, entrasim.Options{
		OutboxDir:        outbox,
		OperatorTenantID: operatorTenant,
		Apps: []entrasim.App{
			{AppID: euAppID, DisplayName: "OneMeeting CVI (Europe)", ClientSecret: appSecret},
			{AppID: mailAppID, DisplayName: "OneMeeting CVI mail", ClientSecret: appSecret},
		},
		AdminAPIClientID: adminAPIClientID,
		AdminAPIAudience: adminAudience,
		Logger:           logger,
	})
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
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
		"TABLE_PREFIX":                   "console",
		"LOCAL_QUEUE_URL":                base,
		"GRAPH_CREDENTIAL":               "secret",
		"GRAPH_CLIENT_SECRET":            appSecret,
		"AUTHORITY_HOST":                 sb.AuthorityHost(),
		"CONSENT_AUTHORITY_HOST":         sb.ConsentHost(),
		"GRAPH_BASE_URL":                 sb.GraphBaseURL(),
		"AUTHORITY_CA_FILE":              caFile,
		"ADMIN_API_AUDIENCE":             adminAudience,
		"ADMIN_API_CLIENT_ID":            adminAPIClientID,
		"CONSOLE_CLIENT_ID":              entrasim.ConsoleClientID,
		"ALLOW_PRIVATE_ADMIN_IPS":        "true",
		"CONSENT_VERIFY_TIMEOUT":         "2s",
		"REVALIDATION_SCHEDULE":          "0 0 0 1 1 *", // the test fires it by hand
		"REVALIDATION_BATCH_INTERVAL":    "0s",
		"RETRY_BACKOFF_BASE":             "100ms",
		"RETRY_BACKOFF_MAX":              "1s",
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(ctx, cfg, app.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
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
	host, err := funchost.New(funchost.Config{
		FunctionsDir:   filepath.Join(root, "functions"),
		HostJSONPath:   filepath.Join(root, "host.json"),
		HandlerURL:     "http://" + handlerLn.Addr().String(),
		ListenAddr:     hostAddr,
		Settings:       settings,
		MaxMessageSize: 4 << 20,
		Logger:         logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = host.Close(c)
	})

	// The console must be built into the handler (the Go embed reads internal/console/site at compile time).
	resp, err := http.Get(base + "/console/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "/console/assets/") {
		t.Fatalf("GET /console/ = %d without the built console (run `make console` before `go test`): %.300s", resp.StatusCode, page)
	}

	token, err := sb.MintOperatorToken(entrasim.OperatorClaims{Name: "E2E seeding operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = "/tmp/onemeeting-cvi-screenshots"
	}
	spki := spkiHashes(t, sb.AuthorityHost(), func() *tls.Config { return &tls.Config{RootCAs: sb.CertPool(), MinVersion: tls.VersionTLS12} })

	runCtx, stop := context.WithTimeout(ctx, 6*time.Minute)
	defer stop()
	cmd := exec.CommandContext(runCtx, "node", filepath.Join(root, "console", "e2e", "run.mjs"))
	cmd.Dir = filepath.Join(root, "console")
	cmd.Env = append(os.Environ(),
		"CONSOLE_URL="+base+"/console/",
		"HOST_URL="+host.URL(),
		"SANDBOX_SPKI="+spki,
		"WRITER_TOKEN="+token,
		"OUTBOX_DIR="+outbox,
		"SCREENSHOT_DIR="+shots,
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("console end-to-end tests failed: %v", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
