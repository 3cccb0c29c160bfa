package consistency

import (
	"fmt"
	"net/http"
	"path"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/onemeeting/cvi-onboarding/handlers"
)

const tableFile = "handlers/functions.go"

// readinessProbe is the one route that is no function: the host polls GET /.
const readinessProbe = "GET /{$}"

// handlerTable is the real handler's function table and the patterns its
// server actually registers.
func handlerTable() ([]handlers.Function, []string) {
	srv := handlers.New(handlers.Deps{Admin: http.NotFoundHandler()})
	return handlers.Functions(), srv.Patterns()
}

// checkRoutes holds the handler's function table (r.Table) and the patterns
// its mux serves (r.Served) against functions/*/function.json: every folder
// has exactly one entry with its name, trigger and route or queue, and the
// reverse; the mux serves the table's patterns and nothing else; and every
// served pattern is one the host can reach (an HTTP function's route with
// the host's routePrefix, {*path} as {path...}; POST /Name for the rest).
func checkRoutes(r repo) []string {
	if len(r.Table) == 0 {
		return []string{"the handler's function table (handlers.Functions in " + tableFile + ") is empty: the custom handler's routes cannot be checked"}
	}
	prefix := routePrefix(r.HostJSON)
	problems, unmatched := checkTable(r, prefix)
	problems = append(problems, checkServed(r, prefix, unmatched)...)
	sort.Strings(problems)
	return problems
}

// httpRoute is an HTTP function's route with the prefix, e.g. /api/join/{code}.
func httpRoute(f function, trig binding, prefix string) string {
	route := f.Name
	if trig.Route != nil {
		route = strings.Trim(*trig.Route, "/")
	}
	return "/" + strings.Trim(prefix+"/"+route, "/")
}

// under is the URL space of HTTP functions: "/" or "/<routePrefix>/".
func under(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return "/" + prefix + "/"
}

func upperAll(ms []string) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, strings.ToUpper(m))
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// entryLiteral is the table entry a folder needs, for the fix in a message.
func entryLiteral(f function, trig binding, prefix string) string {
	name := strings.TrimSuffix(trig.Type, "Trigger")
	if strings.EqualFold(name, "http") {
		name = "HTTP"
	} else if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:]
	}
	fields := []string{fmt.Sprintf("Name: %q", f.Name), "Trigger: " + name}
	switch {
	case f.isHTTP():
		fields = append(fields, fmt.Sprintf("Pattern: %q", toGoPattern(httpRoute(f, trig, prefix))))
		if len(trig.Methods) > 0 {
			fields = append(fields, fmt.Sprintf("Methods: %#v", upperAll(trig.Methods)))
		}
	default:
		if trig.QueueName != "" {
			fields = append(fields, fmt.Sprintf("Queue: %q", trig.QueueName))
		}
		fields = append(fields, fmt.Sprintf("Pattern: %q", "POST /"+f.Name))
	}
	fields = append(fields, "Handle: (*Server).handle"+f.Name)
	return "{" + strings.Join(fields, ", ") + "}"
}

