// Package notify sends one email job: de-duplicated on its idempotency key,
// rendered from the current tenant record, sent through the mail sender
// (Graph sendMail). Transient send failures are retried by redelivery;
// permanent ones are recorded and reported to operations.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/email"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
)

// Mail record statuses.
const (
	StatusSending = "sending"
	StatusSent    = "sent"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
	StatusRetry   = "retry"
)

// Service handles email jobs.
type Service struct {
	Store     domain.TenantStore
	Sender    domain.MailSender
	Renderer  *email.Renderer
	Links     *consent.Service
	Publisher queue.Publisher
	Regions   domain.Regions
	OpsEmails []string
	// Lease bounds how long a crashed sender blocks a redelivery.
	Lease  time.Duration
	Now    func() time.Time
	Logger *slog.Logger
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
		s.Logger.Error("malformed email job", "messageId", messageID, "err", err)
		rej := domain.Rejection{ID: "email-" + messageID, At: s.Now().UTC(), Source: "queue:" + queue.Email, MessageID: messageID,
			Field: domain.ErrorField(err), Reason: err.Error(), BodyPrefix: prefix(body, 1024)}
		if err := s.Store.AddRejection(ctx, rej); err != nil && domain.ErrorCode(err) != domain.CodeConflict {
			return "", fmt.Errorf("record rejected email job %s: %w", messageID, err)
		}
		return OutcomeFailed, nil
	}
	rec, proceed, err := s.claim(ctx, job)
	if err != nil || !proceed {
		return OutcomeDuplicate, err
	}
	msg, skip, err := s.render(ctx, job)
	if err != nil {
		if domain.IsTransient(err) {
			s.release(ctx, rec, err)
			return "", err
		}
		return s.fail(ctx, job, rec, err)
	}
	if skip != "" {
		s.finish(ctx, rec, StatusSkipped, skip)
		s.Logger.Info("email skipped", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "reason", skip)
		return OutcomeSkipped, nil
	}
	if err := s.Sender.SendMail(ctx, msg); err != nil {
		if domain.IsTransient(err) {
			s.release(ctx, rec, err)
			return "", fmt.Errorf("send %s email to tenant %s: %w", job.Kind, job.TenantID, err)
		}
		return s.fail(ctx, job, rec, err)
	}
	s.finish(ctx, rec, StatusSent, "")
	s.Logger.Info("email sent", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "recipients", len(msg.To))
	return OutcomeSent, nil
}

// claim takes the idempotency key. proceed=false: already handled. An
// error: someone else holds a live lease (retry later) or the store failed.
func (s *Service) claim(ctx context.Context, job *domain.EmailJob) (*domain.MailRecord, bool, error) {
	now := s.Now().UTC()
	rec := &domain.MailRecord{Key: job.IdempotencyKey, Status: StatusSending, Kind: job.Kind, TenantID: job.TenantID, LeaseEnds: now.Add(s.Lease), UpdatedAt: now}
	err := s.Store.ClaimMail(ctx, rec)
	if err == nil {
		return rec, true, nil
	}
	if domain.ErrorCode(err) != domain.CodeConflict {
		return nil, false, fmt.Errorf("claim email %s: %w", job.IdempotencyKey, err)
	}
	existing, err := s.Store.GetMail(ctx, job.IdempotencyKey)
	if err != nil {
		return nil, false, fmt.Errorf("load email record %s: %w", job.IdempotencyKey, err)
	}
	switch existing.Status {
	case StatusSent, StatusSkipped, StatusFailed:
		s.Logger.Info("email job already handled", "key", job.IdempotencyKey, "status", existing.Status)
		return nil, false, nil
	case StatusSending:
		if now.Before(existing.LeaseEnds) {
			return nil, false, domain.Errorf(domain.CodeUnavailable, "email %s is being sent by another delivery", job.IdempotencyKey)
		}
	}
	// A released (retry) or stale lease: take it over.
	existing.Status, existing.LeaseEnds, existing.UpdatedAt = StatusSending, now.Add(s.Lease), now
	if err := s.Store.UpdateMail(ctx, existing); err != nil {
		if domain.ErrorCode(err) == domain.CodePreconditionFailed {
			return nil, false, domain.Errorf(domain.CodeUnavailable, "email %s was taken over by another delivery", job.IdempotencyKey)
		}
		return nil, false, fmt.Errorf("take over email %s: %w", job.IdempotencyKey, err)
	}
	return existing, true, nil
}

// release lets the next delivery retry at once.
func (s *Service) release(ctx context.Context, rec *domain.MailRecord, cause error) {
	rec.Status, rec.LeaseEnds, rec.UpdatedAt, rec.Detail = StatusRetry, time.Time{}, s.Now().UTC(), truncate(cause.Error(), 500)
	if err := s.Store.UpdateMail(ctx, rec); err != nil {
		s.Logger.Warn("could not release email lease (it will expire)", "key", rec.Key, "err", err)
	}
}

func (s *Service) finish(ctx context.Context, rec *domain.MailRecord, status, detail string) {
	rec.Status, rec.UpdatedAt, rec.Detail = status, s.Now().UTC(), truncate(detail, 500)
	if err := s.Store.UpdateMail(ctx, rec); err != nil {
		// The email went out; a redelivery would find the stale lease
		// and send again, so this is worth an error log.
		s.Logger.Error("could not mark email handled", "key", rec.Key, "status", status, "err", err)
	}
}

