package funchost

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// HandledFunction is one entry of the handler's own function table
// (handlers.Functions), for Config.Handled.
type HandledFunction struct {
	Name    string
	Trigger string // httpTrigger, serviceBusTrigger or timerTrigger
	// Pattern is the handler's ServeMux pattern: "/<routePrefix>/<route>"
	// with {*rest} as {rest...} for HTTP, "POST /<Name>" for the others.
	Pattern string
	Methods []string // HTTP, upper case; nil = every method
	Queue   string   // serviceBusTrigger
}

// checkHandled holds the handler's table against the function folders. It
// changes nothing the emulator runs (the folders rule, as on the real host):
// it turns a folder the handler would answer 404 for, or an entry no folder
// triggers, into one start-up error naming both sides. folders are every
// folder with a function.json, disabled or dropped ones included.
func checkHandled(dir string, folders []string, fns []*function, routePrefix string, handled []HandledFunction) error {
	const table = "the handler's function table (handlers/functions.go)"
	entries := map[string]HandledFunction{}
	var problems []string
	for _, e := range handled {
		if _, dup := entries[e.Name]; dup {
			problems = append(problems, fmt.Sprintf("%s names %s twice", table, e.Name))
		}
		entries[e.Name] = e
	}
	for _, name := range folders {
		if _, ok := entries[name]; !ok {
			problems = append(problems, fmt.Sprintf("%s has no handler: %s has no entry %q, so the handler would answer 404 for it; add the entry (and its handler) or remove the folder",
				filepath.Join(dir, name, "function.json"), table, name))
		}
	}
	for _, e := range handled {
		if !slices.Contains(folders, e.Name) {
			problems = append(problems, fmt.Sprintf("%s has an entry %q (%s) but %s does not exist, so nothing would ever call it; add the folder or remove the entry",
				table, e.Name, e.Pattern, filepath.Join(dir, e.Name, "function.json")))
		}
	}
	for _, fn := range fns {
		e, ok := entries[fn.Name]
		if !ok {
			continue
		}
		if e.Trigger != fn.Trigger {
			problems = append(problems, fmt.Sprintf("%s: trigger %s, but %s says %s for %s", fn.File, fn.Trigger, table, e.Trigger, fn.Name))
			continue
		}
		switch fn.Trigger {
		case triggerHTTP:
			want, ok := fn.Route.muxPattern(routePrefix)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: route %q has an optional parameter, which a ServeMux pattern cannot express; the handler's entry %q (%s) cannot match it", fn.File, fn.Route.text, fn.Name, e.Pattern))
			case want != e.Pattern:
				problems = append(problems, fmt.Sprintf("%s: route %q is the handler pattern %q, but %s has %q for %s", fn.File, fn.Route.text, want, table, e.Pattern, fn.Name))
			}
			if !sameMethods(fn.Methods, e.Methods) {
				problems = append(problems, fmt.Sprintf("%s: methods %v, but %s has %v for %s", fn.File, fn.Methods, table, e.Methods, fn.Name))
			}
		default:
			if want := "POST /" + fn.Name; e.Pattern != want {
				problems = append(problems, fmt.Sprintf("%s: the host POSTs %s to /%s, but %s has pattern %q for it", fn.File, fn.Name, fn.Name, table, e.Pattern))
			}
			if fn.Trigger == triggerServiceBus && !strings.EqualFold(fn.QueueName, e.Queue) {
				problems = append(problems, fmt.Sprintf("%s: queue %q, but %s has queue %q for %s", fn.File, fn.QueueName, table, e.Queue, fn.Name))
			}
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("function folders and the handler disagree:\n  " + strings.Join(problems, "\n  "))
}

func sameMethods(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// muxPattern is the route as a Go ServeMux path pattern under prefix;
// false when it has an optional parameter, which ServeMux cannot express.
func (t *routeTemplate) muxPattern(prefix string) (string, bool) {
	var parts []string
	if prefix != "" {
		parts = append(parts, prefix)
	}
	for _, seg := range t.segments {
		switch seg.kind {
		case segLiteral:
			parts = append(parts, seg.literal)
		case segParam:
			parts = append(parts, "{"+seg.param+"}")
		case segCatchAll:
			parts = append(parts, "{"+seg.param+"...}")
		default:
			return "", false
		}
	}
	return "/" + strings.Join(parts, "/"), true
}
