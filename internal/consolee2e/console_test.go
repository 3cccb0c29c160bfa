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
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststack"
)

// TestMain stops the Azurite and the sandbox the kit starts.
func TestMain(m *testing.M) { testkit.Main(m) }

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
	root := testkit.Root(t)
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Fatal("headless Chromium is needed at /usr/bin/chromium (make test installs Debian's chromium)")
	}
	if _, err := os.Stat(filepath.Join(root, "console", "node_modules", "playwright-core")); err != nil {
		t.Fatal("console dependencies are missing: run `npm --prefix console ci && npm --prefix console run build` (make console)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	st := teststack.Start(t, teststack.Options{
		Settings: map[string]string{
			"TABLE_PREFIX":      "console",
			"CONSOLE_CLIENT_ID": entrasim.ConsoleClientID,
		},
		HostLogger: slog.New(slog.DiscardHandler),
	})
	base, host, sb, outbox := st.BaseURL, st.Host, st.Sandbox, teststack.OutboxDir(t)

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
