package pack

import (
	"archive/zip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// The real repository packs into the layout the Functions host expects; a
// stand-in binary keeps the test fast (make package builds the real one).
func TestBuildLayout(t *testing.T) {
	root := testkit.Root(t)
	out := filepath.Join(t.TempDir(), "dist")
	res, err := Build(root, out, func(dst string) error { return os.WriteFile(dst, []byte("#!/bin/sh\n"), 0o600) })
	if err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(res.Zip)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string]*zip.File{}
	for _, f := range zr.File {
		entries[f.Name] = f
	}
	if entries["host.json"] == nil {
		t.Error("host.json not at the zip root")
	}
	h := entries[HandlerName]
	if h == nil || h.Mode().Perm()&0o111 == 0 {
		t.Fatalf("handler missing or not executable in zip: %v", h)
	}
	if len(res.Functions) == 0 || !slices.Contains(res.Functions, "Health") {
		t.Fatalf("functions = %v", res.Functions)
	}
	for _, fn := range res.Functions {
		if entries[fn+"/function.json"] == nil {
			t.Errorf("%s/function.json not beside host.json", fn)
		}
	}
	if _, ok := entries[ZipName]; ok {
		t.Error("zip contains itself")
	}
}

func TestBuildRejectsWrongExecutableName(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(`{"customHandler":{"description":{"defaultExecutablePath":"app"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(root, filepath.Join(root, "dist"), func(string) error { return nil }); err == nil {
		t.Fatal("want an error for a host.json naming another executable")
	}
}
