package consistency

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/handlers"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// repo is the part of the repository the checks read, as file contents keyed
// by slash-separated paths relative to the repository root.
type repo struct {
	Root      string
	HostJSON  []byte
	Functions []function
	MainBicep string              // infra/main.bicep ("" when missing)
	Sample    []byte              // local.settings.sample.json (nil when missing)
	AzureYAML []byte              // azure.yaml (nil when missing)
	Table     []handlers.Function // the handler's function table (not read from files)
	Served    []string            // the patterns its mux registers
	Scanned   map[string][]byte   // files the secret scan reads
	Problems  []string            // files that could not be read or parsed
}

// function is one functions/<Name>/function.json.
type function struct {
	Name     string
	Path     string // e.g. functions/Health/function.json
	Raw      []byte
	Bindings []binding
}

type binding struct {
	Type       string   `json:"type"`
	Direction  string   `json:"direction"`
	Name       string   `json:"name"`
	Route      *string  `json:"route"`
	Methods    []string `json:"methods"`
	QueueName  string   `json:"queueName"`
	TopicName  string   `json:"topicName"`
	Connection string   `json:"connection"`
}

func (f function) trigger() (binding, bool) {
	for _, b := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
			return b, true
		}
	}
	return binding{}, false
}

func (f function) isHTTP() bool {
	b, ok := f.trigger()
	return ok && strings.EqualFold(b.Type, "httpTrigger")
}

// loadRepo reads the files the checks need. Missing optional files are left
// empty; the checks report them with the fix.
func loadRepo(root string) repo {
	r := repo{Root: root, Scanned: map[string][]byte{}}
	read := func(rel string) []byte {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: cannot be read: %v", rel, err))
			}
			return nil
		}
		return b
	}

	r.HostJSON = read("host.json")
	if r.HostJSON != nil {
		r.Scanned["host.json"] = r.HostJSON
	}
	if b := read("infra/main.bicep"); b != nil {
		r.MainBicep = string(b)
	}
	r.Sample = read("local.settings.sample.json")
	if r.Sample != nil {
		r.Scanned["local.settings.sample.json"] = r.Sample
	}
	r.AzureYAML = read("azure.yaml")
	if r.AzureYAML != nil {
		r.Scanned["azure.yaml"] = r.AzureYAML
	}

	dirs, err := os.ReadDir(filepath.Join(root, "functions"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.Problems = append(r.Problems, fmt.Sprintf("functions/: cannot be listed: %v", err))
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		rel := "functions/" + d.Name() + "/function.json"
		raw := read(rel)
		if raw == nil {
			r.Problems = append(r.Problems, fmt.Sprintf("functions/%s/ has no function.json: add one or remove the folder (the host treats every folder beside host.json as a function)", d.Name()))
			continue
		}
		r.Scanned[rel] = raw
		var doc struct {
			Bindings []binding `json:"bindings"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: invalid JSON: %v", rel, err))
			continue
		}
		r.Functions = append(r.Functions, function{Name: d.Name(), Path: rel, Raw: raw, Bindings: doc.Bindings})
	}

	infra := filepath.Join(root, "infra")
	_ = filepath.WalkDir(infra, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				r.Problems = append(r.Problems, fmt.Sprintf("infra/: %v", err))
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, relErr := filepath.Rel(root, path)
		if relErr != nil {
			return relErr
		}
		if b := read(filepath.ToSlash(rel)); b != nil {
			r.Scanned[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	sort.Slice(r.Functions, func(i, j int) bool { return r.Functions[i].Name < r.Functions[j].Name })
	return r
}

// report fails the test once per problem, so every fix is listed at once.
func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// loadRealRepo is the repository with the real handler's function table.
func loadRealRepo(t *testing.T) repo {
	t.Helper()
	r := loadRepo(testkit.Root(t))
	r.Table, r.Served = handlerTable()
	return r
}

// TestRepository runs every check against the repository itself.
func TestRepository(t *testing.T) {
	t.Parallel()
	r := loadRealRepo(t)
	report(t, r.Problems)

	t.Run("infra app settings match internal/config", func(t *testing.T) {
		t.Parallel()
		report(t, checkBicepSettings(r, configSettings()))
	})
	t.Run("local.settings.sample.json matches internal/config", func(t *testing.T) {
		t.Parallel()
		report(t, checkSampleSettings(r, configSettings()))
	})
	t.Run("every trigger queue is declared in infra", func(t *testing.T) {
		t.Parallel()
		report(t, checkQueues(r))
	})
	t.Run("host.json and HTTP bindings keep forwarding on", func(t *testing.T) {
		t.Parallel()
		report(t, checkHost(r))
	})
	t.Run("function folders and handler routes match", func(t *testing.T) {
		t.Parallel()
		report(t, checkRoutes(r))
	})
	t.Run("every function's handler is in handlers/<name>.go", func(t *testing.T) {
		t.Parallel()
		report(t, checkHandlerFiles(r.Table))
	})
	t.Run("azure.yaml deploys the packaged zip", func(t *testing.T) {
		t.Parallel()
		report(t, checkAzureYAML(r))
	})
	t.Run("no secrets in infra or committed settings", func(t *testing.T) {
		t.Parallel()
		report(t, checkSecrets(r))
	})
}
