package tablestore

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// azuriteConn is set once by TestMain and only read afterwards.
var azuriteConn string

// TestMain runs every test against one real Azurite. It fails loudly when
// Azurite cannot start: these tests must never silently skip the service.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := azurite.Start(ctx, azurite.Options{})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: cannot start Azurite for the table store tests: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("tablestore: azurite table service on 127.0.0.1:%d\n", srv.Port())
	azuriteConn = srv.ConnectionString()
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop azurite: %v\n", err)
	}
	os.Exit(code)
}

// fastRetry keeps failing calls quick in tests.
var fastRetry = policy.RetryOptions{MaxRetries: 1, RetryDelay: 10 * time.Millisecond, MaxRetryDelay: 50 * time.Millisecond, TryTimeout: 5 * time.Second}

// newTestStore returns a store on fresh tables with a random prefix.
func newTestStore(t *testing.T) *Store {
	t.Helper()
	return newTestStoreOn(t, azuriteConn)
}

func newTestStoreOn(t *testing.T, conn string) *Store {
	t.Helper()
	retry := fastRetry
	s, err := NewFromConnectionString(conn, Options{TablePrefix: randomPrefix(), Retry: &retry})
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

func randomPrefix() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "t" + string(b)
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
