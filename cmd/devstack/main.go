// Command devstack is `make run`: the whole service on one machine, offline.
// It starts Azurite (tables), the sandbox identity platform + Graph (when the
// settings point at it), the handler binary as the Functions host would, and
// the local Functions host on 127.0.0.1:7071. Ctrl-C stops everything.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
	"github.com/onemeeting/cvi-onboarding/internal/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/devhost"
	"github.com/onemeeting/cvi-onboarding/internal/sandbox"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, logger); err != nil {
		logger.Error("devstack stopped with an error", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger) error {
	if inAzure, marker := azureenv.Detect(os.LookupEnv); inAzure {
		return fmt.Errorf("refusing to start: this is a local development stack and %s says this is Azure", marker)
	}
	root, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	settingsPath := filepath.Join(root, "local.settings.json")
	if _, err := os.Stat(settingsPath); err != nil {
		settingsPath = filepath.Join(root, "local.settings.sample.json")
	}
	settings, err := devhost.LoadLocalSettings(settingsPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", settingsPath, err)
	}
	for k := range settings {
		if v, ok := os.LookupEnv(k); ok {
			settings[k] = v // the environment wins, as in Azure
		}
	}
	logger.Info("settings", "file", settingsPath)
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// Tables: Azurite on the port the connection string names.
	if conn := settings["TableStorage__connectionString"]; conn != "" {
		port := tablePort(conn)
		az, err := azurite.Start(ctx, azurite.Options{RepoRoot: root, Port: port, Logger: logger})
		if err != nil {
			return fmt.Errorf("start Azurite on port %d: %w", port, err)
		}
		cleanups = append(cleanups, func() { _ = az.Stop() })
		settings["TableStorage__connectionString"] = az.ConnectionString()
		logger.Info("Azurite table service", "endpoint", az.TableEndpoint())
	}

	// The sandbox stands in for Microsoft when the settings point at loopback.
	var sb *sandbox.Sandbox
	if isLoopbackURL(settings["AUTHORITY_HOST"]) {
		sb, err = startSandbox(ctx, root, settings, logger)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { _ = sb.Close() })
	} else {
		logger.Info("using the real Microsoft identity platform and Graph", "authority", settings["AUTHORITY_HOST"])
	}

	// The handler, started the way the Functions host starts it.
	handlerPort, err := freePort()
	if err != nil {
		return err
	}
	env := os.Environ()
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	env = append(env, "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(handlerPort))
	handler := exec.Command(filepath.Join(root, "bin", "handler"))
	handler.Env, handler.Dir = env, root
	handler.Stdout, handler.Stderr = os.Stdout, os.Stderr
	handler.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := handler.Start(); err != nil {
		return fmt.Errorf("start handler (run `make build` first): %w", err)
	}
	handlerExited := make(chan error, 1)
	go func() { handlerExited <- handler.Wait() }()
	cleanups = append(cleanups, func() { stopProcessGroup(handler.Process.Pid, handlerExited) })

	host, err := devhost.New(devhost.Config{
		FunctionsDir: filepath.Join(root, "functions"),
		HostJSONPath: filepath.Join(root, "host.json"),
		HandlerURL:   "http://127.0.0.1:" + strconv.Itoa(handlerPort),
		ListenAddr:   "127.0.0.1:7071",
		Settings:     settings,
		Logger:       logger,
		// POST /admin/functions/{name} invokes directly on the real host,
		// without Service Bus's message size limit.
		MaxMessageSize: 4 << 20,
	})
	if err != nil {
		return fmt.Errorf("local Functions host: %w", err)
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := host.Start(startCtx); err != nil {
		select {
		case werr := <-handlerExited:
			return fmt.Errorf("the handler exited during start-up (%v); its log above says why", werr)
		default:
		}
		return fmt.Errorf("start local Functions host: %w", err)
	}
	cleanups = append(cleanups, func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = host.Close(closeCtx)
	})
	printBanner(host.URL(), root, sb)

	select {
	case <-ctx.Done():
		logger.Info("stopping")
		return nil
	case err := <-handlerExited:
		return fmt.Errorf("handler exited: %w", err)
	}
}

func startSandbox(ctx context.Context, root string, settings map[string]string, logger *slog.Logger) (*sandbox.Sandbox, error) {
	var apps []sandbox.App
	seen := map[string]bool{}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := settings[k]; return v, ok })
	if err != nil && !strings.Contains(err.Error(), "AUTHORITY_CA_FILE") {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if cfg != nil {
		for _, code := range cfg.RegionOrder {
			r := cfg.Regions[code]
			if !seen[r.AppID] {
				apps = append(apps, sandbox.App{AppID: r.AppID, DisplayName: "OneMeeting CVI (" + r.DisplayName + ")", ClientSecret: settings["GRAPH_CLIENT_SECRET"]})
				seen[r.AppID] = true
			}
		}
	}
	if id := settings["MAIL_APP_ID"]; id != "" && !seen[id] {
		apps = append(apps, sandbox.App{AppID: id, DisplayName: "OneMeeting CVI mail", ClientSecret: settings["GRAPH_CLIENT_SECRET"]})
	}
	outbox := filepath.Join(root, ".local", "outbox")
	if err := os.MkdirAll(outbox, 0o755); err != nil {
		return nil, fmt.Errorf("create outbox: %w", err)
	}
	sb, err := sandbox.Start(ctx, sandbox.Options{
		OperatorTenantID: settings["OPERATOR_TENANT_ID"],
		Apps:             apps,
		// Operator tokens as Entra mints them: v2.0, aud = the API's client ID.
		AdminAPIClientID: settings["ADMIN_API_CLIENT_ID"],
		AdminAPIAudience: settings["ADMIN_API_AUDIENCE"],
		OutboxDir:        outbox,
		Logger:           logger,
		TLSAddr:          hostPort(settings["AUTHORITY_HOST"]),
		HTTPAddr:         hostPort(settings["CONSENT_AUTHORITY_HOST"]),
	})
	if err != nil {
		return nil, fmt.Errorf("start sandbox identity platform: %w", err)
	}
	caPath := settings["AUTHORITY_CA_FILE"]
	if caPath == "" {
		caPath = ".local/sandbox-ca.pem"
		settings["AUTHORITY_CA_FILE"] = caPath
	}
	if !filepath.IsAbs(caPath) {
		caPath = filepath.Join(root, caPath)
	}
	if err := os.MkdirAll(filepath.Dir(caPath), 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", filepath.Dir(caPath), err)
	}
	if err := sb.WriteCACert(caPath); err != nil {
		_ = sb.Close()
		return nil, fmt.Errorf("write sandbox CA: %w", err)
	}
	settings["AUTHORITY_CA_FILE"] = caPath
	return sb, nil
}

