// Command pack writes dist/ and dist/onemeeting-cvi.zip (make package).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/onemeeting/cvi-onboarding/internal/pack"
)

func main() {
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
	res, err := pack.Build(root, filepath.Join(root, "dist"), pack.GoBuild(root))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pack:", err)
		os.Exit(1)
	}
	fmt.Printf("packaged %d functions into %s\n%s: %.1f MB\n", len(res.Functions), res.Dir, res.Zip, float64(res.ZipBytes)/(1<<20))
}
