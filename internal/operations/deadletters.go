package operations

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Dead letters: list a queue's dead-letter sub-queue and resubmit messages
// from it. A resubmit never reuses the dead letter's message ID: inside the
// queue's duplicate-detection window (1 day in the Bicep) Service Bus would
// silently drop it (learn.microsoft.com/azure/service-bus-messaging/duplicate-detection).

// DeadLetterAuditPartition holds resubmit audit events of messages that
// name no tenant (revalidation batches, ops alerts).
const DeadLetterAuditPartition = "operations-deadletters"

// deadLetterPort checks the queue name, then that dead letters are reachable.
func (s *Service) deadLetterPort(queue string) (domain.DeadLetters, error) {
	if qs := domain.DeadLetterQueues(); !slices.Contains(qs, queue) {
		return nil, domain.FieldError("queue", "must be one of %s", strings.Join(qs, ", "))
	}
	if s.DeadLetters == nil {
		return nil, domain.Errorf(domain.CodeUnavailable, "dead-letter access is not configured in this deployment")
	}
	return s.DeadLetters, nil
}

// CheckDeadLetterQueue reports a problem with queue (not a replayable
// queue, or dead letters not configured) before a request is read further.
func (s *Service) CheckDeadLetterQueue(queue string) error {
	_, err := s.deadLetterPort(queue)
	return err
}

// ListDeadLetters peeks at up to max of a queue's dead letters, oldest first.
func (s *Service) ListDeadLetters(ctx context.Context, queue string, max int) ([]domain.DeadLetter, error) {
	port, err := s.deadLetterPort(queue)
	if err != nil {
		return nil, err
	}
	return port.ListDeadLetters(ctx, queue, max)
}

// Resubmission is what a resubmit did: the copies sent and the selected
// sequence numbers that were not found.
type Resubmission struct {
	Resubmitted []domain.Resubmitted
	NotFound    []int64
}

// ResubmitDeadLetters sends the selected dead letters again under new
// message IDs, removing each one after its copy was sent, and audits every
// copy for by: in the tenant's trail when the message names a tenant, else
// in DeadLetterAuditPartition. A failure part-way still audits what was
// resubmitted and says how many were.
func (s *Service) ResubmitDeadLetters(ctx context.Context, queue string, sel domain.DeadLetterSelection, by domain.Actor) (Resubmission, error) {
	port, err := s.deadLetterPort(queue)
	if err != nil {
		return Resubmission{}, err
	}
	done, missing, err := port.ResubmitDeadLetters(ctx, queue, sel, by.ID)
	for _, r := range done {
		s.auditResubmit(ctx, queue, r, by)
	}
	if err != nil {
		if len(done) > 0 {
			return Resubmission{}, fmt.Errorf("%d dead letter(s) were resubmitted before the failure (see the audit trail): %w", len(done), err)
		}
		return Resubmission{}, err
	}
	if done == nil {
		done = []domain.Resubmitted{}
	}
	if missing == nil {
		missing = []int64{}
	}
	return Resubmission{Resubmitted: done, NotFound: missing}, nil
}

// auditResubmit logs and audits one resubmitted message.
func (s *Service) auditResubmit(ctx context.Context, queue string, r domain.Resubmitted, by domain.Actor) {
	s.log().InfoContext(ctx, "dead letter resubmitted", "queue", queue, "sequenceNumber", r.SequenceNumber,
		"deadLetterMessageId", r.DeadLetterID, "originalMessageId", r.OriginalMessageID, "messageId", r.MessageID,
		"tenantId", r.TenantID, "actor", by.ID)
	partition := r.TenantID
	if partition == "" {
		partition = DeadLetterAuditPartition
	}
	s.auditLog().RecordAs(ctx, by, domain.AuditEvent{TenantID: partition, Action: "deadletter.resubmitted",
		Details: map[string]string{
			"queue": queue, "sequenceNumber": strconv.FormatInt(r.SequenceNumber, 10), "deadLetterMessageId": r.DeadLetterID,
			"originalMessageId": r.OriginalMessageID, "messageId": r.MessageID}})
}
