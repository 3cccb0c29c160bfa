// Command devstack is `make run`: the whole service on one machine, offline.
// It starts Azurite (tables), the sandbox identity platform + Graph (when the
// settings point at it) and the local Functions host on 127.0.0.1:7071, which
// starts the handler binary as the Functions host would and restarts it when
// it exits. Ctrl-C stops everything.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onemeeting/cvi-onboarding/handlers"
	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.Getwd()
	if err != nil {
		logger.Error("devstack: working directory", "err", err)
		os.Exit(1)
	}
	err = run(ctx, logger, options{Root: root, ListenAddr: "127.0.0.1:7071", Banner: os.Stdout, HandlerOut: os.Stdout})
	if err != nil {
		logger.Error("devstack stopped with an error", "err", err)
		os.Exit(1)
	}
}

// options make the stack testable from a temporary tree on free ports.
type options struct {
	Root       string            // the repository (functions/, host.json, bin/handler, local.settings*.json)
	ListenAddr string            // the local Functions host
	Overrides  map[string]string // win over the settings file and the environment (tests)
	Banner     io.Writer
	HandlerOut io.Writer
	// Ready, when set, is called once everything is up (tests).
	Ready func(stack)
}

// stack is what a running devstack exposes to its Ready hook.
type stack struct {
	HostURL     string
	Sandbox     *entrasim.Sandbox
	Settings    map[string]string
	OutboxDir   string
	PrevOutbox  string // where earlier runs' mail was moved; "" if there was none
	TokenFile   string
	MaxDelivery map[string]int
}

