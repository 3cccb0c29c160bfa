package revalidation

import (
	"context"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
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
		if s.sweepJob(ctx, domain.ConsentLinkJob(t.TenantID, admins), runID, now, grace) {
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
			if s.sweepJob(ctx, domain.ConsentReminderJob(t.TenantID, admins, t.LastRequestID), runID, now, grace) {
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
	if err := s.Outbox.RequeueEmail(ctx, job, sweepMessageID(job.IdempotencyKey, runID)); err != nil {
		s.Logger.Warn("sweep: could not re-queue email", "tenantId", job.TenantID, "key", job.IdempotencyKey, "err", err)
		return false
	}
	s.Logger.Info("sweep: re-queued an email provisioning never completed", "tenantId", job.TenantID, "kind", job.Kind, "key", job.IdempotencyKey, "runId", runID)
	return true
}

// sweepMessageID is the message ID a sweep run re-queues the job keyed key
// under: new per run, the same for a redelivered fan-out of that run.
func sweepMessageID(key, runID string) string { return "sweep:" + domain.Digest(key+"\n"+runID, 16) }

// adminRecipients are the admins a swept email goes to, capped before the
// consent-link key is derived from them (as provisioning does).
func adminRecipients(t *domain.Tenant) []string {
	var out []string
	for _, c := range t.AdminContacts() {
		if len(out) < domain.MaxRecipients {
			out = append(out, c.Email)
		}
	}
	return out
}

// NotLiveAfterConsent reports whether t consented more than after ago and no
// meeting invite has reached its join page since (operations' "needs
// attention"; the reminder goes out for it).
func NotLiveAfterConsent(t *domain.Tenant, after time.Duration, now time.Time) bool {
	return after > 0 && (t.Status == domain.StatusConsented || t.Status == domain.StatusDegraded) &&
		t.LiveSince.IsZero() && !t.ConsentedAt.IsZero() && now.Sub(t.ConsentedAt) >= after
}

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
		// domain.LiveJob is what internal/status publishes after recording
		// liveSince: the same key, so it is sent at most once.
		s.sweepJob(ctx, domain.LiveJob(t.TenantID, admins), runID, now, grace)
		return false
	}
	if !NotLiveAfterConsent(t, s.LiveReminderAfter, now) {
		return false
	}
	// One reminder per tenant (domain.LiveReminderJob's key), whatever the
	// number of runs.
	return s.sweepJob(ctx, domain.LiveReminderJob(t.TenantID, admins), runID, now, grace)
}
