package consistency

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/handlers"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
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

// fixtureTable is the handler's function table for fixtureFunctions; the
// admin API's catch-all takes the methods its function lists.
func fixtureTable() []handlers.Function {
	return []handlers.Function{
		{Name: "AdminApi", Trigger: handlers.HTTP, Pattern: "/api/admin/{path...}", Methods: []string{"GET", "POST", "DELETE"}},
		{Name: "AdminConsent", Trigger: handlers.HTTP, Pattern: "/api/adminconsent", Methods: []string{"GET"}},
		{Name: "Assets", Trigger: handlers.HTTP, Pattern: "/api/assets/{path...}", Methods: []string{"GET"}},
		{Name: "ConsentCallback", Trigger: handlers.HTTP, Pattern: "/api/adminconsent/callback", Methods: []string{"GET"}},
		{Name: "Health", Trigger: handlers.HTTP, Pattern: "/api/healthz", Methods: []string{"GET"}},
		{Name: "JoinInstructions", Trigger: handlers.HTTP, Pattern: "/api/join/{code}", Methods: []string{"GET"}},
		{Name: "ProvisionTenant", Trigger: handlers.ServiceBus, Queue: "provisioning", Pattern: "POST /ProvisionTenant"},
		{Name: "RevalidateBatch", Trigger: handlers.ServiceBus, Queue: "revalidation", Pattern: "POST /RevalidateBatch"},
		{Name: "RevalidateConsent", Trigger: handlers.Timer, Pattern: "POST /RevalidateConsent"},
		{Name: "SendEmail", Trigger: handlers.ServiceBus, Queue: "email", Pattern: "POST /SendEmail"},
	}
}

// servedBy is what a server registering table serves (routes()), plus extra
// patterns registered beside the table.
func servedBy(table []handlers.Function, extra ...string) []string {
	served := []string{readinessProbe}
	for _, f := range table {
		served = append(served, f.Patterns()...)
	}
	return append(served, extra...)
}

// loadFixture reads a fixture copy with the fixture's function table.
func loadFixture(root string) repo {
	r := loadRepo(root)
	r.Table = fixtureTable()
	r.Served = servedBy(r.Table)
	return r
}

// withoutEntries drops the named entries from a table.
func withoutEntries(table []handlers.Function, names ...string) []handlers.Function {
	return slices.DeleteFunc(table, func(f handlers.Function) bool { return slices.Contains(names, f.Name) })
}

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
	src := testkit.Root(t)
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
	r := loadFixture(writeFixture(t, fixtureSample(t)))
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
	r := loadFixture(writeFixture(t, fixtureSample(t)))
	r.Table = append(withoutEntries(r.Table, "JoinInstructions", "SendEmail"),
		handlers.Function{Name: "Ghost", Trigger: handlers.Timer, Pattern: "POST /Ghost"})
	r.Served = servedBy(r.Table, "GET /api/nowhere", "PUT /api/admin/tenants/{id}")
	problems := checkRoutes(r)
	wantProblem(t, problems, "functions/JoinInstructions/function.json", "/api/join/{code}", "has no handler")
	wantProblem(t, problems, "functions/SendEmail/function.json", "POST /SendEmail")
	wantProblem(t, problems, `"POST /Ghost" has no function folder`)
	wantProblem(t, problems, `"GET /api/nowhere" is reached by no HTTP function`)
	wantProblem(t, problems, `"PUT /api/admin/tenants/{id}" uses PUT`)
	wantProblem(t, problems, `"GET /api/nowhere" is registered outside the function table`)
	wantProblem(t, problems, `"PUT /api/admin/tenants/{id}" is registered outside the function table`)
}

