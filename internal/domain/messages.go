package domain

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"
)

// EmailKind names an email template.
type EmailKind string

const (
	EmailConsentLink      EmailKind = "consent-link"
	EmailConsentConfirmed EmailKind = "consent-confirmed"
	EmailConsentReminder  EmailKind = "consent-reminder"
	EmailConsentRevoked   EmailKind = "consent-revoked"
	EmailConsentDegraded  EmailKind = "consent-degraded"
	EmailOpsAlert         EmailKind = "ops-alert"
	EmailLive             EmailKind = "live"
	EmailLiveReminder     EmailKind = "live-reminder"
)

// EmailKinds lists every kind SendEmail renders.
var EmailKinds = []EmailKind{EmailConsentLink, EmailConsentConfirmed, EmailConsentReminder, EmailConsentRevoked, EmailConsentDegraded, EmailOpsAlert, EmailLive, EmailLiveReminder}

// EmailJob is an `email` v1 message: one email to send.
type EmailJob struct {
	SchemaVersion  int       `json:"schemaVersion"`
	Kind           EmailKind `json:"kind"`
	TenantID       string    `json:"tenantId,omitempty"`
	Recipients     []string  `json:"recipients"`
	IdempotencyKey string    `json:"idempotencyKey"`
	// Alert carries the details of an ops-alert (and the reason of a
	// revoked/degraded notice).
	Alert *Alert `json:"alert,omitempty"`
}

// Alert describes what operations need to look at.
type Alert struct {
	Subject string            `json:"subject"`
	Detail  string            `json:"detail"`
	Facts   map[string]string `json:"facts,omitempty"`
}

// RevalidationBatch is a `revalidation` v1 message.
type RevalidationBatch struct {
	SchemaVersion int      `json:"schemaVersion"`
	RunID         string   `json:"runId"`
	Batch         int      `json:"batch"`
	TenantIDs     []string `json:"tenantIds"`
}

// MaxRevalidationBatch bounds a batch so one message stays small and one
// invocation stays well inside the function timeout.
const MaxRevalidationBatch = 500

// DecodeEmailJob strictly decodes an email v1 message.
func DecodeEmailJob(body []byte) (*EmailJob, error) {
	var job EmailJob
	if err := strictUnmarshal(body, &job); err != nil {
		return nil, err
	}
	var errs Errors
	if job.SchemaVersion != 1 {
		errs = append(errs, FieldError("schemaVersion", "must be 1"))
	}
	if !slices.Contains(EmailKinds, job.Kind) {
		errs = append(errs, FieldError("kind", "unknown email kind %q", job.Kind))
	}
	if job.TenantID != "" {
		if id, err := NormalizeTenantID("tenantId", job.TenantID); err != nil {
			errs = append(errs, asFieldError(err))
		} else {
			job.TenantID = id
		}
	} else if job.Kind != EmailOpsAlert {
		errs = append(errs, FieldError("tenantId", "is required for %s", job.Kind))
	}
	if len(job.Recipients) == 0 || len(job.Recipients) > 20 {
		errs = append(errs, FieldError("recipients", "must hold 1 to 20 addresses"))
	}
	for i, r := range job.Recipients {
		if _, err := NormalizeEmail(fmt.Sprintf("recipients[%d]", i), r); err != nil {
			errs = append(errs, asFieldError(err))
		}
	}
	if job.IdempotencyKey == "" || len(job.IdempotencyKey) > 200 {
		errs = append(errs, FieldError("idempotencyKey", "must be 1-200 characters"))
	}
	if job.Kind == EmailOpsAlert && job.Alert == nil {
		errs = append(errs, FieldError("alert", "is required for ops-alert"))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &job, nil
}

// DecodeRevalidationBatch strictly decodes a revalidation v1 message.
func DecodeRevalidationBatch(body []byte) (*RevalidationBatch, error) {
	var b RevalidationBatch
	if err := strictUnmarshal(body, &b); err != nil {
		return nil, err
	}
	var errs Errors
	if b.SchemaVersion != 1 {
		errs = append(errs, FieldError("schemaVersion", "must be 1"))
	}
	if b.RunID == "" || len(b.RunID) > 100 {
		errs = append(errs, FieldError("runId", "must be 1-100 characters"))
	}
	if len(b.TenantIDs) == 0 || len(b.TenantIDs) > MaxRevalidationBatch {
		errs = append(errs, FieldError("tenantIds", "must hold 1 to %d tenant IDs", MaxRevalidationBatch))
	}
	for i, id := range b.TenantIDs {
		n, err := NormalizeTenantID(fmt.Sprintf("tenantIds[%d]", i), id)
		if err != nil {
			errs = append(errs, asFieldError(err))
			continue
		}
		b.TenantIDs[i] = n
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &b, nil
}

// strictUnmarshal decodes one JSON value into v, rejecting unknown fields,
// invalid UTF-8, oversize bodies and trailing data.
func strictUnmarshal(body []byte, v any) error {
	if len(body) > MaxMessageBytes {
		return FieldError("(body)", "is %d bytes; the limit is %d", len(body), MaxMessageBytes)
	}
	if !utf8.Valid(body) {
		return FieldError("(body)", "is not valid UTF-8")
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonFieldError(err)
	}
	if dec.More() {
		return FieldError("(body)", "has trailing data after the JSON value")
	}
	return nil
}

// Rejection records a message or request that can never succeed.
type Rejection struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Source     string    `json:"source"` // "queue:provisioning", "api"
	MessageID  string    `json:"messageId,omitempty"`
	RequestID  string    `json:"requestId,omitempty"`
	TenantID   string    `json:"tenantId,omitempty"`
	Field      string    `json:"field,omitempty"`
	Reason     string    `json:"reason"`
	BodyPrefix string    `json:"bodyPrefix,omitempty"` // first bytes of the body, for diagnosis
}
