package config

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// validEnv is a complete local configuration.
func validEnv() map[string]string {
	return map[string]string{
		"PUBLIC_BASE_URL":                "http://localhost:7071",
		"REGIONS":                        `[{"code":"eu","displayName":"Europe","appId":"7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10","tenantKeyDomain":"eu.teams.videosrv.net","instructionBaseUrl":"http://localhost:7071/api/join"}]`,
		"OPERATOR_TENANT_ID":             "11111111-2222-3333-4444-555555555555",
		"MAIL_SENDER":                    "onboarding@videosrv.net",
		"MAIL_APP_ID":                    "7d3e6a52-1f0b-4c8e-9a3d-5b2f4e6c8a10",
		"OPERATIONS_EMAIL":               "ops@videosrv.net, noc@videosrv.net",
		"SUPPORT_EMAIL":                  "support@videosrv.net",
		"TableStorage__connectionString": "UseDevelopmentStorage=true",
		"LOCAL_QUEUE_URL":                "http://127.0.0.1:7071",
		"GRAPH_CREDENTIAL":               "secret",
		"GRAPH_CLIENT_SECRET":            "local-only",
		"ADMIN_API_AUDIENCE":             "api://onemeeting-cvi-admin",
		"ADMIN_API_CLIENT_ID":            "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c",
	}
}

