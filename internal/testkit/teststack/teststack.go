// Package teststack starts the whole service the way Azure runs it, for the
// end-to-end tests (internal/e2e, internal/consolee2e): the real handler
// (main's wiring, app.New) behind the local Functions host, on the test
// binary's Azurite and its one sandbox identity platform + Graph. Use
// testkit.Main as the test binary's TestMain: it stops both at exit.
package teststack

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/app"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The sandbox's operator tenant and apps, which Settings names.
const (
	OperatorTenant   = "0c5d2f7e-8a1b-4c3d-9e2f-1a2b3c4d5e6f"
	EUAppID          = "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10"
	MailAppID        = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	AppSecret        = "sandbox-only-not-a-secret"
	AdminAPIClientID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
	AdminAPIAudience = "api://onemeeting-cvi-admin"
)

// sharedSandbox is the one sandbox a test binary starts, on first use.
var sharedSandbox = struct {
	once   sync.Once
	sb     *entrasim.Sandbox
	outbox string
	err    error
}{}

// Sandbox is the test binary's sandbox identity platform + Graph (the
// operator tenant, the Europe app and the mail app registered), started by
// the first test that asks; tests keep apart by random tenant IDs.
func Sandbox(t testing.TB) *entrasim.Sandbox {
	t.Helper()
	sharedSandbox.once.Do(func() {
		// Sent mail is also written as .eml files, as for a developer.
		outbox, err := os.MkdirTemp("", "e2e-outbox-")
		if err != nil {
			sharedSandbox.err = err
			return
		}
		discard := slog.New(slog.DiscardHandler)
		sb, err := entrasim.Start(context.Background(), entrasim.Options{
			OutboxDir:        outbox,
			OperatorTenantID: OperatorTenant,
			Apps: []entrasim.App{
				{AppID: EUAppID, DisplayName: "OneMeeting CVI (Europe)", ClientSecret: AppSecret},
				{AppID: MailAppID, DisplayName: "OneMeeting CVI mail", ClientSecret: AppSecret},
			},
			AdminAPIClientID: AdminAPIClientID,
			AdminAPIAudience: AdminAPIAudience,
			Logger:           discard,
		})
		if err != nil {
			_ = os.RemoveAll(outbox)
			sharedSandbox.err = err
			return
		}
		sharedSandbox.sb, sharedSandbox.outbox = sb, outbox
		testkit.AtExit(func() {
			_ = sb.Close()
			_ = os.RemoveAll(outbox)
		})
	})
	if sharedSandbox.err != nil {
		t.Fatalf("cannot start the sandbox identity platform: %v", sharedSandbox.err)
	}
	return sharedSandbox.sb
}

// OutboxDir is where the shared sandbox writes sent mail as .eml files.
func OutboxDir(t testing.TB) string {
	t.Helper()
	Sandbox(t)
	return sharedSandbox.outbox
}

// Options change one stack; the zero value is the usual one.
type Options struct {
	// Azurite holds the tables; nil: the test binary's (testkit.Azurite).
	Azurite *azurite.Server
	// Settings win over the defaults (see Start).
	Settings map[string]string
	// App is handed to app.New; a nil Logger is the test log at Warn.
	App app.Options
	// Publisher, when set, wraps the local-host publisher the handler uses.
	Publisher func(*queue.Local) queue.Publisher
	// HostLogger is the local Functions host's; nil: App.Logger.
	HostLogger *slog.Logger
	// As funchost.Config (0 / nil: Service Bus's 10, redelivery at once).
	MaxDeliveryCount int
	RedeliveryDelay  func(int) time.Duration
}

// Stack is one running service instance; it stops when the test ends.
type Stack struct {
	BaseURL  string // the local Functions host, http://127.0.0.1:<port>
	Settings map[string]string
	Config   *config.Config
	App      *app.App
	Host     *funchost.Host
	Sandbox  *entrasim.Sandbox
	Azurite  *azurite.Server
}

// Start runs the handler in-process behind the local Functions host on free
// loopback ports, with tables under a random prefix. Its settings point at
// the shared sandbox, accept loopback admin IPs, verify consent within 2 s,
// fire re-validation only by hand and retry transient failures within
// seconds (100 ms … 1 s, given up after 10 min).
func Start(t testing.TB, o Options) *Stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	az := o.Azurite
	if az == nil {
		az = testkit.Azurite(t)
	}
	sb := Sandbox(t)
	caFile := filepath.Join(t.TempDir(), "sandbox-ca.pem")
	if err := sb.WriteCACert(caFile); err != nil {
		t.Fatal(err)
	}
	hostAddr := testkit.FreeAddr(t)
	base := "http://" + hostAddr
	settings := map[string]string{
		"PUBLIC_BASE_URL":                base,
		"REGIONS":                        `[{"code":"eu","displayName":"Europe","appId":"` + EUAppID + `","tenantKeyDomain":"eu.teams.videosrv.net","instructionBaseUrl":"` + base + `/api/join","directDialDomain":"eu.teams.videosrv.net"}]`,
		"OPERATOR_TENANT_ID":             OperatorTenant,
		"MAIL_SENDER":                    "onboarding@videosrv.net",
		"MAIL_APP_ID":                    MailAppID,
		"OPERATIONS_EMAIL":               "ops@videosrv.net",
		"SUPPORT_EMAIL":                  "support@videosrv.net",
		"TableStorage__connectionString": az.ConnectionString(),
		"TABLE_PREFIX":                   "e" + testkit.TablePrefix(t),
		"LOCAL_QUEUE_URL":                base,
		"GRAPH_CREDENTIAL":               "secret",
		"GRAPH_CLIENT_SECRET":            AppSecret,
		"AUTHORITY_HOST":                 sb.AuthorityHost(),
		"CONSENT_AUTHORITY_HOST":         sb.ConsentHost(),
		"GRAPH_BASE_URL":                 sb.GraphBaseURL(),
		"AUTHORITY_CA_FILE":              caFile,
		"ADMIN_API_AUDIENCE":             AdminAPIAudience,
		"ADMIN_API_CLIENT_ID":            AdminAPIClientID,
		"ALLOW_PRIVATE_ADMIN_IPS":        "true",
		"CONSENT_VERIFY_TIMEOUT":         "2s",
		"REVALIDATION_SCHEDULE":          "0 0 0 1 1 *", // tests fire it by hand
		"REVALIDATION_BATCH_INTERVAL":    "0s",
		// Short back-off for transient failures, so tests see retries within seconds.
		"RETRY_BACKOFF_BASE":      "100ms",
		"RETRY_BACKOFF_MAX":       "1s",
		"RETRY_BACKOFF_MAX_TOTAL": "10m",
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	opts := o.App
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testkit.LogWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Publisher != nil {
		opts.Publisher = o.Publisher(queue.NewLocal(cfg.LocalQueueURL, nil))
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

	hostLogger := o.HostLogger
	if hostLogger == nil {
		hostLogger = opts.Logger
	}
	root := testkit.Root(t)
	host, err := funchost.New(funchost.Config{
		FunctionsDir:     filepath.Join(root, "functions"),
		HostJSONPath:     filepath.Join(root, "host.json"),
		HandlerURL:       "http://" + handlerLn.Addr().String(),
		ListenAddr:       hostAddr,
		Settings:         settings,
		MaxDeliveryCount: o.MaxDeliveryCount,
		RedeliveryDelay:  o.RedeliveryDelay,
		MaxMessageSize:   4 << 20,
		Logger:           hostLogger,
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
	return &Stack{BaseURL: base, Settings: settings, Config: cfg, App: a, Host: host, Sandbox: sb, Azurite: az}
}
