package domain

import (
	"context"
	"slices"
	"strconv"
	"strings"
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

// EmailRequeuer is the outbox's extra for the re-validation sweep: it
// re-queues a job it did not originate under a message ID of its own (a
// resend with the job's key as ID inside the duplicate-detection window
// would be dropped). The job keeps its IdempotencyKey, so SendEmail's claim
// on it still lets one send win.
type EmailRequeuer interface {
	RequeueEmail(ctx context.Context, job EmailJob, messageID string) error
}

// The constructors below are the only place email jobs are built: each owns
// its idempotency-key format, so every producer of the same job (a flow, its
// retry, the sweep) names it the same way.

// MaxRecipients caps one email's recipients (deduplicated, first wins).
const MaxRecipients = 20

// Key prefixes the email worker recognises.
const (
	// ConsentAgainKeyPrefix starts the key of a consent-link email the
	// customer asked for from the status page (its wording differs).
	ConsentAgainKeyPrefix = "consent-again:"
	// RejectionAlertKeyPrefix starts the key of every rejection alert, so a
	// rejected alert is recognised and not alerted about again.
	RejectionAlertKeyPrefix = "ops-alert:rejection:"
)

func newJob(kind EmailKind, tenantID string, recipients []string, key string) EmailJob {
	return EmailJob{SchemaVersion: 1, Kind: kind, TenantID: tenantID, Recipients: capRecipients(recipients), IdempotencyKey: key}
}

func capRecipients(r []string) []string {
	var out []string
	for _, e := range r {
		if len(out) < MaxRecipients && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// ConsentLinkJob is the consent-link email to a tenant's admins, keyed by
// the admin set (ConsentLinkKey): provisioning and the sweep name one job.
func ConsentLinkJob(tenantID string, admins []string) EmailJob {
	return newJob(EmailConsentLink, tenantID, admins, ConsentLinkKey(tenantID, admins))
}

// ConsentReminderJob is the reminder scheduled by the request that created
// the tenant (and re-queued by the sweep under the same key).
func ConsentReminderJob(tenantID string, admins []string, requestID string) EmailJob {
	return newJob(EmailConsentReminder, tenantID, admins, ConsentEmailKey(EmailConsentReminder, tenantID, requestID))
}

// OperatorConsentLinkJob is the consent-link email an operator asked for.
// One key per request (requestID is fresh per click): a second click is a
// second email, by intent.
func OperatorConsentLinkJob(tenantID string, recipients []string, requestID string) EmailJob {
	return newJob(EmailConsentLink, tenantID, recipients, string(EmailConsentLink)+":"+tenantID+":operator:"+requestID)
}

// ConsentAgainJob is the consent-link email the customer asked for from the
// status page at askedAt (rate-limited there, so one key per ask).
func ConsentAgainJob(tenantID string, admins []string, askedAt time.Time) EmailJob {
	return newJob(EmailConsentLink, tenantID, admins, ConsentAgainKeyPrefix+tenantID+":"+askedAt.Format(time.RFC3339Nano))
}

// ConsentConfirmedJob is the email after a verified consent callback at
// verifiedAt.
func ConsentConfirmedJob(t *Tenant, verifiedAt time.Time) EmailJob {
	return newJob(EmailConsentConfirmed, t.TenantID, t.ContactEmails(), string(EmailConsentConfirmed)+":"+t.TenantID+":"+strconv.FormatInt(verifiedAt.Unix(), 10))
}

// PendingConsentConfirmedJob is the email a pending verification promised,
// keyed by that verification so racing re-checks send one.
func PendingConsentConfirmedJob(t *Tenant) EmailJob {
	return newJob(EmailConsentConfirmed, t.TenantID, t.ContactEmails(),
		string(EmailConsentConfirmed)+":"+t.TenantID+":pending:"+strconv.FormatInt(t.VerificationPendingSince.Unix(), 10))
}

// TransitionJob is the customer (and ops) notice of a tenant that has just
// become Revoked or Degraded, keyed by the transition; ok is false for any
// other status.
func TransitionJob(t *Tenant, recipients []string, alert Alert) (job EmailJob, ok bool) {
	var kind EmailKind
	switch t.Status {
	case StatusRevoked:
		kind = EmailConsentRevoked
	case StatusDegraded:
		kind = EmailConsentDegraded
	default:
		return EmailJob{}, false
	}
	job = newJob(kind, t.TenantID, recipients, string(kind)+":"+TransitionKey(t))
	job.Alert = &alert
	return job, true
}

// TransitionKey names the status change t has just made.
func TransitionKey(t *Tenant) string {
	return "->" + string(t.Status) + ":" + t.TenantID + ":" + strconv.FormatInt(t.StatusChanged.UnixNano(), 10)
}

// LiveJob is a tenant's one "you're live" email.
func LiveJob(tenantID string, admins []string) EmailJob {
	return newJob(EmailLive, tenantID, admins, string(EmailLive)+":"+tenantID)
}

// LiveReminderJob is a tenant's one "not live yet" reminder.
func LiveReminderJob(tenantID string, admins []string) EmailJob {
	return newJob(EmailLiveReminder, tenantID, admins, string(EmailLiveReminder)+":"+tenantID)
}

// OpsAlertKey is the key of an ops alert about reason; parts name the
// occurrence, so one occurrence alerts once.
func OpsAlertKey(reason string, parts ...string) string {
	return string(EmailOpsAlert) + ":" + reason + ":" + strings.Join(parts, ":")
}

// OpsAlertJob is an alert to operations under key (see OpsAlertKey).
func OpsAlertJob(key, tenantID string, ops []string, alert Alert) EmailJob {
	job := newJob(EmailOpsAlert, tenantID, ops, key)
	job.Alert = &alert
	return job
}
