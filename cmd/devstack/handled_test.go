package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func newLocalHost(t *testing.T, functionsDir string) error {
	t.Helper()
	_, err := funchost.New(funchost.Config{
		FunctionsDir: functionsDir,
		HostJSONPath: filepath.Join(testkit.Root(t), "host.json"),
		HandlerURL:   "http://127.0.0.1:1",
		Settings:     map[string]string{"REVALIDATION_SCHEDULE": "0 0 */6 * * *"},
		LookupEnv:    func(string) (string, bool) { return "", false },
		Logger:       slog.New(slog.DiscardHandler),
		Handled:      handledFunctions(),
	})
	return err
}

// The local host starts on the repository's folders with the handler's
// table, and refuses a folder the table does not know, naming it.
func TestLocalHostCrossChecksTheFunctionTable(t *testing.T) {
	t.Parallel()
	if err := newLocalHost(t, filepath.Join(testkit.Root(t), "functions")); err != nil {
		t.Fatalf("functions/ and handlers.Functions disagree: %v", err)
	}
	dir := t.TempDir()
	copyTree(t, filepath.Join(testkit.Root(t), "functions"), dir)
	extra := filepath.Join(dir, "Unhandled", "function.json")
	writeTestFile(t, extra, []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"timer","schedule":"0 0 * * * *"}]}`))
	if err := os.RemoveAll(filepath.Join(dir, "Health")); err != nil {
		t.Fatal(err)
	}
	err := newLocalHost(t, dir)
	if err == nil || !strings.Contains(err.Error(), extra+" has no handler") || !strings.Contains(err.Error(), `entry "Health"`) {
		t.Errorf("New = %v; want it to name %s and the Health entry without a folder", err, extra)
	}
}