func printBanner(hostURL, root string, sb *sandbox.Sandbox) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nOneMeeting CVI is running locally (offline).\n\n")
	fmt.Fprintf(&b, "  Health:              %s/api/healthz\n", hostURL)
	fmt.Fprintf(&b, "  Local Functions host: %s  (queues: %s/admin/queues)\n", hostURL, hostURL)
	if sb != nil {
		fmt.Fprintf(&b, "  SANDBOX identity platform + Graph (simulated Microsoft, no real credentials): %ssandbox/\n", sb.ConsentHost())
	}
	fmt.Fprintf(&b, "  Outbox (sent email as .eml + .html): %s\n\n", filepath.Join(root, ".local", "outbox"))
	fmt.Fprintf(&b, "Provision the example tenant (admin IP 127.0.0.1), then open the consent link from the outbox:\n")
	fmt.Fprintf(&b, "  jq -c '.adminIps=[\"127.0.0.1\"]' ../shared/contracts/provisioning.v1.example.json | jq -Rs '{input: .}' | \\\n")
	fmt.Fprintf(&b, "    curl -s -X POST %s/admin/functions/ProvisionTenant -H 'Content-Type: application/json' -d @-\n\n", hostURL)
	if sb != nil {
		fmt.Fprintf(&b, "Admin API with a sandbox operator token:\n")
		fmt.Fprintf(&b, "  TOKEN=$(curl -s -X POST %ssandbox/operator-token -H 'Content-Type: application/json' -d '{\"roles\":[\"Tenants.ReadWrite\"],\"name\":\"Local Operator\"}' | jq -r .access_token)\n", sb.ConsentHost())
		fmt.Fprintf(&b, "  curl -s %s/api/admin/tenants -H \"Authorization: Bearer $TOKEN\"\n", hostURL)
		fmt.Fprintf(&b, "  (API description: %s/api/admin/openapi.json)\n\n", hostURL)
	}
	fmt.Fprintf(&b, "Press Ctrl-C to stop everything.\n")
	fmt.Println(b.String())
}

// stopProcessGroup sends SIGTERM to the handler's process group and waits,
// escalating to SIGKILL, so no child outlives the stack.
func stopProcessGroup(pid int, exited <-chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
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

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
