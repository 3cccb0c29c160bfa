package provisioning

import (
	"context"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// A crash between creating the tenant and writing tenant.provisioned: the
// retry writes the event, once, and completes the request.
func TestRetryAfterCrashWritesTheAuditRowOnce(t *testing.T) {
	t.Parallel()
	s, cs, store, pub := newService(t)
	ctx := context.Background()
	cs.crash = true
	if _, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"}); !domain.IsTransient(err) {
		t.Fatalf("crashed attempt: %v; want a transient error", err)
	}
	if got := auditActions(t, store); len(got) != 0 {
		t.Fatalf("audit after the crash: %v", got)
	}
	cs.crash = false
	for i := range 3 { // the redelivery, then two more
		res, err := s.Provision(ctx, []byte(body), Source{Kind: "queue", MessageID: "m-1"})
		if err != nil {
			t.Fatalf("retry %d: %v", i, err)
		}
		if i == 0 && res.Outcome != OutcomeCreated {
			t.Fatalf("retry outcome %s; want created", res.Outcome)
		}
	}
	if got := auditActions(t, store); len(got) != 1 || got[0] != "tenant.provisioned" {
		t.Fatalf("audit = %v; want one tenant.provisioned", got)
	}
	if n := pub.Count("consent-link:"); n < 1 {
		t.Fatal("no consent link published")
	}
	if n := pub.Count("consent-reminder:"); n < 1 {
		t.Fatal("the retry of a new tenant did not schedule the reminder")
	}
}

// The longest request ID the contract allows (128 characters) still gives
// consent-email jobs whose message IDs Service Bus accepts; otherwise every
// retry's publish would fail and the tenant would never get its link.
func TestLongRequestIDKeepsMessageIDsWithinServiceBusLimits(t *testing.T) {
	t.Parallel()
	s, _, _, pub := newService(t)
	long := strings.Repeat("R", 128)
	if _, err := s.Provision(context.Background(), []byte(strings.Replace(body, "CRM-1", long, 1)), Source{Kind: "queue", MessageID: "m-long"}); err != nil {
		t.Fatal(err)
	}
	sent := pub.Sent()
	if len(sent) != 2 {
		t.Fatalf("published %d messages; want link and reminder", len(sent))
	}
	for _, m := range sent {
		if len(m.Job.IdempotencyKey) > domain.MaxMessageIDLength {
			t.Errorf("message ID is %d characters; Service Bus allows %d", len(m.Job.IdempotencyKey), domain.MaxMessageIDLength)
		}
	}
}
