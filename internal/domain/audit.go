package domain

import (
	"context"
	"log/slog"
	"time"
)

// AuditAppender is the part of the store the audit log writes to.
type AuditAppender interface {
	AppendAudit(ctx context.Context, e AuditEvent) error
}

// Actor is who asked for a change, as the audit trail names them.
type Actor struct {
	ID   string // "operator:<oid>", "crm:<requestId>", "system:revalidation", ...
	Name string // display name, when known
}

// auditWriteTimeout bounds one audit write; it runs detached from the
// request, so a caller that went away still leaves its trail.
const auditWriteTimeout = 10 * time.Second

// AuditLog is the one audit writer every flow uses. Its rules: an event
// keeps its ID when the flow derived one (a retry then writes the same row,
// and the store's conflict means "already recorded"), else gets a new one;
// a zero time becomes now; a failed write is logged, never returned: the
// business action it records has already happened.
type AuditLog struct {
	Store  AuditAppender
	Logger *slog.Logger
	Now    func() time.Time // nil: time.Now
}

// RecordAs writes e as done by actor.
func (a AuditLog) RecordAs(ctx context.Context, actor Actor, e AuditEvent) {
	e.Actor, e.ActorName = actor.ID, actor.Name
	a.Record(ctx, e)
}

// Record writes e under the rules above.
func (a AuditLog) Record(ctx context.Context, e AuditEvent) {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.At.IsZero() {
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		e.At = now().UTC()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	err := a.Store.AppendAudit(ctx, e)
	if err == nil || ErrorCode(err) == CodeConflict {
		return
	}
	logger := a.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger.ErrorContext(ctx, "audit write failed", "tenantId", e.TenantID, "action", e.Action, "auditId", e.ID, "err", err)
}
