package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// The lifecycle-event outbox. A tenant's events are rows of its own
// partition of the tenants table, written in the same entity-group
// transaction as the tenant record, so an event exists if and only if its
// change committed (Azure: "Performing entity group transactions"). A relay
// (internal/events) publishes unpublished rows in sequence order and marks
// them published; rows stay as a record of what CRM was told.
const (
	eventRowPrefix     = "event-"
	rejectionEventPfx  = "~evt:" // after the rejection records and the "id:" pointers
	maxPendingListRows = 1000
	maxEventIDLength   = 128
)

var _ domain.EventOutbox = (*Store)(nil)

type sinkHolder struct{ sink domain.EventSink }

// sinkRef is shared by copies of a Store.
type sinkRef struct{ p atomic.Pointer[sinkHolder] }

// SetEventSink names who hears of newly committed events (the relay). Set
// it once while wiring, before serving; nil stops the notifications.
func (s *Store) SetEventSink(sink domain.EventSink) {
	if s.sink == nil {
		s.sink = &sinkRef{}
	}
	if sink == nil {
		s.sink.p.Store(nil)
		return
	}
	s.sink.p.Store(&sinkHolder{sink: sink})
}

func (s *Store) notifyEvents(ctx context.Context, partition string) {
	if s.sink == nil {
		return
	}
	if h := s.sink.p.Load(); h != nil {
		h.sink.EventsCommitted(ctx, partition)
	}
}

func eventRowKey(seq int) string { return fmt.Sprintf("%s%010d", eventRowPrefix, seq) }

func outboxEntity(table, pk, rk string, e domain.OutboxEvent) *entity {
	return newEntity(table, pk, rk).
		str("EventID", e.ID).
		str("EventType", string(e.Type)).
		int32("Seq", e.Seq).
		time("EventTime", e.Time).
		str("Subject", e.Subject).
		str("RequestID", e.RequestID).
		str("Data", string(e.Data)).
		flag("Published", e.Published)
}

// flag stores a boolean even when false: a filter on a property an entity
// lacks never matches it, so "Published eq false" needs the false stored.
func (e *entity) flag(name string, v bool) *entity {
	e.props = append(e.props, property{name: name, value: v})
	return e
}

func outboxFromRow(r *row, partition string) domain.OutboxEvent {
	return domain.OutboxEvent{
		ID: r.str("EventID"), Type: domain.EventType(r.str("EventType")), Partition: partition, Subject: r.str("Subject"),
		Seq: r.int("Seq"), Time: r.time("EventTime"), RequestID: r.str("RequestID"), Data: []byte(r.str("Data")),
		Published: r.boolean("Published"), RowKey: r.str("RowKey"),
	}
}

// writeTenantWithEvents inserts (create) or replaces under t.ETag the tenant
// together with its pending events, in one transaction.
func (s *Store) writeTenantWithEvents(ctx context.Context, t *domain.Tenant, create bool) error {
	before := t.EventSeq
	events, err := t.TakeEvents(storedTime(s.now()))
	if err != nil {
		return err
	}
	fail := func(err error) error { t.RestoreEvents(t.EventSeq - before); return err }
	if !create && t.ETag == "" {
		return fail(domain.Errorf(domain.CodeInternal, "update tenants %q without an ETag: read the record first", t.TenantID))
	}
	body, err := tenantEntity(s.tenants.name, t).marshal()
	if err != nil {
		return fail(err)
	}
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeAdd, Entity: body}}
	if !create {
		tag := azcore.ETag(t.ETag)
		actions[0] = aztables.TransactionAction{ActionType: aztables.TransactionTypeUpdateReplace, Entity: body, IfMatch: &tag}
	}
	for _, e := range events {
		b, err := outboxEntity(s.tenants.name, t.TenantID, eventRowKey(e.Seq), e).marshal()
		if err != nil {
			return fail(err)
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: b})
	}
	if _, err := s.tenants.client.SubmitTransaction(ctx, actions, nil); err != nil {
		err = classify(err, "write tenant %s with %d event(s)", t.TenantID, len(events))
		if !create && isCode(err, domain.CodeConflict) {
			// An event row of this number exists: another writer committed
			// it, so our ETag is stale too.
			err = domain.Wrap(domain.CodePreconditionFailed, err, "tenant %s changed meanwhile", t.TenantID)
		}
		return fail(err)
	}
	t.CommittedEvents()
	// A transaction response carries no ETags: read the version back. If
	// someone wrote after us already, the ETag stays one no write can match,
	// so the next update re-reads instead of overwriting their change.
	t.ETag = `W/"outbox-stale"`
	if r, err := s.tenants.get(ctx, t.TenantID, tenantRowKey); err == nil {
		if cur, err := tenantFromRow(r); err == nil && cur.EventSeq == t.EventSeq && cur.UpdatedAt.Equal(t.UpdatedAt) && cur.Status == t.Status {
			t.ETag = r.etag
		}
	}
	for _, e := range events {
		s.log.InfoContext(ctx, "lifecycle event committed", "tenantId", t.TenantID, "eventId", e.ID, "type", e.Type)
	}
	s.notifyEvents(ctx, t.TenantID)
	return nil
}

