package tablestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Newest-first logs (audit, rejections, runs) use row keys of an inverted
// timestamp plus the escaped ID, so equal times never collide, and page with
// the service's own continuation, wrapped in an opaque token.
const (
	rejectionsPartition = "rejections"
	rejectionIDPrefix   = "id:"
	runsPartition       = "runs"
	runRowPrefix        = "r:"
	runIDRowPrefix      = "id:"
	tokenAudit          = "audit"
	tokenRejections     = "rejections"
	tokenRuns           = "runs"
)

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// AppendAudit stores an event. A zero At is now and an empty ID is random.
// Appending the same event (same ID and At) again succeeds: it is a retry.
func (s *Store) AppendAudit(ctx context.Context, ev domain.AuditEvent) error {
	if err := validKey("tenantId", ev.TenantID); err != nil {
		return err
	}
	if ev.At.IsZero() {
		ev.At = s.now()
	}
	if ev.ID == "" {
		ev.ID = newID()
	}
	e := newEntity(s.audit.name, ev.TenantID, invertedTime(ev.At)+"_"+escapeKey(ev.ID)).
		str("EventID", ev.ID).
		time("At", ev.At).
		str("Action", ev.Action).
		str("Actor", ev.Actor).
		text("ActorName", ev.ActorName).
		str("FromState", string(ev.FromState)).
		str("ToState", string(ev.ToState)).
		text("Reason", ev.Reason).
		str("SourceIP", ev.SourceIP).
		json("Details", ev.Details, len(ev.Details) == 0)
	if _, err := s.audit.add(ctx, e); err != nil && !isCode(err, domain.CodeConflict) {
		return err
	}
	return nil
}

// ListAudit pages a tenant's audit trail, newest first.
func (s *Store) ListAudit(ctx context.Context, tenantID string, size int, continuation string) (domain.Page[domain.AuditEvent], error) {
	if err := validKey("tenantId", tenantID); err != nil {
		return domain.Page[domain.AuditEvent]{}, err
	}
	rows, next, err := s.logPage(ctx, s.audit, "PartitionKey eq "+quote(tenantID), tokenAudit, tenantID, size, continuation)
	if err != nil {
		return domain.Page[domain.AuditEvent]{}, err
	}
	page := domain.Page[domain.AuditEvent]{Next: next}
	for _, r := range rows {
		ev := domain.AuditEvent{
			ID:        r.str("EventID"),
			TenantID:  r.str("PartitionKey"),
			At:        r.time("At"),
			Action:    r.str("Action"),
			Actor:     r.str("Actor"),
			ActorName: r.str("ActorName"),
			FromState: domain.Status(r.str("FromState")),
			ToState:   domain.Status(r.str("ToState")),
			Reason:    r.str("Reason"),
			SourceIP:  r.str("SourceIP"),
		}
		r.json("Details", &ev.Details)
		if r.err != nil {
			return domain.Page[domain.AuditEvent]{}, r.err
		}
		page.Items = append(page.Items, ev)
	}
	return page, nil
}

// AddRejection stores a rejection once per ID: the record and a pointer row
// "id:<escaped id>" go in one transaction, so a redelivered message (same
// ID, later At) finds the pointer and is not recorded twice. A zero At is
// now and an empty ID random. Reason, Field and BodyPrefix are cut to fit
// Azure's limits (entity.text), so a rejection can always be stored.
func (s *Store) AddRejection(ctx context.Context, rj domain.Rejection) error {
	if rj.At.IsZero() {
		rj.At = s.now()
	}
	if rj.ID == "" {
		rj.ID = newID()
	}
	rk := invertedTime(rj.At) + "_" + escapeKey(rj.ID)
	pointer := newEntity(s.rejections.name, rejectionsPartition, rejectionIDPrefix+escapeKey(rj.ID)).
		str("RejectionRowKey", rk)
	e := newEntity(s.rejections.name, rejectionsPartition, rk).
		str("RejectionID", rj.ID).
		time("At", rj.At).
		text("Source", rj.Source).
		text("MessageID", rj.MessageID).
		text("RequestID", rj.RequestID).
		text("TenantID", rj.TenantID).
		text("Field", rj.Field).
		text("Reason", rj.Reason).
		text("BodyPrefix", rj.BodyPrefix)
	ops := []batchOp{
		{kind: aztables.TransactionTypeAdd, e: pointer},
		{kind: aztables.TransactionTypeAdd, e: e},
	}
	published := false
	if rj.IsProvisioning() {
		// The provisioning-rejected event commits with the rejection.
		op, _, err := s.rejectionEventOp(rj)
		if err != nil {
			return err
		}
		ops, published = append(ops, op), true
	}
	err := s.rejections.submit(ctx, ops)
	if isCode(err, domain.CodeConflict) {
		return nil // recorded before (a redelivery)
	}
	if err != nil {
		return fmt.Errorf("record rejection %q: %w", rj.ID, err)
	}
	if published {
		s.notifyEvents(ctx, domain.OutboxRejections)
	}
	return nil
}

