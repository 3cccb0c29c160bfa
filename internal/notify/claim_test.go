package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/domain/outboxtest"
	"github.com/onemeeting/cvi-onboarding/internal/email"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// These tests run the claim logic on a real Azurite (the store's ETags and
// conflicts are what the claim relies on), with a recording mail sender.

func TestMain(m *testing.M) { testkit.Main(m) }

type recordingSender struct {
	mu    sync.Mutex
	sent  []domain.OutgoingMail
	delay time.Duration
}

func (r *recordingSender) SendMail(ctx context.Context, m domain.OutgoingMail) error {
	if r.delay > 0 {
		time.Sleep(r.delay) // a slow mail service, so deliveries overlap
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, m)
	return nil
}

func (r *recordingSender) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sent)
}

func newService(t *testing.T, lease time.Duration) (*Service, *recordingSender, *outboxtest.Outbox, *tablestore.Store) {
	t.Helper()
	store := teststore.New(t, tablestore.Options{})
	r, err := email.NewRenderer(email.Branding{ServiceName: "OneMeeting CVI", SupportEmail: "support@videosrv.net", TrustedDomain: "videosrv.net"})
	if err != nil {
		t.Fatal(err)
	}
	sender, out := &recordingSender{}, &outboxtest.Outbox{}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ops := []string{"ops@videosrv.net"}
	s := &Service{Store: store, Sender: sender, Renderer: r, Outbox: out, OpsEmails: ops,
		Rejections: &rejections.Recorder{Store: store, Outbox: out, OpsEmails: ops, Logger: logger},
		Lease:      lease, Now: time.Now, Logger: logger}
	return s, sender, out, store
}

func alertJob(key string) []byte {
	b, _ := json.Marshal(domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, Recipients: []string{"ops@videosrv.net"},
		IdempotencyKey: key, Alert: &domain.Alert{Subject: "Test", Detail: "claim test"}})
	return b
}

