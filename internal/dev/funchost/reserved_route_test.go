package funchost

import (
	"log/slog"
	"strings"
	"testing"
)

// The real host refuses routes that start with "admin" or "runtime" (a
// string prefix test, so "adminconsent" too); the emulator must as well.
func TestReservedRoutesRefused(t *testing.T) {
	for _, route := range []string{"admin/foo", "adminconsent", "Admin", "/runtime/x"} {
		raw := `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"` + route + `"},{"type":"http","direction":"out","name":"res"}]}`
		_, err := parseFunction("F", "F/function.json", []byte(raw), settingResolver{lookup: func(string) (string, bool) { return "", false }}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "built-in routes") {
			t.Errorf("route %q: err = %v", route, err)
		}
	}
	raw := `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"api/adminconsent"},{"type":"http","direction":"out","name":"res"}]}`
	if _, err := parseFunction("F", "F/function.json", []byte(raw), settingResolver{lookup: func(string) (string, bool) { return "", false }}, slog.New(slog.DiscardHandler)); err != nil {
		t.Errorf("api/adminconsent refused: %v", err)
	}
}
