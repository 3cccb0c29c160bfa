package handlers

import (
	"net/http"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// Trigger is a function's trigger binding type, spelled as in function.json.
type Trigger string

const (
	HTTP       Trigger = "httpTrigger"
	ServiceBus Trigger = "serviceBusTrigger"
	Timer      Trigger = "timerTrigger"
)

// Function is one functions/<Name>/function.json as the handler serves it.
// With forwarding on, the host passes an HTTP trigger's request on as it
// came (same method and path); it POSTs every other trigger's invocation to
// /<Name>, the folder's name (reference/functions-custom-handler.md §2, §4;
// the Azure custom-handler samples tie folder name and mux path the same way).
type Function struct {
	Name    string // the folder under functions/
	Trigger Trigger
	// Pattern is what the handler's ServeMux serves: the HTTP route as
	// "/<route>" (host.json's routePrefix is "", so routes carry "api/"
	// themselves; Functions {*rest} is written {rest...}), "POST /<Name>"
	// for the others.
	Pattern string
	// Methods are an HTTP trigger's "methods", upper case; nil = every
	// method. A GET route answers HEAD too.
	Methods []string
	Queue   string // a serviceBusTrigger's queueName
	// Handle builds the function's handler, declared in
	// handlers/<lower-case Name>.go.
	Handle func(*Server) http.Handler
}

// Functions is the handler's function table, one entry per folder under
// functions/: routes() registers from it, internal/consistency matches it
// with the function.json files, and the local Functions host (cmd/devstack)
// cross-checks it at start. A new function is a folder, an entry here and
// its handler file.
func Functions() []Function {
	return []Function{
		{Name: "AdminApi", Trigger: HTTP, Pattern: "/api/admin/{path...}", Handle: (*Server).handleAdminAPI},
		{Name: "AdminConsent", Trigger: HTTP, Pattern: "/api/adminconsent", Methods: []string{"GET"}, Handle: (*Server).handleAdminConsent},
		{Name: "Assets", Trigger: HTTP, Pattern: "/api/assets/{name}", Methods: []string{"GET"}, Handle: (*Server).handleAssets},
		{Name: "ConsentCallback", Trigger: HTTP, Pattern: "/api/adminconsent/callback", Methods: []string{"GET"}, Handle: (*Server).handleConsentCallback},
		{Name: "Console", Trigger: HTTP, Pattern: "/console/{path...}", Methods: []string{"GET", "HEAD"}, Handle: (*Server).handleConsole},
		{Name: "Health", Trigger: HTTP, Pattern: "/api/healthz", Methods: []string{"GET"}, Handle: (*Server).handleHealth},
		{Name: "JoinInstructions", Trigger: HTTP, Pattern: "/api/join/{code}", Methods: []string{"GET"}, Handle: (*Server).handleJoin},
		{Name: "ProvisionTenant", Trigger: ServiceBus, Queue: queue.Provisioning, Pattern: "POST /ProvisionTenant", Handle: (*Server).handleProvisionTenant},
		{Name: "RelayEvents", Trigger: Timer, Pattern: "POST /RelayEvents", Handle: (*Server).handleRelayEvents},
		{Name: "RevalidateBatch", Trigger: ServiceBus, Queue: queue.Revalidation, Pattern: "POST /RevalidateBatch", Handle: (*Server).handleRevalidateBatch},
		{Name: "RevalidateConsent", Trigger: Timer, Pattern: "POST /RevalidateConsent", Handle: (*Server).handleRevalidateConsent},
		{Name: "ScriptDownload", Trigger: HTTP, Pattern: "/api/join/{code}/powershell", Methods: []string{"GET"}, Handle: (*Server).handleScriptDownload},
		{Name: "SendEmail", Trigger: ServiceBus, Queue: queue.Email, Pattern: "POST /SendEmail", Handle: (*Server).handleSendEmail},
		{Name: "TenantStatus", Trigger: HTTP, Pattern: "/api/status/{token}", Methods: []string{"GET", "POST"}, Handle: (*Server).handleStatus},
	}
}

// Patterns are the ServeMux patterns f is registered under: Pattern once
// per method (HEAD rides on GET), and for a catch-all route its bare root
// as well, which Functions' {*rest} matches and ServeMux's {rest...} does not.
func (f Function) Patterns() []string {
	if f.Trigger != HTTP {
		return []string{f.Pattern}
	}
	paths := []string{f.Pattern}
	if i := strings.LastIndex(f.Pattern, "/{"); i > 0 && strings.HasSuffix(f.Pattern, "...}") {
		paths = append(paths, f.Pattern[:i])
	}
	methods := f.Methods
	if len(methods) == 0 {
		methods = []string{""}
	}
	var out []string
	for _, m := range methods {
		if m == http.MethodHead && hasMethod(f.Methods, http.MethodGet) {
			continue
		}
		for _, p := range paths {
			out = append(out, strings.TrimSpace(m+" "+p))
		}
	}
	return out
}

func hasMethod(methods []string, m string) bool {
	for _, x := range methods {
		if x == m {
			return true
		}
	}
	return false
}

// routeMux is the server's ServeMux, remembering what it was given so
// Patterns can show every route, the table's and any other.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

func (m *routeMux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.ServeMux.HandleFunc(pattern, f)
	m.patterns = append(m.patterns, pattern)
}

// Patterns are the patterns the server's mux serves, in registration
// order: internal/consistency holds them against functions/*/function.json.
func (s *Server) Patterns() []string {
	return append([]string(nil), s.mux.patterns...)
}
