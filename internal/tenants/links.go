package tenants

import (
	"context"
	"strconv"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// ConsentLink is an issued consent link: handed out (URL set) or queued
// for email to Recipients (URL empty: an emailed link is never shown).
type ConsentLink struct {
	URL        string
	ExpiresAt  time.Time
	Emailed    bool
	Recipients []string
}

// IssueConsentLink mints a new consent link (the previous one stops working
// at once). With email false it returns the link for the operator to pass
// on; with email true it queues the consent-link email to the admin
// contacts instead.
func (s *Service) IssueConsentLink(ctx context.Context, id string, email bool, actor domain.Actor) (ConsentLink, error) {
	t, err := s.Get(ctx, id)
	if err != nil {
		return ConsentLink{}, err
	}
	// Checked here too (IssueLink refuses as well) so no orphan link is stored.
	if !t.ConsentLinkUsable() {
		return ConsentLink{}, domain.Errorf(domain.CodeConflict, "tenant %s is %s; consent links are refused", id, t.Status)
	}
	var job domain.EmailJob
	if email {
		// The email worker only sends consent links to tenants that
		// still need consent; say so now rather than queue a no-op.
		if !t.NeedsConsentLink() {
			return ConsentLink{}, domain.Errorf(domain.CodeConflict, "tenant %s is %s; the consent-link email is only sent to Provisioned or Revoked tenants (ask for the link with email=false)", id, t.Status)
		}
		var admins []string
		for _, ct := range t.AdminContacts() {
			admins = append(admins, ct.Email)
		}
		if len(admins) == 0 {
			return ConsentLink{}, domain.Errorf(domain.CodeConflict, "tenant %s has no admin contact to email", id)
		}
		job = domain.OperatorConsentLinkJob(id, admins, domain.NewID())
	}
	link, err := s.Consent.IssueLink(ctx, id, actor.ID, actor.Name)
	if err != nil {
		return ConsentLink{}, notOnboarded(err, id)
	}
	if !email {
		s.audit(ctx, actor, domain.AuditEvent{TenantID: id, Action: "consent.link-handed-out",
			Details: map[string]string{"expiresAt": link.ExpiresAt.UTC().Format(time.RFC3339)}})
		return ConsentLink{URL: link.URL, ExpiresAt: link.ExpiresAt}, nil
	}
	if err := s.Outbox.SendEmail(ctx, job, time.Time{}); err != nil {
		return ConsentLink{}, err
	}
	s.audit(ctx, actor, domain.AuditEvent{TenantID: id, Action: "consent.link-emailed",
		Details: map[string]string{"idempotencyKey": job.IdempotencyKey, "recipients": strconv.Itoa(len(job.Recipients))}})
	s.log().InfoContext(ctx, "consent-link email queued by operator", "tenantId", id, "recipients", len(job.Recipients), "actor", actor.ID)
	// The worker mints the emailed link when it sends, so that link
	// expires no earlier than this one.
	return ConsentLink{ExpiresAt: link.ExpiresAt, Emailed: true, Recipients: job.Recipients}, nil
}

// RotateStatusLink issues a new status-page link; every older link of the
// tenant stops working at once (the status service audits it). It returns
// the link and when it was issued.
func (s *Service) RotateStatusLink(ctx context.Context, id string, actor domain.Actor) (string, time.Time, error) {
	if s.Status == nil {
		return "", time.Time{}, domain.Errorf(domain.CodeUnavailable, "status links are not configured")
	}
	if _, err := s.Get(ctx, id); err != nil {
		return "", time.Time{}, err
	}
	u, err := s.Status.Rotate(ctx, id, actor.ID, actor.Name)
	if err != nil {
		return "", time.Time{}, notOnboarded(err, id)
	}
	t, err := s.Get(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	return u, t.StatusLinkIssuedAt, nil
}