// checkTable matches folders and table entries one to one. It returns the
// names of entries without a folder, whose patterns it has reported.
func checkTable(r repo, prefix string) ([]string, map[string]bool) {
	var problems []string
	entries := map[string]handlers.Function{}
	count := map[string]int{}
	for _, e := range r.Table {
		count[e.Name]++
		if count[e.Name] == 1 {
			entries[e.Name] = e
		}
	}
	for _, name := range sortedKeys(count) {
		if count[name] > 1 {
			problems = append(problems, fmt.Sprintf("%s: %d entries are named %q; keep exactly one per function folder", tableFile, count[name], name))
		}
	}
	folders := map[string]bool{}
	for _, f := range r.Functions {
		folders[f.Name] = true
		trig, ok := f.trigger()
		if !ok {
			continue // checkHost reports it
		}
		e, ok := entries[f.Name]
		if !ok {
			fix := fmt.Sprintf("%s has no entry named %q; add `%s` there with its handler in handlers/%s.go, or remove the folder", tableFile, f.Name, entryLiteral(f, trig, prefix), strings.ToLower(f.Name))
			if f.isHTTP() {
				route := httpRoute(f, trig, prefix)
				what := "any method"
				if len(trig.Methods) > 0 {
					what = strings.Join(upperAll(trig.Methods), ", ")
				}
				problems = append(problems, fmt.Sprintf("%s: route %s (%s) has no handler: %s", f.Path, route, what, fix))
			} else {
				problems = append(problems, fmt.Sprintf("%s: the host POSTs this trigger to /%s but no handler route serves it: %s", f.Path, f.Name, fix))
			}
			continue
		}
		if !strings.EqualFold(string(e.Trigger), trig.Type) {
			problems = append(problems, fmt.Sprintf("%s: the trigger is %s but its entry in %s says Trigger %q; make them agree: `%s`", f.Path, trig.Type, tableFile, e.Trigger, entryLiteral(f, trig, prefix)))
			continue
		}
		if f.isHTTP() {
			route := httpRoute(f, trig, prefix)
			if want := toGoPattern(route); e.Pattern != want {
				problems = append(problems, fmt.Sprintf("%s: route %s is the mux pattern %q, but its entry in %s has Pattern %q; set Pattern: %q (or change the route)", f.Path, route, want, tableFile, e.Pattern, want))
			}
			if !sameSet(upperAll(trig.Methods), e.Methods) {
				problems = append(problems, fmt.Sprintf("%s: \"methods\" are %v, but its entry in %s has Methods %v; list the same methods (upper case) in both", f.Path, upperAll(trig.Methods), tableFile, e.Methods))
			}
			if e.Queue != "" {
				problems = append(problems, fmt.Sprintf("%s: entry %s is an HTTP function but names Queue %q; remove it", tableFile, e.Name, e.Queue))
			}
			continue
		}
		if want := "POST /" + f.Name; e.Pattern != want {
			problems = append(problems, fmt.Sprintf("%s: the host POSTs this trigger to /%s, but its entry in %s has Pattern %q; set Pattern: %q", f.Path, f.Name, tableFile, e.Pattern, want))
		}
		if len(e.Methods) > 0 {
			problems = append(problems, fmt.Sprintf("%s: entry %s is not an HTTP function but lists Methods %v; remove them (the host always POSTs)", tableFile, e.Name, e.Methods))
		}
		if e.Queue != trig.QueueName {
			if trig.QueueName == "" {
				problems = append(problems, fmt.Sprintf("%s: entry %s names Queue %q, but %s has no queue; remove it", tableFile, e.Name, e.Queue, f.Path))
			} else {
				problems = append(problems, fmt.Sprintf("%s: the trigger reads queue %q, but its entry in %s has Queue %q; set Queue: %q", f.Path, trig.QueueName, tableFile, e.Queue, trig.QueueName))
			}
		}
	}
	unmatched := map[string]bool{}
	for _, e := range r.Table {
		if folders[e.Name] || unmatched[e.Name] {
			continue
		}
		unmatched[e.Name] = true
		pattern := e.Pattern
		if ps := e.Patterns(); len(ps) > 0 {
			pattern = ps[0]
		}
		problems = append(problems, fmt.Sprintf("%s: entry %s's handler route %q has no function folder: add functions/%s/function.json with its trigger, or remove the entry (the host calls only what the folders declare)", tableFile, e.Name, pattern, e.Name))
	}
	return problems, unmatched
}

