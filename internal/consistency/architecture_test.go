package consistency

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The architecture's rules (README "Layout"), checked on the source so a
// change that breaks one fails here with the file that broke it.

const module = "github.com/onemeeting/cvi-onboarding/"

type goFile struct {
	rel  string // slash path from the repo root
	pkg  string // slash directory from the repo root
	test bool
	ast  *ast.File
	src  string
}

func parseRepo(t *testing.T) []goFile {
	t.Helper()
	root := testkit.Root(t)
	var out []goFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".git", ".local", "bin", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		src, _ := os.ReadFile(path)
		out = append(out, goFile{rel: rel, pkg: filepath.ToSlash(filepath.Dir(rel)), test: strings.HasSuffix(rel, "_test.go"), ast: f, src: string(src)})
		return nil
	})
	if err != nil {
		t.Fatalf("parse the repository: %v", err)
	}
	return out
}

func imports(f goFile) []string {
	var out []string
	for _, imp := range f.ast.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		if strings.HasPrefix(p, module) {
			out = append(out, strings.TrimPrefix(p, module))
		}
	}
	return out
}

// devOnly are the packages that may use the dev stack (internal/dev/...) in
// non-test code: the dev stack itself, the test kit, and the commands that
// start it.
func devOnly(pkg string) bool {
	return strings.HasPrefix(pkg, "internal/dev/") || pkg == "internal/dev" || strings.HasPrefix(pkg, "internal/testkit") ||
		pkg == "cmd/devstack"
}

// services hold the flows; they reach the queues only through domain ports.
var services = []string{"internal/provisioning", "internal/consent", "internal/revalidation", "internal/notify",
	"internal/status", "internal/rejections", "internal/events", "internal/tenants", "internal/operations", "internal/adminapi"}

func TestProductCodeDoesNotUseTheDevStack(t *testing.T) {
	for _, f := range parseRepo(t) {
		if f.test || devOnly(f.pkg) {
			continue
		}
		for _, imp := range imports(f) {
			if strings.HasPrefix(imp, "internal/dev/") || strings.HasPrefix(imp, "internal/testkit") {
				t.Errorf("%s imports %s: product code must not depend on the dev stack or the test kit", f.rel, imp)
			}
		}
	}
}

func TestServicesReachQueuesThroughDomainPorts(t *testing.T) {
	for _, f := range parseRepo(t) {
		if f.test {
			continue
		}
		for _, svc := range services {
			if f.pkg != svc {
				continue
			}
			for _, imp := range imports(f) {
				if imp == "internal/queue" {
					t.Errorf("%s imports internal/queue: services use domain.Outbox (and the other domain ports)", f.rel)
				}
			}
		}
	}
}

func TestEmailJobsAreBuiltOnlyByDomainConstructors(t *testing.T) {
	for _, f := range parseRepo(t) {
		if f.test || f.pkg == "internal/domain" {
			continue
		}
		ast.Inspect(f.ast, func(n ast.Node) bool {
			if cl, ok := n.(*ast.CompositeLit); ok {
				if sel, ok := cl.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "EmailJob" {
					t.Errorf("%s builds a domain.EmailJob literal: use a constructor in internal/domain/outbox.go (it owns the key format)", f.rel)
				}
			}
			return true
		})
	}
}

func TestAdminAPICallsTheStoreOnlyThroughServices(t *testing.T) {
	storeCall := regexp.MustCompile(`\.Store\.[A-Z]\w*\(`)
	for _, f := range parseRepo(t) {
		if f.test || f.pkg != "internal/adminapi" {
			continue
		}
		for i, line := range strings.Split(f.src, "\n") {
			if storeCall.MatchString(line) {
				t.Errorf("%s:%d calls the store directly: %s", f.rel, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// The shared test helpers live once, in internal/testkit.
func TestTestHelpersAreNotCopied(t *testing.T) {
	copies := map[string]bool{"eventually": true, "repoRoot": true, "findRepoRoot": true, "guid": true, "newGUID": true, "mustJSON": true}
	for _, f := range parseRepo(t) {
		if strings.HasPrefix(f.pkg, "internal/testkit") {
			continue
		}
		for _, d := range f.ast.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && copies[d.Name.Name] {
					t.Errorf("%s defines %s: use internal/testkit", f.rel, d.Name.Name)
				}
				if d.Recv == nil && d.Name.Name == "truncate" {
					t.Errorf("%s defines truncate: use domain.Truncate", f.rel)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.Name == "syncBuffer" {
						t.Errorf("%s defines syncBuffer: use testkit.SyncBuffer", f.rel)
					}
				}
			}
		}
	}
}

// Keys, IDs and stored hashes are derived one way (domain.Digest), so two
// producers of the same key never disagree on its form.
func TestHashingLivesInTheDomain(t *testing.T) {
	for _, f := range parseRepo(t) {
		if f.test || f.pkg == "internal/domain" || devOnly(f.pkg) {
			continue
		}
		for _, imp := range f.ast.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "crypto/sha256" || p == "hash/fnv" {
				t.Errorf("%s imports %s: derive keys and hashes with domain.Digest", f.rel, p)
			}
		}
	}
}
