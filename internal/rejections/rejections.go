// Package rejections records a message that can never succeed, the same way
// for every queue function: the rejection is stored (the store cuts text to
// Azure's limits, so it fits), operations are alerted, and one log line
// says what actually happened. Only a transient failure is returned, so the
// message is retried; a redelivery then finds the rejection already stored
// (its ID derives from the message) and the alert already queued (its key
// derives from the rejection ID).
package rejections

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Limits keep the alert a valid email job however large the rejection is
// (an oversized alert would itself be rejected).
const (
	maxAlertDetail = 2000
	maxFactValue   = 200
)

// Recorder stores rejections and alerts operations. It is a
// domain.RejectionRecorder.
type Recorder struct {
	Store     domain.TenantStore
	Outbox    domain.Outbox
	OpsEmails []string
	Logger    *slog.Logger
}

var _ domain.RejectionRecorder = (*Recorder)(nil)

// Outcome says what Record did, for the caller's log and tests.
type Outcome struct {
	Stored  bool
	Alerted bool
}

// Record stores rj and alerts operations (subject names the kind of
// message). It returns an error only when that failure is transient; a
// store that refuses the record for good still gets the alert (carrying the
// reason), and the log says the rejection was not stored. alert=false skips
// the alert (the rejected message was itself a rejection alert).
func (r *Recorder) Record(ctx context.Context, rj domain.Rejection, subject string, alert bool) (Outcome, error) {
	var out Outcome
	storeErr := r.Store.AddRejection(ctx, rj)
	switch {
	case storeErr == nil:
		out.Stored = true
	case domain.IsTransient(storeErr):
		r.Logger.Warn("rejection not recorded yet; the message will be retried", "rejectionId", rj.ID, "tenantId", rj.TenantID, "err", storeErr)
		return out, storeErr
	}
	if alert && len(r.OpsEmails) > 0 {
		if err := r.Outbox.SendEmail(ctx, r.alert(rj, subject, storeErr), time.Time{}); err != nil {
			if domain.IsTransient(err) || domain.ErrorCode(err) == domain.CodeInternal {
				r.Logger.Warn("rejection alert not queued yet; the message will be retried", "rejectionId", rj.ID, "stored", out.Stored, "err", err)
				return out, err
			}
			r.Logger.Error("rejection alert refused", "rejectionId", rj.ID, "err", err)
		} else {
			out.Alerted = true
		}
	}
	level := slog.LevelWarn
	msg := "message rejected: recorded, operations alerted"
	switch {
	case !out.Stored:
		level, msg = slog.LevelError, "message rejected: the rejection could NOT be stored"
	case !out.Alerted:
		msg = "message rejected: recorded, no operations alert"
	}
	r.Logger.Log(ctx, level, msg, "rejectionId", rj.ID, "source", rj.Source, "messageId", rj.MessageID, "requestId", rj.RequestID,
		"tenantId", rj.TenantID, "field", rj.Field, "reason", domain.Truncate(rj.Reason, 500), "reasonBytes", len(rj.Reason),
		"stored", out.Stored, "alerted", out.Alerted, "storeErr", errString(storeErr))
	return out, nil
}

// RecordRejection implements domain.RejectionRecorder (Record without the
// outcome).
func (r *Recorder) RecordRejection(ctx context.Context, rj domain.Rejection, subject string, alert bool) error {
	_, err := r.Record(ctx, rj, subject, alert)
	return err
}

func (r *Recorder) alert(rj domain.Rejection, subject string, storeErr error) domain.EmailJob {
	detail := rj.Reason
	if storeErr != nil {
		detail = "The rejection could not be stored (" + storeErr.Error() + "). Reason: " + detail
	}
	if len(detail) > maxAlertDetail {
		detail = domain.Truncate(detail, maxAlertDetail) + " …(cut; " + strconv.Itoa(len(detail)) + " bytes in all)"
	}
	facts := map[string]string{"rejectionId": rj.ID, "source": rj.Source, "messageId": rj.MessageID,
		"requestId": rj.RequestID, "tenantId": rj.TenantID, "field": rj.Field}
	for _, k := range slices.Collect(maps.Keys(facts)) {
		if facts[k] == "" {
			delete(facts, k)
		} else {
			facts[k] = domain.Truncate(facts[k], maxFactValue)
		}
	}
	tenantID := rj.TenantID
	if _, err := domain.NormalizeTenantID("tenantId", tenantID); err != nil {
		tenantID = ""
	}
	// The key starts with RejectionAlertKeyPrefix, so the email worker
	// recognises a rejected alert and does not alert about it again.
	return domain.OpsAlertJob(domain.RejectionAlertKeyPrefix+domain.Digest(rj.ID, 12), tenantID, r.OpsEmails,
		domain.Alert{Subject: subject, Detail: detail, Facts: facts})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
