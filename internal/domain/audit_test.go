package domain

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type auditRecorder struct {
	events []AuditEvent
	err    error
	ctxErr error
}

func (r *auditRecorder) AppendAudit(ctx context.Context, e AuditEvent) error {
	r.ctxErr = ctx.Err()
	r.events = append(r.events, e)
	return r.err
}

func TestAuditLogRules(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	rec := &auditRecorder{}
	log := AuditLog{Store: rec, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return at }}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	log.Record(cancelled, AuditEvent{TenantID: "t1", Action: "tenant.suspended"})
	log.Record(context.Background(), AuditEvent{ID: "derived", TenantID: "t1", Action: "tenant.provisioned", At: at.Add(time.Hour)})
	if len(rec.events) != 2 || rec.events[0].ID == "" || !rec.events[0].At.Equal(at) || rec.ctxErr != nil {
		t.Fatalf("events %+v (ctx err %v): want a new ID, now, and a live context", rec.events, rec.ctxErr)
	}
	if rec.events[1].ID != "derived" || !rec.events[1].At.Equal(at.Add(time.Hour)) {
		t.Fatalf("derived event rewritten: %+v", rec.events[1])
	}

	rec.err = Errorf(CodeConflict, "exists")
	log.Record(context.Background(), AuditEvent{ID: "derived", TenantID: "t1", Action: "tenant.provisioned"})
	if logs.Len() != 0 {
		t.Fatalf("a conflict (already recorded) was logged as a failure: %s", logs.String())
	}
	rec.err = errors.New("store down")
	log.Record(context.Background(), AuditEvent{TenantID: "t1", Action: "tenant.resumed"})
	if !strings.Contains(logs.String(), "audit write failed") || !strings.Contains(logs.String(), "tenant.resumed") {
		t.Fatalf("failure not logged: %s", logs.String())
	}
}