// fail records a permanent failure and alerts operations (unless the
// failing email is itself an ops alert).
func (s *Service) fail(ctx context.Context, job *domain.EmailJob, rec *domain.MailRecord, cause error) (Outcome, error) {
	s.finish(ctx, rec, StatusFailed, cause.Error())
	s.Logger.Error("email failed permanently", "kind", job.Kind, "tenantId", job.TenantID, "key", job.IdempotencyKey, "err", cause)
	if job.Kind == domain.EmailOpsAlert || len(s.OpsEmails) == 0 {
		return OutcomeFailed, nil
	}
	alert := domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, TenantID: job.TenantID, Recipients: s.OpsEmails,
		IdempotencyKey: "ops-alert:email-failed:" + job.IdempotencyKey,
		Alert: &domain.Alert{Subject: "Email could not be sent", Detail: cause.Error(),
			Facts: map[string]string{"kind": string(job.Kind), "idempotencyKey": job.IdempotencyKey, "recipients": fmt.Sprint(job.Recipients)}}}
	if err := queue.PublishEmail(ctx, s.Publisher, alert, time.Time{}); err != nil {
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
	var m email.Message
	switch job.Kind {
	case domain.EmailConsentLink, domain.EmailConsentReminder:
		if t.Status != domain.StatusProvisioned && t.Status != domain.StatusRevoked {
			return out, "tenant is " + string(t.Status) + "; no consent link needed", nil
		}
		// The link is minted now, at send time: a link is only ever
		// emailed once, and the newest email holds the working link.
		link, err := s.Links.IssueLink(ctx, t.TenantID, "system:email", string(job.Kind))
		if err != nil {
			return out, "", err
		}
		d := email.ConsentLinkData{CustomerName: t.CustomerName, AdminName: adminName(t, job.Recipients), TenantID: t.TenantID, RegionName: region.DisplayName,
			Link: link.URL, ExpiresAt: link.ExpiresAt, AllowedIPs: prefixStrings(t.AllowedIPs), ProvisionedAt: t.CreatedAt, Now: s.Now().UTC()}
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
		script, name, err := Script(t)
		if err != nil {
			return out, "", err
		}
		m, err = s.Renderer.ConsentConfirmed(email.ConsentConfirmedData{CustomerName: t.CustomerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
			InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI), AppID: t.AppID, Script: script, ScriptFileName: name,
			ScriptURL: ScriptURL(s.Links.PublicBaseURL, t), RegionName: region.DisplayName, ConsentedAt: t.ConsentedAt})
		if err != nil {
			return out, "", err
		}
	case domain.EmailConsentRevoked, domain.EmailConsentDegraded:
		reason := ""
		if job.Alert != nil {
			reason = job.Alert.Detail
		}
		d := email.ConsentProblemData{CustomerName: t.CustomerName, TenantID: t.TenantID, Reason: reason, MissingPermissions: t.MissingRoles,
			DetectedAt: t.StatusChanged, ConsentURL: s.Links.StartURL()}
		if job.Kind == domain.EmailConsentRevoked {
			m, err = s.Renderer.ConsentRevoked(d)
		} else {
			m, err = s.Renderer.ConsentDegraded(d)
		}
		if err != nil {
			return out, "", err
		}
	default:
		return out, "", domain.Errorf(domain.CodeInvalid, "no template for email kind %q", job.Kind)
	}
	return withMessage(out, m), "", nil
}

// Script builds the customer's PowerShell and its file name. A tenant stored
// before the {ConfId} placeholder gets the current InstructionUri, so running
// the script again upgrades the provider.
func Script(t *domain.Tenant) (script, fileName string, err error) {
	return buildScript(t, t.CustomerName)
}

// DownloadScript is Script for the public download link: the same commands
// without the customer name (only in comments and Write-Host), so the link
// shows nothing the caller did not already know (the tenant ID it presents)
// beyond the join page's dialing facts and our public application ID.
func DownloadScript(t *domain.Tenant) (script, fileName string, err error) {
	return buildScript(t, "")
}

// ScriptURL is the download link of t's script: the primary way to get it,
// because Outlook blocks .ps1 attachments (reference identity-graph.md §4).
// It carries the tenant ID, which the handler checks against the key.
func ScriptURL(publicBase *url.URL, t *domain.Tenant) string {
	if publicBase == nil {
		return ""
	}
	u := publicBase.JoinPath("api", "join", t.TenantKeyCode, "powershell")
	u.RawQuery = url.Values{"tenant": {t.TenantID}}.Encode()
	return u.String()
}

func buildScript(t *domain.Tenant, customerName string) (script, fileName string, err error) {
	p := powershell.Params{CustomerName: customerName, TenantID: t.TenantID, TenantKey: t.TenantKey,
		InstructionURI: domain.InstructionURIWithConfID(t.InstructionURI), AppIDs: []string{t.AppID}}
	script, err = powershell.Script(p)
	if err != nil {
		return "", "", domain.Wrap(domain.CodeInternal, err, "generate PowerShell for tenant %s", t.TenantID)
	}
	return script, powershell.FileName(p), nil
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

func prefix(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
