// Package notify sends one email job: de-duplicated on its idempotency key,
// rendered from the current tenant record, sent through the mail sender
// (Graph sendMail). Transient send failures are retried by redelivery;
// permanent ones are recorded and reported to operations.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/email"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
)

// Mail record statuses. "sending" is a claim before the mail service was
// called, "submitting" one whose holder passed its fence and is calling it.
const (
	StatusSending    = "sending"
	StatusSubmitting = "submitting"
	StatusSent       = "sent"
	StatusFailed     = "failed"
	StatusSkipped    = "skipped"
	StatusRetry      = "retry"
)

// Service handles email jobs.
type Service struct {
	Store    domain.TenantStore
	Sender   domain.MailSender
	Renderer *email.Renderer
	Links    *consent.Service
	// Status mints the status-page link every customer email carries; nil
	// leaves it out.
	Status StatusLinks
	Outbox domain.Outbox
	// Rejections records a job that can never be sent.
	Rejections domain.RejectionRecorder
	Regions    domain.Regions
	OpsEmails  []string
	// Lease is how long a claim holds unless renewed; a live delivery
	// renews it every Lease/3, so it bounds how long a crashed one blocks
	// the job (default 30 s).
	Lease  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
}

// StatusLinks mints a tenant's status-page link (internal/status).
type StatusLinks interface {
	Link(ctx context.Context, tenantID string) (string, error)
}

// Outcome of handling one job, for logs and tests.
type Outcome string

const (
	OutcomeSent      Outcome = "sent"
	OutcomeDuplicate Outcome = "duplicate"
	OutcomeSkipped   Outcome = "skipped"
	OutcomeFailed    Outcome = "failed" // permanent; reported
)

// Handle processes one email message body. A returned error means "retry
// later" (the invocation must fail); permanent problems are recorded and
// return a nil error with OutcomeFailed.
func (s *Service) Handle(ctx context.Context, body []byte, messageID string) (Outcome, error) {
	job, err := domain.DecodeEmailJob(body)
	if err != nil {
		return s.reject(ctx, body, messageID, err)
	}
	h, proceed, err := s.claim(ctx, job, messageID)
	if err != nil || !proceed {
		return OutcomeDuplicate, err
	}
	defer h.stop()
	msg, skip, err := s.render(ctx, job)
	if err != nil {
		if domain.IsTransient(err) {
			s.release(ctx, h, err)
			return "", err
		}
		return s.fail(ctx, job, h, err)
	}
	if skip != "" {
		s.finish(ctx, h, StatusSkipped, skip)
		s.Logger.Info("email skipped", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "reason", skip)
		return OutcomeSkipped, nil
	}
	// The fence: only a delivery that still holds the claim may send.
	if err := h.update(ctx, StatusSubmitting, ""); err != nil {
		return "", domain.Wrap(domain.CodeUnavailable, err, "email %s: lost the claim before sending", job.IdempotencyKey)
	}
	if err := s.Sender.SendMail(ctx, msg); err != nil {
		if domain.IsTransient(err) {
			s.release(ctx, h, err)
			return "", fmt.Errorf("send %s email to tenant %s: %w", job.Kind, job.TenantID, err)
		}
		return s.fail(ctx, job, h, err)
	}
	s.finish(ctx, h, StatusSent, "")
	s.Logger.Info("email sent", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "recipients", len(msg.To))
	return OutcomeSent, nil
}

// reject records a job that can never be sent (internal/rejections) and
// completes it; only a transient failure to record it is returned.
func (s *Service) reject(ctx context.Context, body []byte, messageID string, cause error) (Outcome, error) {
	id := "email-" + messageID
	if messageID == "" {
		id = domain.RejectionID("email", "", body)
	}
	rej := domain.Rejection{ID: id, At: s.Now().UTC(), Source: "queue:" + domain.QueueEmail, MessageID: messageID,
		Field: domain.ErrorField(cause), Reason: cause.Error(), BodyPrefix: domain.BodyPrefix(body, domain.RejectionBodyPrefixBytes)}
	// A rejected alert about a rejection is not alerted about again.
	if err := s.Rejections.RecordRejection(ctx, rej, "Email job rejected", !isRejectionAlert(body)); err != nil {
		return "", fmt.Errorf("record rejected email job %s: %w", messageID, err)
	}
	return OutcomeFailed, nil
}

func isRejectionAlert(body []byte) bool {
	var probe struct {
		IdempotencyKey string `json:"idempotencyKey"`
	}
	return json.Unmarshal(body, &probe) == nil && strings.HasPrefix(probe.IdempotencyKey, domain.RejectionAlertKeyPrefix)
}