func lookupFrom(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestLoadValidUsesDefaults(t *testing.T) {
	c, err := Load(lookupFrom(validEnv()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Port != 8080 || c.ConsentLinkTTL != 14*24*time.Hour || c.ConsentReminderDelay != 72*time.Hour ||
		c.RevalidationBatchSize != 50 || c.RevalidationConcurrency != 16 || c.RevalidationSchedule != "0 0 */6 * * *" {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.AuthorityHost != "https://login.microsoftonline.com/" || c.ConsentAuthorityURL != c.AuthorityHost {
		t.Errorf("authority = %q consent = %q", c.AuthorityHost, c.ConsentAuthorityURL)
	}
	if got := strings.Join(c.OperationsEmails, ","); got != "ops@videosrv.net,noc@videosrv.net" {
		t.Errorf("ops emails = %q", got)
	}
	r, ok := c.Regions["eu"]
	if !ok || r.KeyDigits() != 9 || r.InstructionURI("482913057") != "http://localhost:7071/api/join/482913057?conf={ConfId}" {
		t.Errorf("region = %+v", r)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	env := validEnv()
	delete(env, "PUBLIC_BASE_URL")
	delete(env, "MAIL_SENDER")
	env["REVALIDATION_CONCURRENCY"] = "0"
	env["CONSENT_LINK_TTL"] = "soon"
	_, err := Load(lookupFrom(env))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("want Problems, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"PUBLIC_BASE_URL is required", "MAIL_SENDER is required", "REVALIDATION_CONCURRENCY must be", "CONSENT_LINK_TTL must be"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if len(p) != 4 {
		t.Errorf("want 4 problems, got %d: %v", len(p), p)
	}
}

func TestLoadRejectsBadValues(t *testing.T) {
	cases := map[string]struct {
		key, value, want string
	}{
		"region json":     {"REGIONS", `{"code":"eu"}`, "REGIONS must be a JSON array"},
		"region field":    {"REGIONS", `[{"code":"EU","displayName":"x","appId":"nope","tenantKeyDomain":"x","instructionBaseUrl":"ftp://x"}]`, "REGIONS[0].code"},
		"region unknown":  {"REGIONS", `[{"code":"eu","colour":"blue"}]`, "unknown field"},
		"no tables":       {"TableStorage__connectionString", "", "TableStorage__tableServiceUri set it"},
		"both queues":     {"ServiceBusConnection__fullyQualifiedNamespace", "ns.servicebus.windows.net", "set only one"},
		"credential mode": {"GRAPH_CREDENTIAL", "password", "GRAPH_CREDENTIAL must be"},
		"authority http":  {"AUTHORITY_HOST", "http://127.0.0.1:1234", "AUTHORITY_HOST must be an absolute https URL"},
		"schedule":        {"REVALIDATION_SCHEDULE", "0 */6 * * *", "six-field"},
		"operator guid":   {"OPERATOR_TENANT_ID", "00000000-0000-0000-0000-000000000000", "OPERATOR_TENANT_ID must be a GUID"},
		"admin API client ID is a GUID, not the App ID URI": {"ADMIN_API_CLIENT_ID", "api://onemeeting-cvi-admin", "ADMIN_API_CLIENT_ID must be a GUID"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := validEnv()
			env[tc.key] = tc.value
			_, err := Load(lookupFrom(env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to mention %q", err, tc.want)
			}
		})
	}
}

// The admin API validates v2 tokens, whose aud is always the API's client
// ID: without it no operator token could ever be accepted, so refuse to start.
func TestAdminAPIClientIDRequired(t *testing.T) {
	for _, value := range []string{"", "  "} {
		env := validEnv()
		env["ADMIN_API_CLIENT_ID"] = value
		_, err := Load(lookupFrom(env))
		if err == nil || !strings.Contains(err.Error(), "ADMIN_API_CLIENT_ID is required") {
			t.Fatalf("ADMIN_API_CLIENT_ID=%q: err = %v, want it to say ADMIN_API_CLIENT_ID is required", value, err)
		}
	}
	env := validEnv()
	delete(env, "ADMIN_API_CLIENT_ID")
	if _, err := Load(lookupFrom(env)); err == nil || !strings.Contains(err.Error(), "ADMIN_API_CLIENT_ID is required") {
		t.Fatalf("unset: err = %v", err)
	}
	c, err := Load(lookupFrom(validEnv()))
	if err != nil || c.AdminAPIClientID != "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c" || c.AdminAPIAudience != "api://onemeeting-cvi-admin" {
		t.Fatalf("config = %+v, err = %v", c, err)
	}
}

// Federation presents a managed-identity token as the apps' client
// assertion, and Entra trusts only user-assigned identities that way: without
// MANAGED_IDENTITY_CLIENT_ID the handler must refuse to start, saying why.
func TestFederationNeedsUserAssignedIdentity(t *testing.T) {
	for _, mode := range []string{"managed-identity-federation", ""} { // "" = the default mode
		env := validEnv()
		env["GRAPH_CREDENTIAL"] = mode
		delete(env, "GRAPH_CLIENT_SECRET")
		_, err := Load(lookupFrom(env))
		var p Problems
		if !errors.As(err, &p) || len(p) != 1 {
			t.Fatalf("GRAPH_CREDENTIAL=%q: err = %v, want exactly one problem", mode, err)
		}
		for _, want := range []string{"MANAGED_IDENTITY_CLIENT_ID is required when GRAPH_CREDENTIAL=managed-identity-federation", "only a user-assigned managed identity"} {
			if !strings.Contains(p[0], want) {
				t.Errorf("GRAPH_CREDENTIAL=%q: problem %q lacks %q", mode, p[0], want)
			}
		}
	}
	env := validEnv()
	env["GRAPH_CREDENTIAL"] = "managed-identity-federation"
	env["MANAGED_IDENTITY_CLIENT_ID"] = "not-a-guid"
	_, err := Load(lookupFrom(env))
	var p Problems
	if !errors.As(err, &p) || len(p) != 1 || !strings.Contains(p[0], "MANAGED_IDENTITY_CLIENT_ID must be a GUID") {
		t.Fatalf("bad GUID: err = %v, want one GUID problem", err)
	}
	env["MANAGED_IDENTITY_CLIENT_ID"] = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	c, err := Load(lookupFrom(env))
	if err != nil || c.GraphCredential != "managed-identity-federation" || c.ManagedIdentityClientID != "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" {
		t.Fatalf("config = %+v, err = %v", c, err)
	}
	// Secret and certificate modes do not need it (local runs, the fallback).
	for mode, extra := range map[string][2]string{"secret": {"GRAPH_CLIENT_SECRET", "local-only"}, "certificate": {"GRAPH_CLIENT_CERTIFICATE", "MIIB"}} {
		env := validEnv()
		env["GRAPH_CREDENTIAL"] = mode
		env[extra[0]] = extra[1]
		if _, err := Load(lookupFrom(env)); err != nil {
			t.Errorf("GRAPH_CREDENTIAL=%s without MANAGED_IDENTITY_CLIENT_ID: %v", mode, err)
		}
	}
}

func TestAuthorityCAFileRefusedInAzure(t *testing.T) {
	env := validEnv()
	env["AUTHORITY_CA_FILE"] = "/dev/null"
	env["WEBSITE_SITE_NAME"] = "prod-app"
	_, err := Load(lookupFrom(env))
	if err == nil || !strings.Contains(err.Error(), "must not be set in Azure") {
		t.Fatalf("err = %v", err)
	}
}

func TestLegacyPortName(t *testing.T) {
	env := validEnv()
	env["FUNCTIONS_HTTPWORKER_PORT"] = "9123"
	c, err := Load(lookupFrom(env))
	if err != nil || c.Port != 9123 {
		t.Fatalf("port = %v, err = %v", c, err)
	}
}

func TestEverySettingHasDoc(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Settings {
		if s.Doc == "" || seen[s.Name] {
			t.Errorf("setting %q: missing doc or declared twice", s.Name)
		}
		seen[s.Name] = true
	}
}

// The README's configuration table and the local sample name every setting.
func TestEverySettingDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile("../../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var local struct{ Values map[string]string }
	if err := json.Unmarshal(sample, &local); err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings {
		if !strings.Contains(string(readme), "`"+s.Name+"`") {
			t.Errorf("README.md configuration table lacks %s", s.Name)
		}
		if _, ok := local.Values[s.Name]; !ok && s.Name != "FUNCTIONS_CUSTOMHANDLER_PORT" {
			t.Errorf("local.settings.sample.json lacks %s", s.Name)
		}
	}
	// The sample itself must load.
	_, err = Load(func(k string) (string, bool) { v, ok := local.Values[k]; return v, ok && v != "" })
	if err != nil && !strings.Contains(err.Error(), "AUTHORITY_CA_FILE") {
		t.Errorf("sample settings do not load: %v", err)
	}
}
