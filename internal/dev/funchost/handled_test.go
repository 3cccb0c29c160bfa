package funchost

import (
	"path/filepath"
	"strings"
	"testing"
)

func handledFixture(t *testing.T) (dir, hostJSON string) {
	t.Helper()
	dir = functionsDir(t, map[string]string{
		"Health":  `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"],"route":"api/healthz"},{"type":"http","direction":"out","name":"res"}]}`,
		"Admin":   `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","route":"api/ops/{*path}"},{"type":"http","direction":"out","name":"res"}]}`,
		"Join":    `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get","post"],"route":"api/join/{code:int}"},{"type":"http","direction":"out","name":"res"}]}`,
		"Mail":    `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"email"}]}`,
		"Tick":    `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 * * * *"}]}`,
		"Resting": `{"disabled":true,"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 * * * *"}]}`,
	})
	hostJSON = filepath.Join(t.TempDir(), "host.json")
	writeFile(t, hostJSON, `{"version":"2.0","extensions":{"http":{"routePrefix":""}}}`)
	return dir, hostJSON
}

func handledTable() []HandledFunction {
	return []HandledFunction{
		{Name: "Admin", Trigger: triggerHTTP, Pattern: "/api/ops/{path...}"},
		{Name: "Health", Trigger: triggerHTTP, Pattern: "/api/healthz", Methods: []string{"GET"}},
		{Name: "Join", Trigger: triggerHTTP, Pattern: "/api/join/{code}", Methods: []string{"POST", "GET"}},
		{Name: "Mail", Trigger: triggerServiceBus, Pattern: "POST /Mail", Queue: "email"},
		{Name: "Resting", Trigger: triggerTimer, Pattern: "POST /Resting"},
		{Name: "Tick", Trigger: triggerTimer, Pattern: "POST /Tick"},
	}
}

// With Handled, the folders and the handler's table must agree; the
// emulator still loads what the folders say.
func TestHandledTableMatchesFolders(t *testing.T) {
	t.Parallel()
	dir, hostJSON := handledFixture(t)
	h, err := New(Config{FunctionsDir: dir, HostJSONPath: hostJSON, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger(),
		Handled: handledTable()})
	if err != nil {
		t.Fatalf("a matching table must pass: %v", err)
	}
	if len(h.functions) != 5 {
		t.Errorf("loaded %d functions, want the 5 enabled folders", len(h.functions))
	}
}

func TestHandledTableMismatchFailsFast(t *testing.T) {
	t.Parallel()
	dir, hostJSON := handledFixture(t)
	writeFile(t, filepath.Join(dir, "Extra", "function.json"), `{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 * * * *"}]}`)
	table := handledTable()
	for i := range table {
		switch table[i].Name {
		case "Health":
			table[i].Pattern = "/api/health"
		case "Join":
			table[i].Methods = []string{"GET"}
		case "Mail":
			table[i].Queue = "mail"
		case "Tick":
			table[i].Trigger = triggerServiceBus
		case "Admin":
			table[i].Pattern = "/api/ops/{rest...}"
		}
	}
	table = append(table, HandledFunction{Name: "Ghost", Trigger: triggerTimer, Pattern: "POST /Ghost"},
		HandledFunction{Name: "Resting", Trigger: triggerTimer, Pattern: "POST /resting"})
	_, err := New(Config{FunctionsDir: dir, HostJSONPath: hostJSON, HandlerURL: "http://127.0.0.1:1", LookupEnv: notInAzure, Logger: discardLogger(),
		Handled: table})
	if err == nil {
		t.Fatal("a table that disagrees with the folders must fail New")
	}
	for _, want := range []string{
		filepath.Join(dir, "Extra", "function.json") + ` has no handler: the handler's function table (handlers/functions.go) has no entry "Extra"`,
		`entry "Ghost" (POST /Ghost) but ` + filepath.Join(dir, "Ghost", "function.json") + " does not exist",
		`route "api/healthz" is the handler pattern "/api/healthz", but the handler's function table (handlers/functions.go) has "/api/health" for Health`,
		`has "/api/ops/{rest...}" for Admin`,
		"methods [GET POST], but the handler's function table (handlers/functions.go) has [GET] for Join",
		`queue "email", but the handler's function table (handlers/functions.go) has queue "mail" for Mail`,
		"trigger timerTrigger, but the handler's function table (handlers/functions.go) says serviceBusTrigger for Tick",
		"names Resting twice",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

func TestMuxPattern(t *testing.T) {
	t.Parallel()
	for route, want := range map[string]string{
		"api/join/{code:int}":      "/api/join/{code}",
		"api/admin/{*path}":        "/api/admin/{path...}",
		"console/{*path}":          "/console/{path...}",
		"api/join/{code}/download": "/api/join/{code}/download",
	} {
		tmpl, err := parseRouteTemplate(route)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := tmpl.muxPattern(""); !ok || got != want {
			t.Errorf("muxPattern(%q) = %q, %v; want %q", route, got, ok, want)
		}
	}
	tmpl, _ := parseRouteTemplate("items/{id}")
	if got, _ := tmpl.muxPattern("api"); got != "/api/items/{id}" {
		t.Errorf("with prefix api: %q", got)
	}
	tmpl, _ = parseRouteTemplate("items/{id?}")
	if _, ok := tmpl.muxPattern(""); ok {
		t.Error("an optional parameter has no ServeMux form")
	}
}
