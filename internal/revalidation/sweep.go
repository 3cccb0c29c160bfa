package revalidation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// The sweep runs inside every revalidation fan-out, for the Provisioned
// tenants the checks skip. It completes work no message will retry any more
// (a provisioning message dead-lettered or lost after the tenant was
// created): the consent-link email that never went out and the reminder
// that was never scheduled. It publishes the very job provisioning would
// have (same idempotency key: the link's from the tenant and its admins, the
// reminder's from the request that created it), so SendEmail's claim on that key lets at most one of the
// original and any number of sweeps send. Only the Service Bus message ID
// is new (per run): a resend within the duplicate-detection window with
// the original's ID would be dropped silently.

// defaultSweepGrace is how long provisioning gets to send the emails itself
// before the sweep steps in.
const defaultSweepGrace = time.Hour

// SweepResult counts what one sweep of a tenant re-queued.
type SweepResult struct {
	ConsentLinks, Reminders int
}

// sweepTenant re-queues the missing consent emails of a Provisioned tenant.
// Failures are logged, never fatal: the next run sweeps again.
func (s *Service) sweepTenant(ctx context.Context, t *domain.Tenant, runID string) SweepResult {
	var res SweepResult
	if t.Status != domain.StatusProvisioned || t.VerificationPending || t.LastRequestID == "" {
		return res
	}
	grace := s.SweepGrace
	if grace <= 0 {
		grace = defaultSweepGrace
	}
	now := s.Now().UTC()
	if now.Sub(t.CreatedAt) < grace {
		return res
	}
	admins := adminRecipients(t)
	if len(admins) == 0 {
		return res
	}
	// No link was ever issued (links are minted when the email is sent).
	if t.InviteIssuedAt.IsZero() {
		job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentLink, TenantID: t.TenantID, Recipients: admins,
			IdempotencyKey: domain.ConsentLinkKey(t.TenantID, admins)}
		if s.sweepJob(ctx, job, runID, now, grace) {
			res.ConsentLinks++
		}
	}
	// The reminder is due and the request that created the tenant never had
	// it handled (provisioning schedules it only for a new tenant).
	if s.ReminderDelay > 0 && now.Sub(t.CreatedAt) >= s.ReminderDelay+grace {
		rec, err := s.Store.GetProvisioningRecord(ctx, t.LastRequestID)
		switch {
		case err != nil && domain.ErrorCode(err) != domain.CodeNotFound:
			s.Logger.Warn("sweep: could not read the provisioning record", "tenantId", t.TenantID, "requestId", t.LastRequestID, "err", err)
		case err == nil && rec.ReceivedAt.Equal(t.CreatedAt):
			job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailConsentReminder, TenantID: t.TenantID, Recipients: admins,
				IdempotencyKey: domain.ConsentEmailKey(domain.EmailConsentReminder, t.TenantID, t.LastRequestID)}
			if s.sweepJob(ctx, job, runID, now, grace) {
				res.Reminders++
			}
		}
	}
	return res
}

// sweepJob publishes job unless its key was handled, or is being handled
// (a claim or a release newer than grace). It reports whether it published.
func (s *Service) sweepJob(ctx context.Context, job domain.EmailJob, runID string, now time.Time, grace time.Duration) bool {
	m, err := s.Store.GetMail(ctx, job.IdempotencyKey)
	switch {
	case domain.ErrorCode(err) == domain.CodeNotFound:
	case err != nil:
		s.Logger.Warn("sweep: could not read the email record", "tenantId", job.TenantID, "key", job.IdempotencyKey, "err", err)
		return false
	case m.Status == "sent" || m.Status == "skipped" || m.Status == "failed":
		return false // handled (a failure alerted operations)
	case now.Sub(m.UpdatedAt) < grace || now.Before(m.LeaseEnds):
		return false // a delivery is at it, or released it recently
	}
	body, err := json.Marshal(job)
	if err != nil {
		s.Logger.Error("sweep: encode email job", "tenantId", job.TenantID, "err", err)
		return false
	}
	sum := sha256.Sum256([]byte(job.IdempotencyKey + "\n" + runID))
	msg := queue.Message{ID: "sweep:" + hex.EncodeToString(sum[:16]), Kind: string(job.Kind), Body: body}
	if err := s.Publisher.Publish(ctx, queue.Email, msg); err != nil {
		s.Logger.Warn("sweep: could not re-queue email", "tenantId", job.TenantID, "key", job.IdempotencyKey, "err", err)
		return false
	}
	s.Logger.Info("sweep: re-queued an email provisioning never completed", "tenantId", job.TenantID, "kind", job.Kind, "key", job.IdempotencyKey, "runId", runID)
	return true
}

func adminRecipients(t *domain.Tenant) []string {
	var out []string
	for _, c := range t.AdminContacts() {
		if len(out) < 20 {
			out = append(out, c.Email)
		}
	}
	return out
}

// LiveReminderKey is the idempotency key of a tenant's one "not live yet"
// reminder: whatever the number of runs, SendEmail sends it once.
func LiveReminderKey(tenantID string) string { return "live-reminder:" + tenantID }

// NotLiveAfterConsent reports whether t consented more than after ago and no
// meeting invite has reached its join page since (operations' "needs
// attention"; the reminder goes out for it).
func NotLiveAfterConsent(t *domain.Tenant, after time.Duration, now time.Time) bool {
	return after > 0 && (t.Status == domain.StatusConsented || t.Status == domain.StatusDegraded) &&
		t.LiveSince.IsZero() && !t.ConsentedAt.IsZero() && now.Sub(t.ConsentedAt) >= after
}

// LiveEmailKey is the idempotency key of a tenant's one "you're live" email
// (internal/status publishes it after recording liveSince).
func LiveEmailKey(tenantID string) string { return "live:" + tenantID }

// sweepLive queues the one live reminder (with the PowerShell link) for a
// tenant that consented but is not live after LiveReminderAfter, and
// re-queues the "you're live" email if the process that recorded liveSince
// died before queueing it (same key, so it is sent at most once).
func (s *Service) sweepLive(ctx context.Context, t *domain.Tenant, runID string) bool {
	now := s.Now().UTC()
	admins := adminRecipients(t)
	if len(admins) == 0 {
		return false
	}
	grace := s.SweepGrace
	if grace <= 0 {
		grace = defaultSweepGrace
	}
	if !t.LiveSince.IsZero() && now.Sub(t.LiveSince) >= grace {
		job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailLive, TenantID: t.TenantID, Recipients: admins, IdempotencyKey: LiveEmailKey(t.TenantID)}
		s.sweepJob(ctx, job, runID, now, grace)
		return false
	}
	if !NotLiveAfterConsent(t, s.LiveReminderAfter, now) {
		return false
	}
	job := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailLiveReminder, TenantID: t.TenantID, Recipients: admins, IdempotencyKey: LiveReminderKey(t.TenantID)}
	return s.sweepJob(ctx, job, runID, now, grace)
}