// A folder added without a table entry fails, whatever its trigger.
func TestFolderWithoutTableEntryFails(t *testing.T) {
	t.Parallel()
	root := writeFixture(t, fixtureSample(t))
	for name, body := range map[string]string{
		"Cleanup": `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 * * * *"}]}`,
		"Reports": `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/reports/{id}"},{"type":"http","direction":"out","name":"res"}]}`,
	} {
		p := filepath.Join(root, "functions", name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "function.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	problems := checkRoutes(loadFixture(root))
	wantProblem(t, problems, "functions/Cleanup/function.json", "POSTs this trigger to /Cleanup", `no entry named "Cleanup"`, `Pattern: "POST /Cleanup"`)
	wantProblem(t, problems, "functions/Reports/function.json", "route /api/reports/{id} (GET) has no handler", `no entry named "Reports"`,
		`Pattern: "/api/reports/{id}"`, "handlers/reports.go")
}

// An entry with the wrong trigger, route, methods, queue or POST path fails,
// and so does a second entry for one folder.
func TestTableEntryMismatchesFail(t *testing.T) {
	t.Parallel()
	r := loadFixture(writeFixture(t, fixtureSample(t)))
	for i, f := range r.Table {
		switch f.Name {
		case "SendEmail":
			r.Table[i].Trigger, r.Table[i].Queue = handlers.Timer, ""
		case "Health":
			r.Table[i].Pattern = "/api/health"
		case "JoinInstructions":
			r.Table[i].Methods = []string{"GET", "POST"}
		case "ProvisionTenant":
			r.Table[i].Queue = "email"
		case "RevalidateConsent":
			r.Table[i].Pattern = "POST /revalidateconsent"
		}
	}
	r.Table = append(r.Table, handlers.Function{Name: "AdminConsent", Trigger: handlers.HTTP, Pattern: "/api/adminconsent", Methods: []string{"GET"}})
	r.Served = servedBy(r.Table)
	problems := checkRoutes(r)
	wantProblem(t, problems, "functions/SendEmail/function.json", "the trigger is serviceBusTrigger", `Trigger "timerTrigger"`)
	wantProblem(t, problems, "functions/Health/function.json", `is the mux pattern "/api/healthz"`, `Pattern "/api/health"`)
	wantProblem(t, problems, "functions/JoinInstructions/function.json", `"methods" are [GET]`, "Methods [GET POST]")
	wantProblem(t, problems, "functions/ProvisionTenant/function.json", `queue "provisioning"`, `Queue "email"`)
	wantProblem(t, problems, "functions/RevalidateConsent/function.json", `Pattern "POST /revalidateconsent"`, `set Pattern: "POST /RevalidateConsent"`)
	wantProblem(t, problems, tableFile, `2 entries are named "AdminConsent"`)
}

// A route the mux serves beside the table fails even where a function's
// catch-all covers it, and so does an entry routes() left out.
func TestHandlerRegisteredOutsideTableFails(t *testing.T) {
	t.Parallel()
	r := loadFixture(writeFixture(t, fixtureSample(t)))
	r.Served = append(slices.DeleteFunc(r.Served, func(p string) bool { return p == "GET /api/healthz" }), "GET /api/admin/secret")
	problems := checkRoutes(r)
	wantProblem(t, problems, `"GET /api/admin/secret" is registered outside the function table`)
	wantProblem(t, problems, `entry Health's pattern "GET /api/healthz" is not registered`)
	wantProblem(t, problems, "functions/Health/function.json", "has no handler")
}

func TestEmptyTableFails(t *testing.T) {
	t.Parallel()
	r := loadRepo(writeFixture(t, fixtureSample(t)))
	wantProblem(t, checkRoutes(r), "function table", "is empty")
}

// handleElsewhere is a Handle declared outside handlers/.
func handleElsewhere(*handlers.Server) http.Handler { return nil }

// An entry whose Handle is missing or declared in another file fails.
func TestHandlerFileMismatchFails(t *testing.T) {
	t.Parallel()
	real := handlers.Functions()
	if p := checkHandlerFiles(real); len(p) != 0 {
		t.Fatalf("the real table must pass: %v", p)
	}
	var health handlers.Function
	for _, f := range real {
		if f.Name == "Health" {
			health = f
		}
	}
	swapped := health
	swapped.Name = "Status" // handleHealth is in health.go, not status.go
	problems := checkHandlerFiles([]handlers.Function{
		swapped,
		{Name: "Elsewhere", Trigger: handlers.Timer, Pattern: "POST /Elsewhere", Handle: handleElsewhere},
		{Name: "Nothing", Trigger: handlers.Timer, Pattern: "POST /Nothing"},
	})
	wantProblem(t, problems, "entry Status's Handle", "health.go", "declare it in handlers/status.go")
	wantProblem(t, problems, "entry Elsewhere's Handle", "bite_test.go", "declare it in handlers/elsewhere.go")
	wantProblem(t, problems, "entry Nothing has no Handle")
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
