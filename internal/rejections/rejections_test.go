package rejections

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

type refusingStore struct {
	domain.TenantStore
	err error
}

func (s refusingStore) AddRejection(context.Context, domain.Rejection) error { return s.err }

type pub struct{ msgs []queue.Message }

func (p *pub) Publish(_ context.Context, _ string, m ...queue.Message) error {
	p.msgs = append(p.msgs, m...)
	return nil
}
func (p *pub) Close(context.Context) error { return nil }

// A store that refuses the rejection for good still leaves a trace: the
// alert goes out carrying the reason, the log says it was NOT stored, and
// the message is completed (no error). A transient failure is returned so
// the message is retried.
func TestRecordAlwaysAlertsAndLogsTheTruth(t *testing.T) {
	var logs bytes.Buffer
	p := &pub{}
	r := Recorder{Store: refusingStore{err: domain.Errorf(domain.CodeInternal, "refused")}, Outbox: queue.Outbox{Publisher: p},
		OpsEmails: []string{"ops@videosrv.net"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	rj := domain.Rejection{ID: "queue:email:m1", Source: "queue:email", Reason: strings.Repeat("é", 100_000), TenantID: "not-a-guid"}
	out, err := r.Record(context.Background(), rj, "Email job rejected", true)
	if err != nil || out.Stored || !out.Alerted {
		t.Fatalf("outcome %+v, %v; want alerted, not stored, no error", out, err)
	}
	if !strings.Contains(logs.String(), "could NOT be stored") || strings.Contains(logs.String(), "recorded,") {
		t.Fatalf("log does not say what happened: %s", logs.String())
	}
	var job domain.EmailJob
	if err := json.Unmarshal(p.msgs[0].Body, &job); err != nil {
		t.Fatal(err)
	}
	// The alert is itself a valid email job, however large the reason.
	if _, err := domain.DecodeEmailJob(p.msgs[0].Body); err != nil {
		t.Fatalf("alert is not a valid job: %v", err)
	}
	if !strings.Contains(job.Alert.Detail, "could not be stored") || len(job.Alert.Detail) > 2100 || len(p.msgs[0].ID) > 128 {
		t.Fatalf("alert detail %d bytes, id %q", len(job.Alert.Detail), p.msgs[0].ID)
	}

	r.Store = refusingStore{err: domain.Errorf(domain.CodeUnavailable, "storage down")}
	if _, err := r.Record(context.Background(), rj, "x", true); !domain.IsTransient(err) {
		t.Fatalf("transient store failure: %v; want it returned", err)
	}
}

// The IDs and the alert key keep their historic formats: a redelivery
// after an upgrade must find the same rejection and the same alert job.
func TestIDAndAlertKeyKeepTheirFormats(t *testing.T) {
	sum := sha256.Sum256([]byte("body"))
	if got, want := domain.RejectionID("email", "", []byte("body")), "email:sha256-"+hex.EncodeToString(sum[:12]); got != want {
		t.Errorf("ID = %q, want %q", got, want)
	}
	if got := domain.RejectionID("revalidation", "m-1", []byte("body")); got != "revalidation:m-1" {
		t.Errorf("ID with a message ID = %q", got)
	}
	p := &pub{}
	r := Recorder{Store: refusingStore{}, Outbox: queue.Outbox{Publisher: p}, OpsEmails: []string{"ops@videosrv.net", "ops@videosrv.net"},
		Logger: slog.New(slog.DiscardHandler)}
	if err := r.RecordRejection(context.Background(), domain.Rejection{ID: "queue:email:m1", Reason: "bad"}, "x", true); err != nil {
		t.Fatal(err)
	}
	idSum := sha256.Sum256([]byte("queue:email:m1"))
	if len(p.msgs) != 1 || p.msgs[0].ID != "ops-alert:rejection:"+hex.EncodeToString(idSum[:12]) ||
		!strings.HasPrefix(p.msgs[0].ID, domain.RejectionAlertKeyPrefix) {
		t.Fatalf("alert %+v", p.msgs)
	}
	job, err := domain.DecodeEmailJob(p.msgs[0].Body)
	if err != nil || len(job.Recipients) != 1 {
		t.Fatalf("alert job %+v, %v; want one recipient", job, err)
	}
}