func run(ctx context.Context, logger *slog.Logger, o options) error {
	if inAzure, marker := azureenv.Detect(os.LookupEnv); inAzure {
		return fmt.Errorf("refusing to start: this is a local development stack and %s says this is Azure", marker)
	}
	root := o.Root
	settingsPath := filepath.Join(root, "local.settings.json")
	if _, err := os.Stat(settingsPath); err != nil {
		settingsPath = filepath.Join(root, "local.settings.sample.json")
	}
	settings, err := funchost.LoadLocalSettings(settingsPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", settingsPath, err)
	}
	for k := range settings {
		if v, ok := os.LookupEnv(k); ok {
			settings[k] = v // the environment wins, as in Azure
		}
	}
	for k, v := range o.Overrides {
		settings[k] = v
	}
	logger.Info("settings", "file", settingsPath)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// Azurite runs in memory, so links in mail from earlier runs lead nowhere:
	// move that mail aside before anything new is sent.
	outbox := filepath.Join(root, ".local", "outbox")
	prevOutbox, err := rotateOutbox(outbox, time.Now())
	if err != nil {
		return err
	}
	if prevOutbox != "" {
		logger.Info("moved earlier runs' mail aside", "to", prevOutbox)
	}

	// Tables: Azurite on the port the connection string names.
	if conn := settings["TableStorage__connectionString"]; conn != "" {
		port := tablePort(conn)
		az, err := azurite.Start(ctx, azurite.Options{RepoRoot: root, Port: port, Logger: logger, InMemory: true})
		if err != nil {
			return fmt.Errorf("start Azurite on port %d: %w", port, err)
		}
		cleanups = append(cleanups, func() { _ = az.Stop() })
		settings["TableStorage__connectionString"] = az.ConnectionString()
		logger.Info("Azurite table service", "endpoint", az.TableEndpoint())
		// The handler creates its tables in the background after it answers
		// GET /; a request provisioned right after the banner would race it.
		store, err := tablestore.NewFromConnectionString(az.ConnectionString(), tablestore.Options{TablePrefix: settings["TABLE_PREFIX"]})
		if err != nil {
			return fmt.Errorf("table store: %w", err)
		}
		if err := store.EnsureTables(ctx); err != nil {
			return fmt.Errorf("create tables in Azurite: %w", err)
		}
	}

	// The sandbox stands in for Microsoft when the settings point at loopback.
	var sb *entrasim.Sandbox
	if isLoopbackURL(settings["AUTHORITY_HOST"]) {
		sb, err = startSandbox(ctx, root, outbox, settings, logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { _ = sb.Close() })
	} else {
		logger.Info("using the real Microsoft identity platform and Graph", "authority", settings["AUTHORITY_HOST"])
	}
	// Every setting is in place now (the sandbox CA included): check them
	// here, with the handler's own rules, rather than watch it exit.
	if _, err := config.Load(lookupIn(settings)); err != nil {
		return fmt.Errorf("settings (%s): %w", settingsPath, err)
	}

	env := os.Environ()
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	maxDelivery := bicepMaxDeliveryCounts(root, logger)
	host, err := funchost.New(funchost.Config{
		FunctionsDir: filepath.Join(root, "functions"),
		HostJSONPath: filepath.Join(root, "host.json"),
		Handler: &funchost.HandlerProcess{
			Path: filepath.Join(root, "bin", "handler"), Dir: root, Env: env,
			Stdout: o.HandlerOut, Stderr: o.HandlerOut,
		},
		ListenAddr:            o.ListenAddr,
		Settings:              settings,
		QueueMaxDeliveryCount: maxDelivery,
		// As infra/main.bicep's serviceBusTopics: lifecycle events for CRM.
		Topics: map[string][]string{queue.TenantEvents: {crmSubscription}},
		Logger: logger,
		// POST /admin/functions/{name} invokes directly on the real host,
		// without Service Bus's message size limit.
		MaxMessageSize: 4 << 20,
		// Fail at start, not at the first invocation, when a folder and
		// the handler's table disagree.
		Handled: handledFunctions(),
	})
	if err != nil {
		return fmt.Errorf("local Functions host: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// Close stops the handler process group too (SIGTERM, then SIGKILL).
	cleanups = append(cleanups, func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = host.Close(closeCtx)
	})
	if err := host.Start(startCtx); err != nil {
		if _, statErr := os.Stat(filepath.Join(root, "bin", "handler")); statErr != nil {
			return fmt.Errorf("start local Functions host: %w (run `make build` first)", err)
		}
		return fmt.Errorf("start local Functions host: %w", err)
	}
	info := stack{HostURL: host.URL(), Sandbox: sb, Settings: settings, OutboxDir: outbox, PrevOutbox: prevOutbox, MaxDelivery: maxDelivery}
	if sb != nil {
		info.TokenFile = writeOperatorToken(root, sb, logger)
	}
	if o.Banner != nil {
		printBanner(o.Banner, info)
	}
	if o.Ready != nil {
		o.Ready(info)
	}

	select {
	case <-ctx.Done():
		logger.Info("stopping")
		return nil
	case <-host.Fatal():
		return fmt.Errorf("local Functions host gave up: %w", host.Err())
	}
}

// handledFunctions is the handler's function table as the local host
// cross-checks it against functions/.
func handledFunctions() []funchost.HandledFunction {
	var out []funchost.HandledFunction
	for _, f := range handlers.Functions() {
		out = append(out, funchost.HandledFunction{Name: f.Name, Trigger: string(f.Trigger), Pattern: f.Pattern, Methods: f.Methods, Queue: f.Queue})
	}
	return out
}

func lookupIn(settings map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := settings[k]; return v, ok }
}

// rotateOutbox moves a non-empty outbox to <outbox>.prev-<UTC timestamp> and
// creates an empty one. It returns the new place of the old mail ("" if none).
func rotateOutbox(outbox string, now time.Time) (string, error) {
	entries, err := os.ReadDir(outbox)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read outbox %s: %w", outbox, err)
	}
	prev := ""
	if len(entries) > 0 {
		prev = outbox + ".prev-" + now.UTC().Format("20060102T150405Z")
		for n := 2; ; n++ { // two runs in one second
			if _, err := os.Stat(prev); errors.Is(err, os.ErrNotExist) {
				break
			}
			prev = outbox + ".prev-" + now.UTC().Format("20060102T150405Z") + "-" + strconv.Itoa(n)
		}
		if err := os.Rename(outbox, prev); err != nil {
			return "", fmt.Errorf("move earlier runs' mail aside: %w", err)
		}
	}
	if err := os.MkdirAll(outbox, 0o755); err != nil {
		return "", fmt.Errorf("create outbox: %w", err)
	}
	return prev, nil
}