// claimWaitSlack is how much longer than one lease a delivery waits for
// another holder's claim before giving up (retry later).
const claimWaitSlack = 2 * time.Second

// claim takes the idempotency key for this delivery (owner: the message
// ID, or a random one). proceed=false: already handled. Rules:
//   - no record, a released one ("retry") or an expired lease: take it;
//   - "sending" with our own owner: a redelivery of this message after its
//     earlier delivery died before sending, or our own write applied late;
//     re-enter at once (a still-running earlier delivery then fails its
//     fence and does not send);
//   - any other live claim: wait for it to end, at most one lease (a dead
//     holder stops renewing, so its claim is taken over within this
//     delivery); a holder still renewing gets "retry later".
func (s *Service) claim(ctx context.Context, job *domain.EmailJob, messageID string) (*hold, bool, error) {
	owner := messageID
	if owner == "" {
		owner = "delivery-" + domain.NewID()
	}
	deadline := time.Now().Add(s.lease() + claimWaitSlack)
	for {
		now := s.Now().UTC()
		rec := &domain.MailRecord{Key: job.IdempotencyKey, Status: StatusSending, Owner: owner, Kind: job.Kind, TenantID: job.TenantID, LeaseEnds: now.Add(s.lease()), UpdatedAt: now}
		err := s.Store.ClaimMail(ctx, rec)
		if err == nil {
			return s.hold(rec), true, nil
		}
		if domain.ErrorCode(err) != domain.CodeConflict {
			return nil, false, fmt.Errorf("claim email %s: %w", job.IdempotencyKey, err)
		}
		existing := rec // ClaimMail copied the stored record in
		take := false
		switch existing.Status {
		case StatusSent, StatusSkipped, StatusFailed:
			s.Logger.Info("email job already handled", "key", job.IdempotencyKey, "tenantId", job.TenantID, "status", existing.Status)
			return nil, false, nil
		case StatusSending, StatusSubmitting:
			switch {
			case existing.Status == StatusSending && existing.Owner == owner:
				take = true
			case !now.Before(existing.LeaseEnds):
				take = true
				if existing.Status == StatusSubmitting {
					s.Logger.Warn("taking over an email whose sender stopped while sending; it may have gone out once already",
						"key", job.IdempotencyKey, "tenantId", job.TenantID, "previousOwner", existing.Owner)
				}
			}
		default: // StatusRetry or unknown: released
			take = true
		}
		if take {
			existing.Status, existing.Owner, existing.LeaseEnds, existing.UpdatedAt, existing.Detail = StatusSending, owner, now.Add(s.lease()), now, ""
			err := s.Store.UpdateMail(ctx, existing)
			if err == nil {
				return s.hold(existing), true, nil
			}
			if domain.ErrorCode(err) != domain.CodePreconditionFailed {
				return nil, false, fmt.Errorf("take over email %s: %w", job.IdempotencyKey, err)
			}
			continue // someone else moved first: look again
		}
		wait := min(existing.LeaseEnds.Sub(now), 250*time.Millisecond)
		if time.Now().Add(wait).After(deadline) {
			return nil, false, domain.Errorf(domain.CodeUnavailable, "email %s is being sent by another delivery (claim renewed until %s); retry later",
				job.IdempotencyKey, existing.LeaseEnds.Format(time.RFC3339))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, false, ctx.Err()
		case <-timer.C:
		}
	}
}

func (s *Service) lease() time.Duration {
	if s.Lease > 0 {
		return s.Lease
	}
	return 30 * time.Second
}