// ListRejections pages rejections, newest first.
func (s *Store) ListRejections(ctx context.Context, size int, continuation string) (domain.Page[domain.Rejection], error) {
	// Records have digit row keys; pointer rows ("id:...") sort after them.
	filter := "PartitionKey eq " + quote(rejectionsPartition) + " and RowKey lt " + quote(rejectionIDPrefix)
	rows, next, err := s.logPage(ctx, s.rejections, filter, tokenRejections, "", size, continuation)
	if err != nil {
		return domain.Page[domain.Rejection]{}, err
	}
	page := domain.Page[domain.Rejection]{Next: next}
	for _, r := range rows {
		rj := domain.Rejection{
			ID:         r.str("RejectionID"),
			At:         r.time("At"),
			Source:     r.str("Source"),
			MessageID:  r.str("MessageID"),
			RequestID:  r.str("RequestID"),
			TenantID:   r.str("TenantID"),
			Field:      r.str("Field"),
			Reason:     r.str("Reason"),
			BodyPrefix: r.str("BodyPrefix"),
		}
		if r.err != nil {
			return domain.Page[domain.Rejection]{}, r.err
		}
		page.Items = append(page.Items, rj)
	}
	return page, nil
}

// CreateRevalidationRun inserts the run (CodeConflict if the run ID exists)
// and sets r.ETag. The record and its by-ID pointer go in one transaction
// in the runs partition. A zero StartedAt is now.
func (s *Store) CreateRevalidationRun(ctx context.Context, run *domain.RevalidationRun) error {
	if run.RunID == "" {
		return domain.FieldError("runId", "is required")
	}
	if run.StartedAt.IsZero() {
		run.StartedAt = s.now()
	}
	run.StartedAt, run.FinishedAt = storedTime(run.StartedAt), storedTime(run.FinishedAt)
	rk := runRowKey(run)
	pointer := newEntity(s.runs.name, runsPartition, runIDRowPrefix+escapeKey(run.RunID)).
		str("RunRowKey", rk)
	err := s.runs.submit(ctx, []batchOp{
		{kind: aztables.TransactionTypeAdd, e: pointer},
		{kind: aztables.TransactionTypeAdd, e: runEntity(s.runs.name, rk, run)},
	})
	if err != nil {
		return fmt.Errorf("revalidation run %q: %w", run.RunID, err)
	}
	// The transaction response carries no ETags; read the version back.
	r, err := s.runs.get(ctx, runsPartition, rk)
	if err != nil {
		return fmt.Errorf("revalidation run %q: read back: %w", run.RunID, err)
	}
	run.ETag = r.etag
	return nil
}

// GetRevalidationRun finds a run by ID through its pointer row.
func (s *Store) GetRevalidationRun(ctx context.Context, runID string) (*domain.RevalidationRun, error) {
	if runID == "" {
		return nil, domain.FieldError("runId", "is required")
	}
	p, err := s.runs.get(ctx, runsPartition, runIDRowPrefix+escapeKey(runID))
	if err != nil {
		return nil, fmt.Errorf("revalidation run %q: %w", runID, err)
	}
	rk := p.str("RunRowKey")
	if p.err != nil {
		return nil, p.err
	}
	r, err := s.runs.get(ctx, runsPartition, rk)
	if err != nil {
		return nil, fmt.Errorf("revalidation run %q: %w", runID, err)
	}
	return runFromRow(r)
}