// startSandbox registers every configured region's app and the mail app. The
// configuration is read without AUTHORITY_CA_FILE: on a fresh clone the CA it
// names is only written once the sandbox runs, and reading it first used to
// fail and leave only the mail app registered.
func startSandbox(ctx context.Context, root, outbox string, settings map[string]string, logger *slog.Logger) (*entrasim.Sandbox, error) {
	withoutCA := func(k string) (string, bool) {
		if k == "AUTHORITY_CA_FILE" {
			return "", false
		}
		v, ok := settings[k]
		return v, ok
	}
	cfg, err := config.Load(withoutCA)
	if err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	var apps []entrasim.App
	seen := map[string]bool{}
	for _, code := range cfg.RegionOrder {
		r := cfg.Regions[code]
		if !seen[r.AppID] {
			apps = append(apps, entrasim.App{AppID: r.AppID, DisplayName: "OneMeeting CVI (" + r.DisplayName + ")", ClientSecret: settings["GRAPH_CLIENT_SECRET"]})
			seen[r.AppID] = true
		}
	}
	if id := settings["MAIL_APP_ID"]; id != "" && !seen[id] {
		apps = append(apps, entrasim.App{AppID: id, DisplayName: "OneMeeting CVI mail", ClientSecret: settings["GRAPH_CLIENT_SECRET"]})
	}
	sb, err := entrasim.Start(ctx, entrasim.Options{
		OperatorTenantID: settings["OPERATOR_TENANT_ID"],
		Apps:             apps,
		// Operator tokens as Entra mints them: v2.0, aud = the API's client ID.
		AdminAPIClientID: settings["ADMIN_API_CLIENT_ID"],
		AdminAPIAudience: settings["ADMIN_API_AUDIENCE"],
		// The console's SPA client signs in here (redirect URI <host>/console/).
		ConsoleClientID: settings["CONSOLE_CLIENT_ID"],
		OutboxDir:       outbox,
		Logger:          logger,
		TLSAddr:         hostPort(settings["AUTHORITY_HOST"]),
		HTTPAddr:        hostPort(settings["CONSENT_AUTHORITY_HOST"]),
	})
	if err != nil {
		return nil, fmt.Errorf("start sandbox identity platform: %w", err)
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.DisplayName + " " + a.AppID
	}
	logger.Info("sandbox apps registered", "apps", strings.Join(names, "; "))
	// The handler talks to the sandbox where it actually listens (tests use port 0).
	settings["AUTHORITY_HOST"] = sb.AuthorityHost()
	settings["CONSENT_AUTHORITY_HOST"] = sb.ConsentHost()
	if isLoopbackURL(settings["GRAPH_BASE_URL"]) {
		settings["GRAPH_BASE_URL"] = sb.GraphBaseURL()
	}
	caPath := settings["AUTHORITY_CA_FILE"]
	if caPath == "" {
		caPath = filepath.Join(".local", "sandbox-ca.pem")
	}
	if !filepath.IsAbs(caPath) {
		caPath = filepath.Join(root, caPath)
	}
	if err := os.MkdirAll(filepath.Dir(caPath), 0o755); err != nil {
		_ = sb.Close()
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(caPath), err)
	}
	if err := sb.WriteCACert(caPath); err != nil {
		_ = sb.Close()
		return nil, fmt.Errorf("write sandbox CA: %w", err)
	}
	settings["AUTHORITY_CA_FILE"] = caPath
	return sb, nil
}

