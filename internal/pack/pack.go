// Package pack assembles the deployable app: dist/ with host.json, one
// folder per function beside it and the linux/amd64 handler, zipped with the
// handler's executable bit kept (reference/functions-custom-handler.md §7).
package pack

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// HandlerName is the executable name host.json must point at.
const HandlerName = "handler"

// ZipName is the package file inside dist/.
const ZipName = "onemeeting-cvi.zip"

// BuildFunc writes the handler binary to dst.
type BuildFunc func(dst string) error

// GoBuild cross-compiles the handler for the Functions Linux workers.
func GoBuild(repoRoot string) BuildFunc {
	return func(dst string) error {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dst, ".")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build handler: %w", err)
		}
		return nil
	}
}

// Result describes the package written.
type Result struct {
	Dir       string
	Zip       string
	ZipBytes  int64
	Functions []string
}

// Build writes outDir (emptied first) and outDir/ZipName.
func Build(repoRoot, outDir string, build BuildFunc) (*Result, error) {
	if err := checkHostJSON(filepath.Join(repoRoot, "host.json")); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(outDir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", outDir, err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", outDir, err)
	}
	if err := copyFile(filepath.Join(repoRoot, "host.json"), filepath.Join(outDir, "host.json"), 0o644); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		return nil, fmt.Errorf("read functions/: %w", err)
	}
	res := &Result{Dir: outDir, Zip: filepath.Join(outDir, ZipName)}
	for _, e := range entries {
		src := filepath.Join(repoRoot, "functions", e.Name(), "function.json")
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("function folder %s has no function.json: %w", e.Name(), err)
		}
		if err := os.MkdirAll(filepath.Join(outDir, e.Name()), 0o755); err != nil {
			return nil, fmt.Errorf("create function folder %s: %w", e.Name(), err)
		}
		if err := copyFile(src, filepath.Join(outDir, e.Name(), "function.json"), 0o644); err != nil {
			return nil, err
		}
		res.Functions = append(res.Functions, e.Name())
	}
	if err := build(filepath.Join(outDir, HandlerName)); err != nil {
		return nil, err
	}
	if err := os.Chmod(filepath.Join(outDir, HandlerName), 0o755); err != nil {
		return nil, fmt.Errorf("make handler executable: %w", err)
	}
	if err := writeZip(outDir, res.Zip); err != nil {
		return nil, err
	}
	st, err := os.Stat(res.Zip)
	if err != nil {
		return nil, fmt.Errorf("stat zip: %w", err)
	}
	res.ZipBytes = st.Size()
	return res, nil
}

func checkHostJSON(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read host.json: %w", err)
	}
	var h struct {
		CustomHandler struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("parse host.json: %w", err)
	}
	if got := h.CustomHandler.Description.DefaultExecutablePath; got != HandlerName {
		return fmt.Errorf("host.json customHandler.description.defaultExecutablePath is %q; the package's executable is %q", got, HandlerName)
	}
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// writeZip zips dir's contents (not the zip itself) with Unix modes, so the
// handler stays executable when the platform unpacks it.
func writeZip(dir, zipPath string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && p != zipPath {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Strings(files)
	out, err := os.Create(zipPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", zipPath, err)
	}
	zw := zip.NewWriter(out)
	for _, p := range files {
		if err := addFile(zw, dir, p); err != nil {
			_ = out.Close()
			return err
		}
	}
	if err := zw.Close(); err != nil {
		_ = out.Close()
		return fmt.Errorf("finish zip: %w", err)
	}
	return out.Close()
}

func addFile(zw *zip.Writer, dir, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	rel, _ := filepath.Rel(dir, p)
	hdr, err := zip.FileInfoHeader(st)
	if err != nil {
		return fmt.Errorf("zip header for %s: %w", rel, err)
	}
	hdr.Name = strings.ReplaceAll(rel, string(filepath.Separator), "/")
	hdr.Method = zip.Deflate
	hdr.SetMode(st.Mode())
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return fmt.Errorf("zip %s: %w", rel, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("zip %s: %w", rel, err)
	}
	return nil
}