// rejectionEventOp is the outbox row of a provisioning-rejected event, in
// the rejection's own transaction.
func (s *Store) rejectionEventOp(rj domain.Rejection) (batchOp, domain.OutboxEvent, error) {
	data := domain.RejectionEventData{RequestID: rj.RequestID, TenantID: rj.TenantID, RejectionID: rj.ID, Field: rj.Field,
		Reason: domain.Truncate(rj.Reason, 2000), RejectedAt: rj.At.UTC()}
	raw, err := json.Marshal(data)
	if err != nil {
		return batchOp{}, domain.OutboxEvent{}, domain.Wrap(domain.CodeInternal, err, "encode rejection event %s", rj.ID)
	}
	subject := ""
	if id, err := domain.NormalizeTenantID("tenantId", rj.TenantID); err == nil {
		subject = id
	}
	id := "rejection/" + rj.ID
	if len(id) > maxEventIDLength {
		// Service Bus message IDs are at most 128 characters.
		id = "rejection/sha256-" + domain.Digest(rj.ID, 16)
	}
	e := domain.OutboxEvent{ID: id, Type: domain.EventProvisioningRejected, Partition: domain.OutboxRejections,
		Subject: subject, Time: storedTime(rj.At).UTC(), RequestID: rj.RequestID, Data: raw}
	rk := fmt.Sprintf("%s%019d_%s", rejectionEventPfx, e.Time.UnixNano(), escapeKey(rj.ID))
	e.RowKey = rk
	return batchOp{kind: aztables.TransactionTypeAdd, e: outboxEntity(s.rejections.name, rejectionsPartition, rk, e)}, e, nil
}

// where maps an outbox partition to its table, partition key and row range.
func (s *Store) where(partition string) (*table, string, string) {
	if partition == domain.OutboxRejections {
		return s.rejections, rejectionsPartition, rejectionEventPfx
	}
	return s.tenants, partition, eventRowPrefix
}

// PendingEvents lists a partition's unpublished events, oldest first.
func (s *Store) PendingEvents(ctx context.Context, partition string) ([]domain.OutboxEvent, error) {
	t, pk, prefix := s.where(partition)
	if err := validKey("partition", pk); err != nil {
		return nil, err
	}
	filter := "PartitionKey eq " + quote(pk) + " and RowKey ge " + quote(prefix) + " and RowKey lt " + quote(prefixEnd(prefix)) + " and Published eq false"
	var out []domain.OutboxEvent
	var from *serviceToken
	for {
		rows, next, err := t.query(ctx, filter, maxPageSize, from)
		if err != nil {
			return nil, fmt.Errorf("list pending events of %s: %w", partition, err)
		}
		for _, r := range rows {
			out = append(out, outboxFromRow(r, partition))
		}
		if next == nil || len(out) >= maxPendingListRows {
			break
		}
		from = next
	}
	// Row keys sort by sequence (tenants) or time (rejections) already.
	return out, nil
}

// PendingEventPartitions lists the partitions that hold unpublished events.
// It scans the outbox rows of the whole tenants table: the periodic sweep
// only, never a request path.
func (s *Store) PendingEventPartitions(ctx context.Context) ([]string, error) {
	var out []string
	filter := "RowKey ge " + quote(eventRowPrefix) + " and RowKey lt " + quote(prefixEnd(eventRowPrefix)) + " and Published eq false"
	var from *serviceToken
	for {
		rows, next, err := s.tenants.query(ctx, filter, maxPageSize, from)
		if err != nil {
			return nil, fmt.Errorf("find tenants with pending events: %w", err)
		}
		for _, r := range rows {
			if pk := r.str("PartitionKey"); !slices.Contains(out, pk) {
				out = append(out, pk)
			}
		}
		if next == nil || len(out) >= maxPendingListRows {
			break
		}
		from = next
	}
	rj, err := s.PendingEvents(ctx, domain.OutboxRejections)
	if err != nil {
		return nil, err
	}
	if len(rj) > 0 {
		out = append(out, domain.OutboxRejections)
	}
	return out, nil
}

// MarkEventPublished flags the outbox row (merge, no ETag: publishing the
// same event twice marks it twice, harmlessly).
func (s *Store) MarkEventPublished(ctx context.Context, e domain.OutboxEvent) error {
	t, pk, _ := s.where(e.Partition)
	rk := e.RowKey
	if rk == "" && e.Partition != domain.OutboxRejections {
		rk = eventRowKey(e.Seq)
	}
	if rk == "" {
		return domain.Errorf(domain.CodeInvalid, "event %s: no outbox row key (list it with PendingEvents)", e.ID)
	}
	body, err := newEntity(t.name, pk, rk).boolean("Published", true).time("PublishedAt", s.now().UTC()).marshal()
	if err != nil {
		return err
	}
	if _, err := t.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeMerge}); err != nil {
		return classify(err, "mark event %s published", e.ID)
	}
	return nil
}