// checkServed holds what the mux really serves against the table and the
// folders, so a route registered beside the table cannot hide.
func checkServed(r repo, prefix string, unmatched map[string]bool) []string {
	const where = "handlers (Server.Patterns)"
	var problems []string
	derived := map[string]string{} // pattern → entry
	for _, e := range r.Table {
		for _, p := range e.Patterns() {
			derived[p] = e.Name
		}
	}
	served := map[string]bool{}
	var routes []handlerRoute
	for _, p := range r.Served {
		served[p] = true
		entry, fromTable := derived[p]
		switch {
		case p == readinessProbe:
		case !fromTable:
			problems = append(problems, fmt.Sprintf("%s: handler route %q is registered outside the function table; serve it through its function's entry in %s (routes() registers each entry's Patterns), or inside that entry's handler", where, p, tableFile))
		case unmatched[entry]:
			continue // checkTable reported the missing folder
		}
		routes = append(routes, parsePattern(p, where))
	}
	for _, e := range r.Table {
		for _, p := range e.Patterns() {
			if !served[p] {
				problems = append(problems, fmt.Sprintf("%s: entry %s's pattern %q is not registered on the mux; routes() must register every entry's Patterns", tableFile, e.Name, p))
			}
		}
	}

	entries := map[string]bool{}
	for _, e := range r.Table {
		entries[e.Name] = true
	}
	var fnRoutes []fnRoute
	invoked := map[string]bool{}
	for _, f := range r.Functions {
		trig, ok := f.trigger()
		if !ok {
			continue // checkHost reports it
		}
		if !f.isHTTP() {
			invoked[f.Name] = true
			continue
		}
		route := httpRoute(f, trig, prefix)
		// The host refuses any route text starting with "admin" or
		// "runtime" (its own API), whatever the routePrefix.
		text := f.Name
		if trig.Route != nil {
			text = strings.Trim(*trig.Route, "/")
		}
		if lower := strings.ToLower(text); strings.HasPrefix(lower, "admin") || strings.HasPrefix(lower, "runtime") {
			problems = append(problems, fmt.Sprintf("%s: route %q starts with a name the Functions host reserves (admin, runtime) and would be refused at start; set routePrefix to \"\" in host.json and write the route as \"api/%s\"", f.Path, text, text))
		}
		fnRoutes = append(fnRoutes, fnRoute{Function: f.Path, Path: route, Methods: upperAll(trig.Methods)})
		if !entries[f.Name] {
			fnRoutes[len(fnRoutes)-1].Reported = true // checkTable said it has no handler
		}
	}

	// Every function needs a served route.
	for _, fr := range fnRoutes {
		if fr.Reported {
			continue
		}
		sample := fnSample(fr.Path)
		methods := fr.Methods
		if len(methods) == 0 {
			methods = []string{""}
		}
		for _, m := range methods {
			found := false
			for _, h := range routes {
				// The function's own path is served, or (catch-all routes)
				// some handler route lies inside it with that method.
				direct := h.handles(m, sample) || (m == "" && goMatches(h.Path, sample))
				inside := fnMatches(fr.Path, goSample(h.Path)) && (m == "" || h.Method == "" || h.Method == m)
				if direct || inside {
					found = true
					break
				}
			}
			if !found {
				what := "any method"
				if m != "" {
					what = m
				}
				problems = append(problems, fmt.Sprintf("%s: route %s (%s) has no handler: the mux serves no pattern for it; its entry in %s needs Pattern %q (Functions {*rest} is Go {rest...}; {id} is {id})", fr.Function, fr.Path, what, tableFile, toGoPattern(fr.Path)))
			}
		}
	}
	for name := range invoked {
		if !entries[name] {
			continue // checkTable said it has no handler
		}
		found := false
		for _, h := range routes {
			if h.handles("POST", "/"+name) && h.Path == "/"+name {
				found = true
				break
			}
		}
		if !found {
			problems = append(problems, fmt.Sprintf("functions/%s/function.json: the host POSTs this trigger to /%s but no handler route serves it; its entry in %s needs Pattern \"POST /%s\"", name, name, tableFile, name))
		}
	}

	// Every served route needs a function that can reach it.
	for _, h := range routes {
		if h.Path == "/{$}" || h.Path == "/" {
			continue // the host's readiness probe (GET /)
		}
		segs := strings.Split(strings.Trim(h.Path, "/"), "/")
		// With an empty routePrefix, a one-segment POST route named like a
		// function folder (upper-case first letter) is an invocation route.
		looksInvoked := invoked[segs[0]] || (h.Method == "POST" && segs[0] != "" && unicode.IsUpper(rune(segs[0][0])))
		isInvocation := len(segs) == 1 && !strings.HasPrefix(segs[0], "{") && (prefix == "" && looksInvoked || prefix != "" && !strings.EqualFold(segs[0], prefix))
		if isInvocation {
			switch {
			case !invoked[segs[0]]:
				problems = append(problems, fmt.Sprintf("%s: handler route %q has no function folder: add functions/%s/function.json with its trigger, or remove the route (the host calls POST /<folder name> only for non-HTTP functions)", h.Where, h.Pattern, segs[0]))
			case h.Method != "" && h.Method != "POST":
				problems = append(problems, fmt.Sprintf("%s: handler route %q uses %s, but the host invokes functions with POST; register \"POST /%s\"", h.Where, h.Pattern, h.Method, segs[0]))
			}
			continue
		}
		sample := goSample(h.Path)
		var reached, methodOK bool
		for _, fr := range fnRoutes {
			if !fnMatches(fr.Path, sample) {
				continue
			}
			reached = true
			if methodAllowed(fr.Methods, h.Method) {
				methodOK = true
			}
		}
		switch {
		case !reached:
			problems = append(problems, fmt.Sprintf("%s: handler route %q is reached by no HTTP function: add a functions/<Name>/function.json whose httpTrigger route (under %s) covers %s, or remove the route", h.Where, h.Pattern, under(prefix), h.Path))
		case !methodOK:
			problems = append(problems, fmt.Sprintf("%s: handler route %q uses %s, which the HTTP function covering %s does not list in \"methods\"; add %q there or change the route", h.Where, h.Pattern, h.Method, h.Path, strings.ToLower(h.Method)))
		}
	}
	return problems
}

// checkHandlerFiles keeps a function two hops from its folder: each entry's
// Handle is declared in handlers/<lower-case Name>.go.
func checkHandlerFiles(table []handlers.Function) []string {
	var problems []string
	for _, e := range table {
		want := strings.ToLower(e.Name) + ".go"
		if e.Handle == nil {
			problems = append(problems, fmt.Sprintf("%s: entry %s has no Handle; set it to the handler's constructor, declared in handlers/%s", tableFile, e.Name, want))
			continue
		}
		fn := runtime.FuncForPC(reflect.ValueOf(e.Handle).Pointer())
		if fn == nil {
			problems = append(problems, fmt.Sprintf("%s: entry %s: cannot tell where its Handle is declared", tableFile, e.Name))
			continue
		}
		file, _ := fn.FileLine(fn.Entry())
		file = strings.ReplaceAll(file, "\\", "/")
		if path.Base(file) != want || path.Base(path.Dir(file)) != "handlers" {
			problems = append(problems, fmt.Sprintf("%s: entry %s's Handle (%s) is declared in %s; declare it in handlers/%s, so functions/%s leads to its handler in two hops (folder → entry → file)", tableFile, e.Name, fn.Name(), file, want, e.Name))
		}
	}
	return problems
}
