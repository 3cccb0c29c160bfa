package consistency

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/config"
)

// These tests prove every check fails on a broken copy of the repository. The
// copy is the real infra/ and host.json plus the full set of functions,
// handler routes and a local sample as the design describes them, so the
// baseline also shows the Bicep serves the complete app.

var fixtureFunctions = map[string]string{
	"AdminConsent":      `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/adminconsent"},{"type":"http","direction":"out","name":"res"}]}`,
	"ConsentCallback":   `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/adminconsent/callback"},{"type":"http","direction":"out","name":"res"}]}`,
	"AdminApi":          `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post","delete"],"route":"api/admin/{*path}"},{"type":"http","direction":"out","name":"res"}]}`,
	"JoinInstructions":  `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/join/{code}"},{"type":"http","direction":"out","name":"res"}]}`,
	"Health":            `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/healthz"},{"type":"http","direction":"out","name":"res"}]}`,
	"Assets":            `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/assets/{*path}"},{"type":"http","direction":"out","name":"res"}]}`,
	"ProvisionTenant":   `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"provisioning","connection":"ServiceBusConnection"}]}`,
	"SendEmail":         `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"email","connection":"ServiceBusConnection"}]}`,
	"RevalidateBatch":   `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"revalidation","connection":"ServiceBusConnection"}]}`,
	"RevalidateConsent": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"%REVALIDATION_SCHEDULE%","runOnStartup":false,"useMonitor":true}]}`,
}

const fixtureHandlers = `package handlers

const adminPrefix = "/api/admin/"

