package adminapi

import (
	"net/http"
	"slices"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/operations"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

func withDeadLetters(dl domain.DeadLetters) envOption {
	return func(d *envDeps) { d.Operations.DeadLetters = dl }
}

func TestListDeadLetters(t *testing.T) {
	t.Parallel()
	rec := &queue.Recorder{}
	e := newEnv(t, withDeadLetters(rec))
	tenant := testkit.GUID(t)
	rec.AddDeadLetter(queue.DeadLetter{Queue: queue.Email, MessageID: "consent-link:" + tenant + ":retry:3", Subject: "consent-link",
		ContentType: "application/json", DeliveryCount: 10, Reason: "MaxDeliveryCountExceeded", Description: "10 attempts",
		ApplicationProperties: map[string]any{"kind": "consent-link", queue.PropOriginalMessageID: "consent-link:" + tenant, queue.PropRetryAttempt: int64(3)},
		Body:                  []byte(`{"tenantId":"` + tenant + `","bad":"` + "\xff" + `"}`)})
	rec.AddDeadLetter(queue.DeadLetter{Queue: queue.Provisioning, MessageID: "other"})

	var got deadLetterListView
	e.do(request{method: "GET", path: "/api/admin/deadletters/email", token: e.readerToken}).want(t, http.StatusOK).decode(t, &got)
	if got.Queue != queue.Email || len(got.Items) != 1 {
		t.Fatalf("list = %+v", got)
	}
	it := got.Items[0]
	if it.SequenceNumber != 1 || it.OriginalMessageID == nil || *it.OriginalMessageID != "consent-link:"+tenant ||
		it.TenantID == nil || *it.TenantID != tenant || it.DeadLetterReason != "MaxDeliveryCountExceeded" {
		t.Errorf("item = %+v", it)
	}
	e.do(request{method: "GET", path: "/api/admin/deadletters/email?max=0", token: e.readerToken}).problem(t, http.StatusBadRequest)
	p := e.do(request{method: "GET", path: "/api/admin/deadletters/nosuchqueue", token: e.readerToken, noSpecCheck: true}).problem(t, http.StatusBadRequest)
	if !slices.Contains(p.fields(), "queue") {
		t.Errorf("fields = %v", p.fields())
	}
}

// A resubmit sends a new message ID (the original's is in
// originalMessageId), removes the dead letter, and audits who did it.
func TestResubmitDeadLetters(t *testing.T) {
	t.Parallel()
	rec := &queue.Recorder{}
	e := newEnv(t, withDeadLetters(rec))
	tenant := testkit.GUID(t)
	body := []byte(`{"schemaVersion":1,"tenantId":"` + tenant + `"}`)
	seq := rec.AddDeadLetter(queue.DeadLetter{Queue: queue.Provisioning, MessageID: "crm-77", Body: body,
		ApplicationProperties: map[string]any{"kind": "provisioning"}})
	keep := rec.AddDeadLetter(queue.DeadLetter{Queue: queue.Provisioning, MessageID: "crm-78", Body: []byte(`{}`)})

	// Readers may look, not resubmit.
	e.do(request{method: "POST", path: "/api/admin/deadletters/provisioning/resubmit", token: e.readerToken,
		body: jsonBody(t, map[string]any{"sequenceNumbers": []int64{seq}})}).problem(t, http.StatusForbidden)

	var res resubmitView
	e.do(request{method: "POST", path: "/api/admin/deadletters/provisioning/resubmit", token: e.writerToken,
		body: jsonBody(t, map[string]any{"sequenceNumbers": []int64{seq, 999}})}).want(t, http.StatusOK).decode(t, &res)
	if len(res.Resubmitted) != 1 || res.Resubmitted[0].MessageID == "crm-77" || res.Resubmitted[0].OriginalMessageID != "crm-77" ||
		!slices.Equal(res.NotFound, []int64{999}) {
		t.Fatalf("result = %+v", res)
	}
	sent := rec.Sent(queue.Provisioning)
	if len(sent) != 1 || sent[0].Message.ID != res.Resubmitted[0].MessageID || string(sent[0].Message.Body) != string(body) ||
		sent[0].Message.ApplicationProperties[queue.PropOriginalMessageID] != "crm-77" || sent[0].Message.Kind != "provisioning" ||
		sent[0].Message.ApplicationProperties[queue.PropResubmittedBy] != "operator:"+e.writer.oid {
		t.Fatalf("sent = %+v", sent)
	}
	left, _ := rec.ListDeadLetters(t.Context(), queue.Provisioning, 10)
	if len(left) != 1 || left[0].SequenceNumber != keep {
		t.Errorf("left = %+v", left)
	}
	evs := e.events(tenant)
	if len(evs) != 1 || evs[0].Action != "deadletter.resubmitted" || evs[0].Actor != "operator:"+e.writer.oid ||
		evs[0].Details["originalMessageId"] != "crm-77" || evs[0].Details["messageId"] != res.Resubmitted[0].MessageID {
		t.Errorf("audit = %+v", evs)
	}

	// all: the rest; a message without a tenant is audited in the operations partition.
	e.do(request{method: "POST", path: "/api/admin/deadletters/provisioning/resubmit", token: e.writerToken,
		body: []byte(`{"all":true}`)}).want(t, http.StatusOK).decode(t, &res)
	if len(res.Resubmitted) != 1 || res.Resubmitted[0].SequenceNumber != keep || len(res.NotFound) != 0 {
		t.Fatalf("all = %+v", res)
	}
	if evs := e.events(operations.DeadLetterAuditPartition); len(evs) != 1 || evs[0].Details["deadLetterMessageId"] != "crm-78" {
		t.Errorf("operations audit = %+v", evs)
	}
}

func TestResubmitRejectsBadSelections(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withDeadLetters(&queue.Recorder{}))
	for _, body := range []string{`{}`, `{"all":false}`, `{"all":true,"sequenceNumbers":[1]}`, `{"sequenceNumbers":[]}`,
		`{"sequenceNumbers":[-1]}`, `{"sequenceNumbers":["1"]}`, `{"sequenceNumbers":[1.5]}`, `{"everything":true}`} {
		e.do(request{method: "POST", path: "/api/admin/deadletters/email/resubmit", token: e.writerToken, body: []byte(body)}).problem(t, http.StatusBadRequest)
	}
}

func TestDeadLettersUnavailableWithoutPort(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.do(request{method: "GET", path: "/api/admin/deadletters/email", token: e.readerToken}).problem(t, http.StatusServiceUnavailable)
}