// hold is a live claim: it renews the lease every Lease/3 until stopped.
// Every write is ETag-checked, so a holder that lost the claim finds out
// at its next write (the fence before sending) and sends nothing.
type hold struct {
	s        *Service
	mu       sync.Mutex
	rec      *domain.MailRecord
	lost     bool
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func (s *Service) hold(rec *domain.MailRecord) *hold {
	h := &hold{s: s, rec: rec, quit: make(chan struct{}), done: make(chan struct{})}
	go h.renewLoop()
	return h
}

func (h *hold) renewLoop() {
	defer close(h.done)
	t := time.NewTicker(max(h.s.lease()/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.quit:
			return
		case <-t.C:
			// Renewal outlives a cancelled invocation by design: it stops
			// when the delivery does.
			ctx, cancel := context.WithTimeout(context.Background(), h.s.lease()/2)
			err := h.update(ctx, "", "")
			cancel()
			if domain.ErrorCode(err) == domain.CodePreconditionFailed {
				h.s.Logger.Warn("email claim lost to another delivery", "key", h.rec.Key)
				return
			}
		}
	}
}

// update writes status ("" keeps the current one, a renewal) with a fresh
// lease, ETag-checked.
func (h *hold) update(ctx context.Context, status, detail string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lost {
		return domain.Errorf(domain.CodePreconditionFailed, "email %s: claim lost", h.rec.Key)
	}
	if status == "" {
		status, detail = h.rec.Status, h.rec.Detail
	}
	now := h.s.Now().UTC()
	next := *h.rec
	next.Status, next.Detail, next.UpdatedAt, next.LeaseEnds = status, detail, now, now.Add(h.s.lease())
	if status == StatusRetry || status == StatusSent || status == StatusSkipped || status == StatusFailed {
		next.LeaseEnds = time.Time{}
	}
	err := h.s.Store.UpdateMail(ctx, &next)
	if domain.ErrorCode(err) == domain.CodePreconditionFailed {
		h.lost = true
	}
	if err != nil {
		return err
	}
	*h.rec = next
	return nil
}

func (h *hold) stop() {
	h.stopOnce.Do(func() { close(h.quit) })
	<-h.done
}

// release lets the next delivery retry at once.
func (s *Service) release(ctx context.Context, h *hold, cause error) {
	h.stop()
	if err := h.update(ctx, StatusRetry, domain.Truncate(cause.Error(), 500)); err != nil {
		s.Logger.Warn("could not release email claim (it expires within one lease)", "key", h.rec.Key, "err", err)
	}
}

// finish records the outcome, retrying a few times: after a send, a record
// left "submitting" could later be taken over and sent again.
func (s *Service) finish(ctx context.Context, h *hold, status, detail string) {
	h.stop()
	var err error
	for attempt := range 3 {
		if err = h.update(ctx, status, domain.Truncate(detail, 500)); err == nil || domain.ErrorCode(err) == domain.CodePreconditionFailed {
			break
		}
		timer := time.NewTimer(time.Duration(attempt+1) * 200 * time.Millisecond)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
	}
	if err != nil {
		s.Logger.Error("could not mark email handled", "key", h.rec.Key, "tenantId", h.rec.TenantID, "status", status, "err", err)
	}
}

// fail records a permanent failure and alerts operations (unless the
// failing email is itself an ops alert).
func (s *Service) fail(ctx context.Context, job *domain.EmailJob, h *hold, cause error) (Outcome, error) {
	s.finish(ctx, h, StatusFailed, cause.Error())
	s.Logger.Error("email failed permanently", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "err", cause)
	if job.Kind == domain.EmailOpsAlert || len(s.OpsEmails) == 0 {
		return OutcomeFailed, nil
	}
	alert := domain.OpsAlertJob(domain.OpsAlertKey("email-failed", job.IdempotencyKey), job.TenantID, s.OpsEmails,
		domain.Alert{Subject: "Email could not be sent", Detail: domain.Truncate(cause.Error(), 2000),
			Facts: map[string]string{"kind": string(job.Kind), "idempotencyKey": job.IdempotencyKey, "recipients": fmt.Sprint(job.Recipients)}})
	if err := s.Outbox.SendEmail(ctx, alert, time.Time{}); err != nil {
		return "", err
	}
	return OutcomeFailed, nil
}

// render builds the email from the current tenant record. skip explains why
// the job no longer applies (e.g. a reminder after consent).
func (s *Service) render(ctx context.Context, job *domain.EmailJob) (domain.OutgoingMail, string, error) {
	out := domain.OutgoingMail{To: job.Recipients, Kind: job.Kind}
	if job.Kind == domain.EmailOpsAlert {
		d := email.OpsAlertData{Subject: job.Alert.Subject, Detail: job.Alert.Detail, TenantID: job.TenantID, Facts: job.Alert.Facts, At: s.Now().UTC()}
		if job.TenantID != "" {
			if t, err := s.Store.GetTenant(ctx, job.TenantID); err == nil {
				d.CustomerName = t.CustomerName
			}
		}
		m, err := s.Renderer.OpsAlert(d)
		return withMessage(out, m), "", err
	}
	t, err := s.Store.GetTenant(ctx, job.TenantID)
	if domain.ErrorCode(err) == domain.CodeNotFound {
		return out, "", domain.Errorf(domain.CodeInvalid, "tenant %s does not exist", job.TenantID)
	}
	if err != nil {
		return out, "", fmt.Errorf("load tenant %s: %w", job.TenantID, err)
	}
	region := s.Regions[t.Region]
	// Minted at send time like the consent link (only its hash is stored);
	// every link of the tenant's generation keeps working.
	statusURL := ""
	if s.Status != nil {
		if statusURL, err = s.Status.Link(ctx, t.TenantID); err != nil {
			return out, "", err
		}
	}
	var m email.Message
	switch job.Kind {
	case domain.EmailConsentLink, domain.EmailConsentReminder:
		// "Grant consent again" from the status page also serves Degraded.
		again := job.Kind == domain.EmailConsentLink && strings.HasPrefix(job.IdempotencyKey, domain.ConsentAgainKeyPrefix) && t.Status == domain.StatusDegraded
		if !t.NeedsConsentLink() && !again {
			return out, "tenant is " + string(t.Status) + "; no consent link needed", nil
		}
		// The link is minted now, at send time: a link is only ever
		// emailed once, and the newest email holds the working link.
		link, err := s.Links.IssueLink(ctx, t.TenantID, "system:email", string(job.Kind))
		if err != nil {
			return out, "", err
		}
		d := email.ConsentLinkData{CustomerName: t.CustomerName, AdminName: adminName(t, job.Recipients), TenantID: t.TenantID, RegionName: region.DisplayName,
			Link: link.URL, ExpiresAt: link.ExpiresAt, AllowedIPs: prefixStrings(t.AllowedIPs), ProvisionedAt: t.CreatedAt, Now: s.Now().UTC(), StatusURL: statusURL}
		if job.Kind == domain.EmailConsentLink {
			m, err = s.Renderer.ConsentLink(d)
		} else {
			m, err = s.Renderer.ConsentReminder(d)
		}
		if err != nil {
			return out, "", err
		}
	case domain.EmailConsentConfirmed:
		if t.Status != domain.StatusConsented {
			return out, "tenant is " + string(t.Status) + ", not Consented", nil
		}
		script, name, err := powershell.ForTenant(t)
		if err != nil {
			return out, "", err
		}
		m, err = s.Renderer.ConsentConfirmed(email.ConsentConfirmedData{CustomerName: t.CustomerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
			InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI), AppID: t.AppID, Script: script, ScriptFileName: name,
			ScriptURL: powershell.DownloadURL(s.Links.PublicBaseURL, t), RegionName: region.DisplayName, ConsentedAt: t.ConsentedAt, StatusURL: statusURL})
		if err != nil {
			return out, "", err
		}
	case domain.EmailConsentRevoked, domain.EmailConsentDegraded:
		reason := ""
		if job.Alert != nil {
			reason = job.Alert.Detail
		}
		d := email.ConsentProblemData{CustomerName: t.CustomerName, TenantID: t.TenantID, Reason: reason, MissingPermissions: t.MissingRoles,
			DetectedAt: t.StatusChanged, ConsentURL: s.Links.StartURL(), StatusURL: statusURL}
		if job.Kind == domain.EmailConsentRevoked {
			m, err = s.Renderer.ConsentRevoked(d)
		} else {
			m, err = s.Renderer.ConsentDegraded(d)
		}
		if err != nil {
			return out, "", err
		}
	case domain.EmailLive:
		if t.LiveSince.IsZero() {
			return out, "tenant is not live", nil
		}
		if m, err = s.Renderer.Live(email.LiveData{CustomerName: t.CustomerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
			LiveSince: t.LiveSince, StatusURL: statusURL}); err != nil {
			return out, "", err
		}
	case domain.EmailLiveReminder:
		if !t.LiveSince.IsZero() || (t.Status != domain.StatusConsented && t.Status != domain.StatusDegraded) {
			return out, "tenant is " + string(t.Status) + " and live=" + fmt.Sprint(!t.LiveSince.IsZero()) + "; no reminder needed", nil
		}
		_, name, err := powershell.ForDownload(t)
		if err != nil {
			return out, "", err
		}
		if m, err = s.Renderer.LiveReminder(email.LiveReminderData{CustomerName: t.CustomerName, TenantID: t.TenantID, ConsentedAt: t.ConsentedAt,
			ScriptURL: powershell.DownloadURL(s.Links.PublicBaseURL, t), ScriptFileName: name, StatusURL: statusURL}); err != nil {
			return out, "", err
		}
	default:
		return out, "", domain.Errorf(domain.CodeInvalid, "no template for email kind %q", job.Kind)
	}
	return withMessage(out, m), "", nil
}

func withMessage(out domain.OutgoingMail, m email.Message) domain.OutgoingMail {
	out.Subject, out.HTML, out.Text = m.Subject, m.HTML, m.Text
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, domain.MailAttachment{Name: a.Name, ContentType: a.ContentType, Content: a.Content})
	}
	return out
}

func adminName(t *domain.Tenant, recipients []string) string {
	for _, c := range t.Contacts {
		if c.Role == domain.RoleAdmin && slices.Contains(recipients, c.Email) && c.Name != "" {
			return c.Name
		}
	}
	return ""
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.IsSingleIP() {
			out[i] = p.Addr().String()
		} else {
			out[i] = p.String()
		}
	}
	return out
}
