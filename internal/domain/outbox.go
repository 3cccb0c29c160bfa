package domain

import (
	"context"
	"time"
)

// Outbox is the port through which the services hand work to the queues:
// email jobs and scheduled re-validation batches. internal/queue implements
// it on Service Bus (and on the local host's queues); services never build
// queue messages themselves. A job's IdempotencyKey is its message ID, so a
// re-publish inside the duplicate-detection window is dropped.
type Outbox interface {
	// SendEmail enqueues an email job, delivered at `at` (zero: now).
	SendEmail(ctx context.Context, job EmailJob, at time.Time) error
	// ScheduleRevalidation enqueues re-validation batches; batch i is
	// delivered at at(i) (nil: now).
	ScheduleRevalidation(ctx context.Context, batches []RevalidationBatch, at func(i int) time.Time) error
}

// OperatorConsentLinkJob is the consent-link email an operator asked for.
// One key per request (requestID is fresh per click): a second click is a
// second email, by intent.
func OperatorConsentLinkJob(tenantID string, recipients []string, requestID string) EmailJob {
	return EmailJob{SchemaVersion: 1, Kind: EmailConsentLink, TenantID: tenantID, Recipients: recipients,
		IdempotencyKey: string(EmailConsentLink) + ":" + tenantID + ":operator:" + requestID}
}
