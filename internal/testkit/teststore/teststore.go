// Package teststore gives a test its own Table Storage on the test binary's
// Azurite (tables under a random prefix). tablestore's own tests cannot use
// it (import cycle) and use testkit directly.
package teststore

import (
	"context"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// New is a store on fresh tables in the shared Azurite; opts.TablePrefix is
// replaced by a random one.
func New(t testing.TB, opts tablestore.Options) *tablestore.Store {
	t.Helper()
	opts.TablePrefix = testkit.TablePrefix(t)
	s, err := tablestore.NewFromConnectionString(testkit.Azurite(t).ConnectionString(), opts)
	if err != nil {
		t.Fatalf("test store: %v", err)
	}
	if err := s.EnsureTables(context.Background()); err != nil {
		t.Fatalf("create test tables: %v", err)
	}
	return s
}
