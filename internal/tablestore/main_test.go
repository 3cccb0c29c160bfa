package tablestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// TestMain stops the one Azurite the kit starts for these tests; a test
// fails loudly when Azurite cannot start, never skips the service.
// (teststore.New would import this package: these tests use testkit.)
func TestMain(m *testing.M) { testkit.Main(m) }

// fastRetry keeps failing calls quick in tests.
var fastRetry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, TryTimeout: 5 * time.Second}

// newTestStore returns a store on fresh tables with a random prefix.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	return newTestStoreOn(t, testkit.Azurite(t).ConnectionString())
}

func newTestStoreOn(t *testing.T, conn string) *Store {
	t.Helper()
	retry := fastRetry
	s, err := NewFromConnectionString(conn, Options{TablePrefix: testkit.TablePrefix(t), Retry: &retry})
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	ctx := context.Background()
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatalf("ensure tables: %v", err)
	}
	t.Cleanup(func() {
		for _, name := range s.TableNames() {
			_, _ = s.svc.DeleteTable(context.Background(), name, nil)
		}
	})
	return s
}

func wantCode(t *testing.T, err error, code domain.Code) {
	t.Helper()
	if got := domain.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q); want code %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tenantID builds a distinct, sortable GUID-shaped ID.
func tenantID(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}