// writeOperatorToken saves a sandbox operator token (Tenants.ReadWrite, 1 h)
// for the README's admin API examples; "" when it could not.
func writeOperatorToken(root string, sb *entrasim.Sandbox, logger *slog.Logger) string {
	token, err := sb.MintOperatorToken(entrasim.OperatorClaims{Name: "Local Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		logger.Warn("could not mint a sandbox operator token", "err", err)
		return ""
	}
	path := filepath.Join(root, ".local", "operator-token")
	if err := os.WriteFile(path, []byte(token), 0o600); err != nil {
		logger.Warn("could not save the sandbox operator token", "err", err)
		return ""
	}
	return path
}

// crmSubscription is the topic subscription CRM reads (infra/main.bicep).
const crmSubscription = "crm"

func printBanner(w io.Writer, s stack) {
	var b strings.Builder
	rel := func(p string) string {
		if r, err := filepath.Rel(filepath.Dir(filepath.Dir(s.OutboxDir)), p); err == nil {
			return r
		}
		return p
	}
	fmt.Fprintf(&b, "\nOneMeeting CVI is running locally (offline).\n\n")
	fmt.Fprintf(&b, "  Operator console:     %s/console/  (SANDBOX reader/writer personas; the browser must trust .local/sandbox-ca.pem, see README)\n", s.HostURL)
	fmt.Fprintf(&b, "  Health:               %s/api/healthz\n", s.HostURL)
	fmt.Fprintf(&b, "  Local Functions host: %s  (queues: %s/admin/queues)\n", s.HostURL, s.HostURL)
	if s.Sandbox != nil {
		fmt.Fprintf(&b, "  SANDBOX identity platform + Graph (simulated Microsoft, no real credentials): %s\n", s.Sandbox.ControlURL())
	}
	fmt.Fprintf(&b, "  Lifecycle events for CRM (topic %s, subscription %s): %s/admin/topics/%s/subscriptions/%s/messages\n",
		queue.TenantEvents, crmSubscription, s.HostURL, queue.TenantEvents, crmSubscription)
	fmt.Fprintf(&b, "  Outbox (sent email as .eml + .html): %s\n", rel(s.OutboxDir))
	if s.PrevOutbox != "" {
		fmt.Fprintf(&b, "    (mail from earlier runs was moved to %s: its links point at data that is gone)\n", rel(s.PrevOutbox))
	}
	fmt.Fprintf(&b, "\nProvision the contract's example tenant (admin IP 127.0.0.1), then open the consent link from the outbox:\n")
	fmt.Fprintf(&b, "  make provision-example\n")
	fmt.Fprintf(&b, "  ls %s\n\n", rel(s.OutboxDir))
	if s.TokenFile != "" {
		fmt.Fprintf(&b, "Admin API with a sandbox operator token (valid 1 h, saved in %s):\n", rel(s.TokenFile))
		fmt.Fprintf(&b, "  curl -s %s/api/admin/tenants -H \"Authorization: Bearer $(cat %s)\"\n", s.HostURL, rel(s.TokenFile))
		fmt.Fprintf(&b, "  (API description: %s/api/admin/openapi.json)\n\n", s.HostURL)
	}
	fmt.Fprintf(&b, "Press Ctrl-C to stop everything.\n")
	fmt.Fprintln(w, b.String())
}

func tablePort(conn string) int {
	for _, part := range strings.Split(conn, ";") {
		if v, ok := strings.CutPrefix(part, "TableEndpoint="); ok {
			if u, err := url.Parse(v); err == nil {
				if p, err := strconv.Atoi(u.Port()); err == nil {
					return p
				}
			}
		}
	}
	return 10002
}

func isLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	ip := net.ParseIP(u.Hostname())
	return u.Hostname() == "localhost" || (ip != nil && ip.IsLoopback())
}

func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "127.0.0.1:0"
	}
	return u.Host
}
