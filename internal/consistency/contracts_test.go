package consistency

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// contractCopies lists files under root, outside contracts/, that are a
// contract schema again: named *.schema.json, or holding the same JSON.
func contractCopies(root string) ([]string, error) {
	var schemas []any
	for _, raw := range [][]byte{contracts.ProvisioningV1Schema(), contracts.EventsV1Schema()} {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		schemas = append(schemas, v)
	}
	var copies []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", ".local", "bin", "dist", ".azure":
				return filepath.SkipDir
			}
			if rel == "contracts" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(d.Name(), ".json") {
			return nil
		}
		if strings.HasSuffix(d.Name(), ".schema.json") {
			copies = append(copies, rel)
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(raw, []byte(`"$schema"`)) {
			return nil
		}
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return nil
		}
		for _, s := range schemas {
			if reflect.DeepEqual(v, s) {
				copies = append(copies, rel)
			}
		}
		return nil
	})
	return copies, err
}

// TestContractsHaveOneCopy: the message schemas live in contracts/ only;
// the code that validates or serves them embeds package contracts.
func TestContractsHaveOneCopy(t *testing.T) {
	t.Parallel()
	copies, err := contractCopies(testkit.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range copies {
		t.Errorf("%s copies a contract schema; read package contracts instead", c)
	}
}

// TestContractCopiesAreFound proves the check is live.
func TestContractCopiesAreFound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("contracts/provisioning.v1.schema.json", contracts.ProvisioningV1Schema())
	write("internal/x/provisioning.v1.schema.json", contracts.ProvisioningV1Schema())
	write("internal/y/contract.json", bytes.ReplaceAll(contracts.EventsV1Schema(), []byte("\n"), []byte("\n  ")))
	write("internal/y/node_modules/z.schema.json", []byte("{}"))
	write("internal/y/example.json", contracts.ProvisioningV1Example())
	copies, err := contractCopies(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"internal/x/provisioning.v1.schema.json", "internal/y/contract.json"}
	if !reflect.DeepEqual(copies, want) {
		t.Errorf("copies = %v, want %v", copies, want)
	}
}
