package consent

import (
	"context"
	"log/slog"
	"net/netip"
	"net/url"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// logLines are the JSON log records with message msg.
func logLines(t *testing.T, logs *testkit.SyncBuffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range logs.Records(t) {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// One log line per business event, naming the tenant: consent started,
// refused (reason and IP) and verified (outcome); the refusal audit event
// carries the reason and IP too.
func TestBusinessEventLogLines(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	logs := &testkit.SyncBuffer{}
	e.svc.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	tn := e.tenant()
	token := e.token(tn.TenantID)

	outside := netip.MustParseAddr("203.0.113.9")
	if _, err := e.svc.Start(context.Background(), token, outside); err == nil {
		t.Fatal("start from outside the allow-list succeeded")
	}
	res, err := e.svc.Start(context.Background(), token, adminIP)
	if err != nil {
		t.Fatal(err)
	}
	ru, _ := url.Parse(res.RedirectURL)
	e.answer(allRoles)
	if _, err := e.callback(success(tn.TenantID, ru.Query().Get("state"))); err != nil {
		t.Fatal(err)
	}

	for msg, want := range map[string]map[string]any{
		"consent refused":  {"tenantId": tn.TenantID, "reason": "ip-not-allowed", "ip": outside.String()},
		"consent started":  {"tenantId": tn.TenantID, "ip": adminIP.String()},
		"consent verified": {"tenantId": tn.TenantID, "outcome": "granted", "ip": adminIP.String()},
	} {
		lines := logLines(t, logs, msg)
		if len(lines) != 1 {
			t.Errorf("%q logged %d times, want 1", msg, len(lines))
			continue
		}
		for k, v := range want {
			if lines[0][k] != v {
				t.Errorf("%q: %s = %v, want %v", msg, k, lines[0][k], v)
			}
		}
	}
	ref := teststore.AuditActions(t, e.store, tn.TenantID)["consent.refused"]
	if len(ref) != 1 || ref[0].Reason != "ip-not-allowed" || ref[0].SourceIP != outside.String() {
		t.Errorf("refusal audit = %+v", ref)
	}
}
