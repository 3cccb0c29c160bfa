package provisioning

import (
	"context"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A rejected request redelivered (same message ID, later) is recorded
// once, each delivery alerting with the same key (de-duplicated by the
// email claim).
func TestRedeliveredRejectionRecordedOnce(t *testing.T) {
	t.Parallel()
	s, _, store, pub := newService(t)
	ctx := context.Background()
	bad := strings.Replace(body, `"schemaVersion":1`, `"schemaVersion":2`, 1)
	for range 2 {
		if _, err := s.Provision(ctx, []byte(bad), Source{Kind: "queue", MessageID: "bad-1"}); domain.ErrorCode(err) != domain.CodeInvalid {
			t.Fatalf("bad request: %v", err)
		}
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("rejections = %d (%v); want 1", len(page.Items), err)
	}
	if pub.Count("ops-alert:rejection:") != 2 {
		t.Fatalf("alerts published = %d", pub.Count("ops-alert:rejection:"))
	}
	if sent := pub.Sent(); sent[0].Job.IdempotencyKey != sent[1].Job.IdempotencyKey {
		t.Fatal("the two alerts do not share one key")
	}
}
