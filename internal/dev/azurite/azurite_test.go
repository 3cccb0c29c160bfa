package azurite_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
)

func newClient(t *testing.T, conn string) *aztables.ServiceClient {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(conn, &aztables.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	return svc
}

func TestStartCreateTableStopRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := azurite.Start(ctx, azurite.Options{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	t.Logf("azurite table service on 127.0.0.1:%d", srv.Port())

	conn := srv.ConnectionString()
	if !strings.Contains(conn, "TableEndpoint=http://127.0.0.1:"+strconv.Itoa(srv.Port())+"/devstoreaccount1;") {
		t.Fatalf("connection string %q lacks the table endpoint", conn)
	}
	svc := newClient(t, conn)
	if _, err := svc.CreateTable(ctx, "harness", nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
	tbl := svc.NewClient("harness")
	if _, err := tbl.AddEntity(ctx, []byte(`{"PartitionKey":"p","RowKey":"r","V":"x"}`), nil); err != nil {
		t.Fatalf("add entity: %v", err)
	}
	got, err := tbl.GetEntity(ctx, "p", "r", nil)
	if err != nil || !strings.Contains(string(got.Value), `"V":"x"`) {
		t.Fatalf("get entity = %s, %v", got.Value, err)
	}

	port := srv.Port()
	if err := srv.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatalf("second stop must be a no-op: %v", err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections after Stop", port)
	}
	if _, err := tbl.GetEntity(ctx, "p", "r", nil); err == nil {
		t.Fatal("get entity succeeded against a stopped server")
	}

	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	if srv.Port() != port {
		t.Fatalf("restart moved the port from %d to %d", port, srv.Port())
	}
	// In-memory data is gone after a restart; the service answers again.
	_, err = tbl.GetEntity(ctx, "p", "r", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("after restart, get entity = %v; want a 404 from the fresh service", err)
	}
	if _, err := svc.CreateTable(ctx, "harness", nil); err != nil {
		t.Fatalf("create table after restart: %v", err)
	}
}

func TestPersistentLocationSurvivesRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := azurite.Start(ctx, azurite.Options{Location: t.TempDir()})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	svc := newClient(t, srv.ConnectionString())
	if _, err := svc.CreateTable(ctx, "kept", nil); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	_, err = svc.CreateTable(ctx, "kept", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 409 {
		t.Fatalf("create table after restart = %v; want 409 because the table persisted", err)
	}
}

func TestMissingNodeModules(t *testing.T) {
	t.Parallel()
	_, err := azurite.Start(context.Background(), azurite.Options{RepoRoot: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "npm ci") {
		t.Fatalf("Start without node_modules = %v; want an error telling to run npm ci", err)
	}
}

func TestPortInUseFailsClearly(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Something else owns the port: Azurite must fail, not report success
	// because the port answers.
	port := l.Addr().(*net.TCPAddr).Port
	srv, err := azurite.Start(context.Background(), azurite.Options{Port: port})
	if err == nil {
		_ = srv.Stop()
		t.Fatal("Start on a port another listener owns succeeded")
	}
}