func (s *Server) routes() {
	s.mux.HandleFunc("GET /{$}", s.ready)
	s.mux.Handle("GET /api/healthz", s.handleHealth())
	s.mux.Handle("GET /api/adminconsent", s.handleAdminConsent())
	s.mux.Handle("GET /api/adminconsent/callback", s.handleConsentCallback())
	s.mux.Handle("GET "+adminPrefix+"tenants", s.handleListTenants())
	s.mux.Handle("POST "+adminPrefix+"tenants", s.handleCreateTenant())
	s.mux.Handle("DELETE /api/admin/tenants/{id}", s.handleOffboard())
	s.mux.Handle("GET /api/join/{code}", s.handleJoin())
	s.mux.Handle("GET /api/assets/{path...}", s.handleAssets())
	s.mux.Handle("POST /ProvisionTenant", s.handleProvision())
	s.mux.Handle("POST /SendEmail", s.handleSendEmail())
	s.mux.Handle("POST /RevalidateBatch", s.handleRevalidateBatch())
	s.mux.Handle("POST /RevalidateConsent", s.handleRevalidateConsent())
}
`

func fixtureSample(t *testing.T) map[string]string {
	t.Helper()
	values := map[string]string{
		"FUNCTIONS_WORKER_RUNTIME":       "custom",
		"AzureWebJobsStorage":            "UseDevelopmentStorage=true",
		"TableStorage__connectionString": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azuriteKey + ";TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
		"LOCAL_QUEUE_URL":                "http://127.0.0.1:7072",
		"REVALIDATION_SCHEDULE":          "0 0 */6 * * *",
		"GRAPH_CREDENTIAL":               "secret",
		"GRAPH_CLIENT_SECRET":            "sandbox-local-only",
	}
	for _, s := range config.Settings {
		if s.Required {
			values[s.Name] = "local-" + strings.ToLower(s.Name)
		}
	}
	return values
}

// writeFixture builds the repository copy in a temp dir and returns its root.
func writeFixture(t *testing.T, sample map[string]string) string {
	t.Helper()
	src := findRepoRoot(t)
	dst := t.TempDir()
	write := func(rel string, data []byte) {
		t.Helper()
		p := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyFile := func(rel string) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("fixture needs %s: %v", rel, err)
		}
		write(rel, b)
	}
	write("go.mod", []byte("module fixture\n"))
	copyFile("host.json")
	copyFile("azure.yaml")
	err := filepath.WalkDir(filepath.Join(src, "infra"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		copyFile(filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatalf("copy infra/: %v", err)
	}
	for name, body := range fixtureFunctions {
		write("functions/"+name+"/function.json", []byte(body))
	}
	write("handlers/server.go", []byte(fixtureHandlers))
	if sample != nil {
		b, err := json.MarshalIndent(map[string]any{"IsEncrypted": false, "Values": sample}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		write("local.settings.sample.json", b)
	}
	return dst
}

func edit(t *testing.T, root, rel string, change func(string) string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	after := change(string(b))
	if after == string(b) {
		t.Fatalf("edit of %s changed nothing: the fixture no longer has what the test breaks", rel)
	}
	if err := os.WriteFile(p, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
}

func allProblems(r repo, settings []config.Setting) []string {
	var p []string
	p = append(p, r.Problems...)
	p = append(p, checkBicepSettings(r, settings)...)
	p = append(p, checkSampleSettings(r, settings)...)
	p = append(p, checkQueues(r)...)
	p = append(p, checkHost(r)...)
	p = append(p, checkRoutes(r)...)
	p = append(p, checkSecrets(r)...)
	p = append(p, checkAzureYAML(r)...)
	return p
}

// wantProblem fails unless some problem contains every fragment.
func wantProblem(t *testing.T, problems []string, fragments ...string) {
	t.Helper()
	for _, p := range problems {
		ok := true
		for _, f := range fragments {
			if !strings.Contains(p, f) {
				ok = false
				break
			}
		}
		if ok {
			return
		}
	}
	t.Errorf("no problem mentions %q; got:\n%s", fragments, strings.Join(problems, "\n"))
}

func TestFixtureBaselinePasses(t *testing.T) {
	t.Parallel()
	r := loadRepo(writeFixture(t, fixtureSample(t)))
	if p := allProblems(r, configSettings()); len(p) != 0 {
		t.Fatalf("the intact fixture must pass every check, got:\n%s", strings.Join(p, "\n"))
	}
}

func TestQueueRemovedFromBicepFails(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "infra/main.bicep", func(s string) string {
		at := strings.Index(s, "name: 'email'")
		if at < 0 {
			return s
		}
		start := strings.LastIndex(s[:at], "{")
		end := at + strings.Index(s[at:], "}") + 1
		return s[:start] + s[end:]
	})
	wantProblem(t, checkQueues(loadRepo(root)), "functions/SendEmail/function.json", `queue "email" is not declared in infra/main.bicep`)
}

func TestRequiredSettingAddedToConfigFails(t *testing.T) {
	t.Parallel()
	r := loadRepo(writeFixture(t, fixtureSample(t)))
	settings := append(configSettings(), config.Setting{Name: "NEW_REQUIRED_SETTING", Required: true, Doc: "test"})
	wantProblem(t, checkBicepSettings(r, settings), "NEW_REQUIRED_SETTING is Required", "missing from var appSettings")
	wantProblem(t, checkSampleSettings(r, settings), "Required setting NEW_REQUIRED_SETTING is missing")
}

func TestRequiredSettingRemovedFromBicepFails(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "infra/main.bicep", func(s string) string {
		return strings.Replace(s, "  MAIL_SENDER: mailSender\n", "", 1)
	})
	wantProblem(t, checkBicepSettings(loadRepo(root), configSettings()), "MAIL_SENDER is Required")
}

func TestScheduleReferenceNeedsSetting(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "infra/main.bicep", func(s string) string {
		return strings.Replace(s, "  REVALIDATION_SCHEDULE: effectiveSchedule\n", "", 1)
	})
	wantProblem(t, checkBicepSettings(loadRepo(root), configSettings()), "%REVALIDATION_SCHEDULE%", "functions/RevalidateConsent/function.json")
}

func TestBicepSettingsRejectsLocalAndFlexOnlySettings(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "infra/main.bicep", func(s string) string {
		return strings.Replace(s, "  LOG_LEVEL: 'info'\n", "  LOG_LEVEL: 'info'\n  FUNCTIONS_WORKER_RUNTIME: 'custom'\n  GRAPH_CLIENT_SECRET: secretParam\n  ServiceBusConnection: sbConn\n  PUBLIC_BASE_ULR: 'typo'\n", 1)
	})
	problems := checkBicepSettings(loadRepo(root), configSettings())
	wantProblem(t, problems, "remove app setting FUNCTIONS_WORKER_RUNTIME", "Flex Consumption")
	wantProblem(t, problems, "remove app setting GRAPH_CLIENT_SECRET", "local runs only")
	wantProblem(t, problems, "app setting ServiceBusConnection would be a connection string")
	wantProblem(t, problems, "app setting PUBLIC_BASE_ULR is neither in internal/config")
}

func TestSampleTypoAndMissingSampleFail(t *testing.T) {
	t.Parallel()
	values := fixtureSample(t)
	values["PUBLIC_BASE_ULR"] = values["PUBLIC_BASE_URL"]
	delete(values, "PUBLIC_BASE_URL")
	problems := checkSampleSettings(loadRepo(writeFixture(t, values)), configSettings())
	wantProblem(t, problems, `"Values".PUBLIC_BASE_ULR is neither in internal/config`)
	wantProblem(t, problems, "Required setting PUBLIC_BASE_URL is missing")

	missing := checkSampleSettings(loadRepo(writeFixture(t, nil)), configSettings())
	wantProblem(t, missing, "local.settings.sample.json is missing at the repository root", "PUBLIC_BASE_URL")
}

func TestHostJSONAndForwardingBreakersFail(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "host.json", func(s string) string {
		s = strings.Replace(s, `"defaultExecutablePath": "handler"`, `"defaultExecutablePath": "handler.exe"`, 1)
		return strings.Replace(s, `"enableForwardingHttpRequest": true`, `"enableForwardingHttpRequest": false`, 1)
	})
	edit(t, root, "functions/AdminConsent/function.json", func(s string) string {
		return strings.Replace(s, `{"type":"http","direction":"out","name":"res"}`, `{"type":"http","direction":"out","name":"res"},{"type":"serviceBus","direction":"out","name":"queued","queueName":"email","connection":"ServiceBusConnection"}`, 1)
	})
	problems := checkHost(loadRepo(root))
	wantProblem(t, problems, "defaultExecutablePath is \"handler.exe\"")
	wantProblem(t, problems, "enableForwardingHttpRequest must be true")
	wantProblem(t, problems, "functions/AdminConsent/function.json", "silently stops forwarding")
}

func TestRouteMismatchesFail(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "handlers/server.go", func(s string) string {
		s = strings.Replace(s, "\ts.mux.Handle(\"GET /api/join/{code}\", s.handleJoin())\n", "", 1)
		s = strings.Replace(s, "\ts.mux.Handle(\"POST /SendEmail\", s.handleSendEmail())\n", "", 1)
		return strings.Replace(s, "}\n", "\ts.mux.Handle(\"POST /Ghost\", nil)\n\ts.mux.Handle(\"GET /api/nowhere\", nil)\n\ts.mux.Handle(\"PUT /api/admin/tenants/{id}\", nil)\n}\n", 1)
	})
	problems := checkRoutes(loadRepo(root))
	wantProblem(t, problems, "functions/JoinInstructions/function.json", "/api/join/{code}", "has no handler")
	wantProblem(t, problems, "functions/SendEmail/function.json", "POST /SendEmail")
	wantProblem(t, problems, `"POST /Ghost" has no function folder`)
	wantProblem(t, problems, `"GET /api/nowhere" is reached by no HTTP function`)
	wantProblem(t, problems, `"PUT /api/admin/tenants/{id}" uses PUT`)
}

func TestSecretsFail(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "infra/modules/storage.bicep", func(s string) string {
		return s + "\n// DefaultEndpointsProtocol=https;AccountName=x;AccountKey=" + azuriteKey + "\nvar k = st.listKeys().keys[0].value\n"
	})
	edit(t, root, "infra/modules/monitoring.bicep", func(s string) string {
		return s + "\n// InstrumentationKey=00000000-0000-0000-0000-000000000000\n"
	})
	// A made-up value in the shape of an Entra client secret.
	edit(t, root, "infra/main.parameters.json", func(s string) string {
		return strings.Replace(s, `"${NAME_PREFIX}"`, `"abc8Q~`+strings.Repeat("Z", 34)+`"`, 1)
	})
	problems := checkSecrets(loadRepo(root))
	wantProblem(t, problems, "infra/modules/storage.bicep", "storage account key")
	wantProblem(t, problems, "infra/modules/storage.bicep", "listKeys")
	wantProblem(t, problems, "infra/modules/monitoring.bicep", "instrumentation key")
	wantProblem(t, problems, "infra/main.parameters.json", "Entra client secret")
}

func TestSampleAllowsOnlyTheAzuriteKey(t *testing.T) {
	t.Parallel()
	values := fixtureSample(t)
	if p := checkSecrets(loadRepo(writeFixture(t, values))); len(p) != 0 {
		t.Fatalf("the Azurite connection string must be allowed in the sample, got %v", p)
	}
	values["TableStorage__connectionString"] = "DefaultEndpointsProtocol=https;AccountName=prodaccount;AccountKey=" + azuriteKey
	wantProblem(t, checkSecrets(loadRepo(writeFixture(t, values))), "local.settings.sample.json", "storage account key")

	values = fixtureSample(t)
	values["TableStorage__connectionString"] = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=bm90LXRoZS1henVyaXRlLWtleQ=="
	wantProblem(t, checkSecrets(loadRepo(writeFixture(t, values))), "local.settings.sample.json", "storage account key")
}

func TestAzureYAMLDistMustBeThePackageZip(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	edit(t, root, "azure.yaml", func(s string) string {
		s = strings.Replace(s, "dist: dist/onemeeting-cvi.zip", "dist: dist", 1)
		return strings.Replace(s, "    language: custom\n", "    language: go\n", 1)
	})
	problems := checkAzureYAML(loadRepo(root))
	wantProblem(t, problems, "`dist: dist/onemeeting-cvi.zip`", `got "dist"`)
	wantProblem(t, problems, "`language: custom`", `got "go"`)
}
