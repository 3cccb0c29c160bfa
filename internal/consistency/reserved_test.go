package consistency

import (
	"strings"
	"testing"
)

// A route the Functions host reserves ("adminconsent" starts with "admin")
// fails the check even though the local host would serve it.
func TestReservedRouteFails(t *testing.T) {
	r := loadRealRepo(t)
	changed := false
	for i, f := range r.Functions {
		for j, b := range f.Bindings {
			if b.Route != nil && *b.Route == "api/adminconsent" {
				route := "adminconsent"
				r.Functions[i].Bindings[j].Route = &route
				changed = true
			}
		}
	}
	if !changed {
		t.Fatal("no function with route api/adminconsent to alter")
	}
	problems := strings.Join(checkRoutes(r), "\n")
	if !strings.Contains(problems, "reserves (admin, runtime)") {
		t.Fatalf("reserved route not reported; problems:\n%s", problems)
	}
}
