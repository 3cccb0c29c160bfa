package graph

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const (
	testAppID  = "11111111-2222-3333-4444-555555555555"
	testSecret = "s3cr3t-value"
	mailAppID  = "66666666-7777-8888-9999-000000000000"
	mailSecret = "mail-s3cr3t"
)

// startSandbox starts the local identity platform + Graph simulator for one test.
func startSandbox(t testing.TB) *entrasim.Sandbox {
	t.Helper()
	s, err := entrasim.Start(context.Background(), entrasim.Options{
		OperatorTenantID: testkit.GUID(t),
		Apps: []entrasim.App{
			{AppID: testAppID, DisplayName: "OneMeeting CVI (test)", ClientSecret: testSecret},
			{AppID: mailAppID, DisplayName: "OneMeeting mail (test)", ClientSecret: mailSecret},
		},
		LookupEnv:      func(string) (string, bool) { return "", false },
		Seed:           7,
		SigningKeyBits: 1024, // tests mint many tokens
	})
	if err != nil {
		t.Fatalf("entrasim.Start: %v", err)
	}
	t.Cleanup(func() {
		// Concurrent requests can leave dialed-but-never-used connections,
		// which http.Server.Shutdown waits 5 s for; close them client-side.
		s.HTTPClient().CloseIdleConnections()
		if err := s.Close(); err != nil {
			t.Errorf("sandbox Close: %v", err)
		}
	})
	return s
}

// newCreds makes secret-mode credentials against the sandbox; retries are
// off unless a test turns them on, so fault tests stay fast.
func newCreds(t testing.TB, s *entrasim.Sandbox, mutate ...func(*CredentialOptions)) *Credentials {
	t.Helper()
	o := CredentialOptions{
		Mode:          config.CredentialSecret,
		AuthorityHost: s.AuthorityHost(),
		ClientSecret:  testSecret,
		HTTPClient:    s.HTTPClient(),
		MaxRetries:    -1,
	}
	for _, m := range mutate {
		m(&o)
	}
	c, err := NewCredentials(o)
	if err != nil {
		t.Fatalf("NewCredentials: %v", err)
	}
	return c
}

func newChecker(t testing.TB, s *entrasim.Sandbox, creds *Credentials, logger *slog.Logger) *Checker {
	t.Helper()
	c, err := NewChecker(creds, s.GraphBaseURL(), entrasim.RequiredRoles(), logger)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	return c
}

// consented returns a new tenant where our app was granted admin consent.
func consented(t testing.TB, s *entrasim.Sandbox, sc ...entrasim.Scenario) string {
	t.Helper()
	tenantID := testkit.GUID(t)
	if len(sc) > 0 {
		s.SetTenant(tenantID, sc[0])
	}
	s.Consent(tenantID, testAppID)
	return tenantID
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// requests is the sandbox's (token, graph) request count for one tenant.
func requests(s *entrasim.Sandbox, tenantID string) (token, graph int64) {
	st := s.Stats()
	return st.TokenRequestsByTenant[tenantID], st.GraphRequestsByTenant[tenantID]
}

func debugLogger(b *testkit.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