// leftClaim writes the record a delivery that died after claiming leaves.
func leftClaim(t *testing.T, store *tablestore.Store, key, owner, status string, leaseEnds time.Time) {
	t.Helper()
	now := time.Now().UTC()
	if err := store.ClaimMail(context.Background(), &domain.MailRecord{Key: key, Status: status, Owner: owner, Kind: domain.EmailOpsAlert, LeaseEnds: leaseEnds, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// A redelivery of the same message finds the claim its dead predecessor (or
// its own late-applied "ghost" write) left, and re-enters it at once
// instead of reporting "being sent by another delivery".
func TestRetryReentersItsOwnClaim(t *testing.T) {
	t.Parallel()
	s, sender, _, store := newService(t, time.Minute)
	leftClaim(t, store, "ops-alert:reenter", "msg-1", StatusSending, time.Now().Add(time.Minute))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // far less than the lease
	defer cancel()
	out, err := s.Handle(ctx, alertJob("ops-alert:reenter"), "msg-1")
	if err != nil || out != OutcomeSent || sender.count() != 1 {
		t.Fatalf("retry: %s %v, sent %d; want sent once", out, err, sender.count())
	}
	out, err = s.Handle(ctx, alertJob("ops-alert:reenter"), "msg-1")
	if err != nil || out != OutcomeDuplicate || sender.count() != 1 {
		t.Fatalf("after sending: %s %v, sent %d", out, err, sender.count())
	}
}

// A claim whose holder died (it no longer renews) is taken over once its
// short lease ends, within the same delivery.
func TestDeadHoldersClaimTakenOverAfterItsLease(t *testing.T) {
	t.Parallel()
	s, sender, _, store := newService(t, 2*time.Second)
	for _, status := range []string{StatusSending, StatusSubmitting} {
		key := "ops-alert:dead-" + status
		ends := time.Now().Add(1500 * time.Millisecond)
		leftClaim(t, store, key, "msg-dead", status, ends)
		before := sender.count()
		out, err := s.Handle(context.Background(), alertJob(key), "msg-other")
		if err != nil || out != OutcomeSent || sender.count() != before+1 {
			t.Fatalf("%s: %s %v; want sent once", status, out, err)
		}
		if time.Now().Before(ends) {
			t.Fatalf("%s: sent before the dead holder's lease ended", status)
		}
	}
}

// A live holder that renews its claim is never overtaken: a second,
// different delivery of the same job waits, then finds it sent (or gives
// up for later); the email goes out once.
func TestConcurrentDifferentDeliveriesSendOnce(t *testing.T) {
	t.Parallel()
	s, sender, _, _ := newService(t, 600*time.Millisecond)
	sender.delay = 1500 * time.Millisecond // longer than the lease: only renewal keeps it
	var wg sync.WaitGroup
	outs := make([]Outcome, 4)
	errs := make([]error, 4)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = s.Handle(context.Background(), alertJob("ops-alert:concurrent"), fmt.Sprintf("copy-%d", i))
		}()
	}
	wg.Wait()
	if sender.count() != 1 {
		t.Fatalf("sent %d times; want once (outcomes %v, errors %v)", sender.count(), outs, errs)
	}
	for i, err := range errs {
		if err != nil && !domain.IsTransient(err) {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	out, err := s.Handle(context.Background(), alertJob("ops-alert:concurrent"), "copy-late")
	if err != nil || out != OutcomeDuplicate || sender.count() != 1 {
		t.Fatalf("late copy: %s %v, sent %d", out, err, sender.count())
	}
}

// A holder that lost its claim (another delivery took it over) does not
// send: the fence before sending fails.
func TestLostClaimDoesNotSend(t *testing.T) {
	t.Parallel()
	s, sender, _, store := newService(t, time.Minute)
	ctx := context.Background()
	job, err := domain.DecodeEmailJob(alertJob("ops-alert:fence"))
	if err != nil {
		t.Fatal(err)
	}
	h, ok, err := s.claim(ctx, job, "msg-a")
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	defer h.stop()
	rec, err := store.GetMail(ctx, "ops-alert:fence")
	if err != nil {
		t.Fatal(err)
	}
	rec.Owner, rec.UpdatedAt = "msg-b", time.Now().UTC() // taken over
	if err := store.UpdateMail(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := h.update(ctx, StatusSubmitting, ""); domain.ErrorCode(err) != domain.CodePreconditionFailed {
		t.Fatalf("fence after losing the claim: %v", err)
	}
	if sender.count() != 0 {
		t.Fatal("sent")
	}
}

// A job that can never be sent is recorded and operations alerted, even
// with a 60 KB body and a character cut at byte 1024; a rejected rejection
// alert is recorded but not alerted about again (no loop).
func TestBadJobRecordedAndAlerted(t *testing.T) {
	t.Parallel()
	s, _, pub, store := newService(t, time.Minute)
	ctx := context.Background()
	body := `{"schemaVersion":1,"note":"` + strings.Repeat("a", 1023-len(`{"schemaVersion":1,"note":"`)) + "é" + strings.Repeat("x", 60000) + `"}`
	if body[1023:1025] != "é" {
		t.Fatal("test body: é is not at byte 1023-1024")
	}
	out, err := s.Handle(ctx, []byte(body), "bad-1")
	if err != nil || out != OutcomeFailed {
		t.Fatalf("bad job: %s %v; want completed as failed", out, err)
	}
	out, err = s.Handle(ctx, []byte(body), "bad-1") // redelivered
	if err != nil || out != OutcomeFailed {
		t.Fatalf("redelivered: %s %v", out, err)
	}
	page, err := store.ListRejections(ctx, 10, "")
	if err != nil || len(page.Items) != 1 {
		t.Fatalf("rejections %d, %v; want 1", len(page.Items), err)
	}
	if r := page.Items[0]; r.MessageID != "bad-1" || r.Field != "note" || !strings.HasSuffix(r.BodyPrefix, "a") {
		t.Fatalf("rejection %+v", r)
	}
	jobs := pub.Jobs("")
	if len(jobs) == 0 || jobs[0].Kind != domain.EmailOpsAlert || !strings.HasPrefix(jobs[0].IdempotencyKey, "ops-alert:rejection:") {
		t.Fatalf("alerts %+v", jobs)
	}
	n := len(jobs)
	// The alert job itself, broken: recorded, not alerted again.
	bad := strings.Replace(string(alertJob(jobs[0].IdempotencyKey)), `"schemaVersion":1`, `"schemaVersion":2`, 1)
	if _, err := s.Handle(ctx, []byte(bad), "bad-alert"); err != nil {
		t.Fatal(err)
	}
	if pub.Count("") != n {
		t.Fatal("a rejected rejection alert was alerted about")
	}
}
