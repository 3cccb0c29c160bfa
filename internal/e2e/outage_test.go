package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/azurite"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// Table Storage goes away mid-run: deliveries fail transiently and are
// completed and re-sent with back-off; once it is back every request
// completes exactly once. Azurite persists to disk here so a restart keeps
// the data.
func TestStorageOutageThenRecovery(t *testing.T) {
	t.Parallel()
	az, err := azurite.Start(context.Background(), azurite.Options{Location: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = az.Stop() })
	s := newStack(t, stackOptions{az: az, maxDeliveryCount: 100,
		redelivery: func(n int) time.Duration { return min(time.Duration(n)*50*time.Millisecond, 500*time.Millisecond) }})
	before := lastSeq(s.sb)

	if err := az.Stop(); err != nil {
		t.Fatal(err)
	}
	const n = 8
	ids := make([]string, n)
	for i := range n {
		ids[i] = newTenantID()
		body := testkit.JSON(t, example(t, ids[i], "CRM-outage-"+ids[i][:8]))
		if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "outage-" + ids[i], Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 30*time.Second, "redeliveries while storage is down", func() bool {
		return s.host.QueueStats(queue.Provisioning).Deliveries >= 3*n
	})
	if err := az.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Back-off copies wait as scheduled messages, which WaitIdle ignores.
	testkit.Eventually(t, 60*time.Second, "every consent email", func() bool {
		for _, id := range ids {
			if len(s.mailsTo(adminEmail(id), before)) == 0 {
				return false
			}
		}
		return s.host.QueueStats(queue.Provisioning).Scheduled == 0
	})
	s.waitIdle()
	// Completed counts every completed delivery, back-off copies included.
	st := s.host.QueueStats(queue.Provisioning)
	if st.DeadLettered != 0 || st.Completed < n {
		t.Fatalf("completed %d dead-lettered %d, want at least %d and 0", st.Completed, st.DeadLettered, n)
	}
	page, err := s.app.Store.ListTenants(context.Background(), domain.TenantFilter{}, 100, "")
	if err != nil || len(page.Items) != n {
		t.Fatalf("tenants = %d, %v", len(page.Items), err)
	}
	for _, id := range ids {
		if got := len(s.mailsTo(adminEmail(id), before)); got != 1 {
			t.Errorf("tenant %s: %d consent-link emails, want 1", id, got)
		}
	}
}

// A message that keeps failing transiently is re-sent with back-off until
// RETRY_BACKOFF_MAX_TOTAL, then lands in the dead-letter queue after
// maxDeliveryCount deliveries through the real handler.
func TestPersistentFailureIsDeadLettered(t *testing.T) {
	t.Parallel()
	az, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = az.Stop() })
	s := newStack(t, stackOptions{az: az, maxDeliveryCount: 3, settings: map[string]string{"RETRY_BACKOFF_MAX_TOTAL": "1s"}})
	if err := az.Stop(); err != nil {
		t.Fatal(err)
	}
	id := newTenantID()
	if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "doomed-" + id, Body: testkit.JSON(t, example(t, id, "CRM-doomed"))}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "dead-lettering", func() bool { return len(s.host.DeadLetters(queue.Provisioning)) == 1 })
	dl := s.host.DeadLetters(queue.Provisioning)[0]
	if dl.DeliveryCount != 3 || dl.ApplicationProperties[queue.PropOriginalMessageID] != "doomed-"+id {
		t.Fatalf("dead letter = %+v", dl)
	}
}