// UpdateRevalidationRun replaces the run if r.ETag is current and sets
// r.ETag. StartedAt must not change: it is part of the row key.
func (s *Store) UpdateRevalidationRun(ctx context.Context, run *domain.RevalidationRun) error {
	if run.RunID == "" {
		return domain.FieldError("runId", "is required")
	}
	run.StartedAt, run.FinishedAt = storedTime(run.StartedAt), storedTime(run.FinishedAt)
	etag, err := s.runs.replace(ctx, runEntity(s.runs.name, runRowKey(run), run), run.ETag)
	if err != nil {
		return fmt.Errorf("revalidation run %q: %w", run.RunID, err)
	}
	run.ETag = etag
	return nil
}

// ListRevalidationRuns pages runs, newest first (pointer rows excluded by
// the row-key range).
func (s *Store) ListRevalidationRuns(ctx context.Context, size int, continuation string) (domain.Page[*domain.RevalidationRun], error) {
	filter := "PartitionKey eq " + quote(runsPartition) +
		" and RowKey ge " + quote(runRowPrefix) + " and RowKey lt " + quote(prefixEnd(runRowPrefix))
	rows, next, err := s.logPage(ctx, s.runs, filter, tokenRuns, "", size, continuation)
	if err != nil {
		return domain.Page[*domain.RevalidationRun]{}, err
	}
	page := domain.Page[*domain.RevalidationRun]{Next: next}
	for _, r := range rows {
		run, err := runFromRow(r)
		if err != nil {
			return domain.Page[*domain.RevalidationRun]{}, err
		}
		page.Items = append(page.Items, run)
	}
	return page, nil
}

func runRowKey(run *domain.RevalidationRun) string {
	return runRowPrefix + invertedTime(run.StartedAt) + ":" + escapeKey(run.RunID)
}

func runEntity(table, rk string, run *domain.RevalidationRun) *entity {
	return newEntity(table, runsPartition, rk).
		str("RunID", run.RunID).
		time("StartedAt", run.StartedAt).
		time("FinishedAt", run.FinishedAt).
		str("Trigger", run.Trigger).
		int32("Tenants", run.Tenants).
		int32("Batches", run.Batches).
		int32("Checked", run.Checked).
		int32("Transitions", run.Transitions).
		int32("Failures", run.Failures)
}

func runFromRow(r *row) (*domain.RevalidationRun, error) {
	run := &domain.RevalidationRun{
		RunID:       r.str("RunID"),
		StartedAt:   r.time("StartedAt"),
		FinishedAt:  r.time("FinishedAt"),
		Trigger:     r.str("Trigger"),
		Tenants:     r.int("Tenants"),
		Batches:     r.int("Batches"),
		Checked:     r.int("Checked"),
		Transitions: r.int("Transitions"),
		Failures:    r.int("Failures"),
		ETag:        r.etag,
	}
	if r.err != nil {
		return nil, r.err
	}
	return run, nil
}

// prefixEnd is the smallest string greater than every string with prefix p
// (p ends in an ASCII character below 0x7f).
func prefixEnd(p string) string {
	return p[:len(p)-1] + string(p[len(p)-1]+1)
}

// logPage fetches up to size rows of a newest-first log, resuming from the
// token. scope binds a token to its partition (the tenant for audit).
func (s *Store) logPage(ctx context.Context, t *table, filter, kind, scope string, size int, continuation string) ([]*row, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	var from *serviceToken
	if continuation != "" {
		parts, err := decodeToken(continuation, kind, 3)
		if err != nil {
			return nil, "", err
		}
		if parts[0] != scope {
			return nil, "", domain.FieldError("continuation", "belongs to another listing")
		}
		from = &serviceToken{pk: parts[1], rk: parts[2]}
	}
	var rows []*row
	// The service may return a short page with a continuation (timeouts,
	// partition boundaries); keep asking until the page is full.
	for {
		got, next, err := t.query(ctx, filter, n-len(rows), from)
		if err != nil {
			return nil, "", err
		}
		rows = append(rows, got...)
		if next == nil {
			return rows, "", nil
		}
		if len(rows) >= n {
			return rows, encodeToken(kind, scope, next.pk, next.rk), nil
		}
		from = next
	}
}
