package consistency

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The README's Layout map is how a newcomer finds their way: it names every
// Go package, and every path it names exists.
func TestReadmeLayoutMatchesTheTree(t *testing.T) {
	root := testkit.Root(t)
	named := layoutPaths(t, root)
	if len(named) < 20 {
		t.Fatalf("found only %d paths in README's Layout block: %v", len(named), named)
	}
	for p := range named {
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(p, "/")))); err != nil {
			t.Errorf("README Layout names %s, which does not exist", p)
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		switch d.Name() {
		case "node_modules", ".git", ".local", "bin", "dist", "testdata", "console":
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if rel == "." || !hasGoFiles(t, path) {
			return nil
		}
		if !named[rel] && !named[rel+"/"] {
			t.Errorf("Go package %s is missing from README's Layout map", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// layoutPaths are the first-column entries of the Layout code block
// ("a, b" names two; "handlers/<name>.go" stands for handlers/).
func layoutPaths(t *testing.T, root string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Layout\n")
	if i < 0 {
		t.Fatal("README.md has no ## Layout section")
	}
	s = s[i:]
	open := strings.Index(s, "\n```\n")
	if open < 0 {
		t.Fatal("README Layout has no code block")
	}
	s = s[open+5:]
	s = s[:strings.Index(s, "\n```")]
	out := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		if line == "" || line[0] == ' ' {
			continue // a continuation line or a blank
		}
		col := line
		if j := strings.Index(line, "  "); j >= 0 {
			col = line[:j]
		}
		for _, p := range strings.Split(col, ", ") {
			p = strings.TrimSpace(p)
			if !strings.Contains(p, "/") && !strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, ".json") {
				continue // a group heading
			}
			if k := strings.Index(p, "<"); k >= 0 {
				p = p[:k] // functions/<Name>/function.json → functions/
			}
			out[p] = true
			out[strings.TrimSuffix(p, "/")] = true
		}
	}
	return out
}

func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			return true
		}
	}
	return false
}
