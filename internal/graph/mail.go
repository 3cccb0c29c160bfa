package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Mail is one HTML message sent as From (a mailbox of the operator tenant).
type Mail struct {
	From        string // user ID or UPN of the sending mailbox
	To, Cc      []string
	Subject     string
	HTML        string
	Attachments []Attachment
}

// Attachment is a file attachment (sent inline, base64; keep it under ~3 MB).
type Attachment struct {
	Name        string
	ContentType string // default application/octet-stream
	Content     []byte
}

// Mailer sends mail with an app-only token of the mail app in the operator
// (our own) tenant, which alone holds Mail.Send.
type Mailer struct {
	creds         *Credentials
	tenantID, app string
	graph         *graphClient
	log           *slog.Logger
}

// NewMailer sends through graphBaseURL (e.g. "https://graph.microsoft.com/v1.0").
func NewMailer(creds *Credentials, operatorTenantID, mailAppID, graphBaseURL string, logger *slog.Logger) (*Mailer, error) {
	if creds == nil {
		return nil, errors.New("graph mailer: nil credentials")
	}
	if strings.TrimSpace(operatorTenantID) == "" || strings.TrimSpace(mailAppID) == "" {
		return nil, errors.New("graph mailer: operator tenant ID and mail app ID are required")
	}
	g, err := newGraphClient(creds, graphBaseURL)
	if err != nil {
		return nil, fmt.Errorf("graph mailer: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Mailer{creds: creds, tenantID: operatorTenantID, app: mailAppID, graph: g, log: logger.With("component", "graph-mail")}, nil
}

// Send posts users/{From}/sendMail. Graph answers 202 and delivers later.
// Errors: CodeUnavailable for 429/5xx/network (see RetryAfter), CodeInvalid
// when Graph rejects the message (its code and message included),
// CodeInternal when our mail credential is broken.
func (m *Mailer) Send(ctx context.Context, mail Mail) error {
	if strings.TrimSpace(mail.From) == "" {
		return domain.FieldError("from", "the sending mailbox is required")
	}
	start := time.Now()
	ctx, cancel := withCallDeadline(ctx)
	defer cancel()
	err := m.send(ctx, mail)
	if err != nil {
		// Debug like every call here: the caller decides what a failure is worth.
		m.log.LogAttrs(ctx, slog.LevelDebug, "sendMail failed", slog.String("from", mail.From),
			slog.Int("recipients", len(mail.To)+len(mail.Cc)), slog.String("error_code", string(domain.ErrorCode(err))),
			slog.Any("err", err), slog.Duration("elapsed", time.Since(start)))
		return err
	}
	m.log.LogAttrs(ctx, slog.LevelDebug, "sendMail accepted", slog.String("from", mail.From),
		slog.Int("recipients", len(mail.To)+len(mail.Cc)), slog.Int("attachments", len(mail.Attachments)),
		slog.Duration("elapsed", time.Since(start)))
	return nil
}

func (m *Mailer) send(ctx context.Context, mail Mail) error {
	cred, err := m.creds.For(m.tenantID, m.app)
	if err != nil {
		return err
	}
	// Asking first (a cache hit after the first mail) keeps token failures
	// classified by their AADSTS code instead of surfacing through kiota.
	if _, err := getToken(ctx, cred); err != nil {
		f := classifyTokenError(ctx, err)
		if f.kind == failTransient {
			return unavailable(f.cause(), f.retryAfter, "mail token")
		}
		return domain.Wrap(domain.CodeInternal, f.cause(),
			"OUR mail app credential was rejected in the operator tenant; fix the credential or the mail app's consent")
	}
	adapter, err := m.graph.adapter(cred)
	if err != nil {
		return domain.Wrap(domain.CodeInternal, err, "sendMail")
	}
	err = users.NewUsersRequestBuilderInternal(m.graph.pathParams(), adapter).
		ByUserId(mail.From).SendMail().Post(ctx, messageBody(mail), nil)
	if err == nil {
		return nil
	}
	f := classifyGraphError(ctx, err)
	switch {
	case f.kind == failTransient:
		return unavailable(f.cause(), f.retryAfter, "sendMail")
	case f.status == 0:
		return domain.Wrap(domain.CodeInternal, f.cause(), "sendMail")
	case f.status == 401:
		m.creds.Forget(m.tenantID, m.app) // next mail starts with a new token
	}
	return domain.Wrap(domain.CodeInvalid, f.cause(), "sendMail rejected by Graph")
}

// body builds the sendMail payload of reference §4.
func messageBody(mail Mail) users.ItemSendMailPostRequestBodyable {
	msg := models.NewMessage()
	msg.SetSubject(&mail.Subject)
	content := models.NewItemBody()
	html := models.HTML_BODYTYPE
	content.SetContentType(&html)
	content.SetContent(&mail.HTML)
	msg.SetBody(content)
	if len(mail.To) > 0 {
		msg.SetToRecipients(recipients(mail.To))
	}
	if len(mail.Cc) > 0 {
		msg.SetCcRecipients(recipients(mail.Cc))
	}
	if len(mail.Attachments) > 0 {
		atts := make([]models.Attachmentable, 0, len(mail.Attachments))
		for _, a := range mail.Attachments {
			fa := models.NewFileAttachment()
			name, contentType := a.Name, a.ContentType
			if contentType == "" {
				contentType = "application/octet-stream"
			}
			fa.SetName(&name)
			fa.SetContentType(&contentType)
			fa.SetContentBytes(a.Content)
			atts = append(atts, fa)
		}
		msg.SetAttachments(atts)
	}
	body := users.NewItemSendMailPostRequestBody()
	body.SetMessage(msg)
	save := false // service mail; nobody reads the sending mailbox's Sent Items
	body.SetSaveToSentItems(&save)
	return body
}

func recipients(addrs []string) []models.Recipientable {
	out := make([]models.Recipientable, 0, len(addrs))
	for _, a := range addrs {
		addr := a
		email := models.NewEmailAddress()
		email.SetAddress(&addr)
		r := models.NewRecipient()
		r.SetEmailAddress(email)
		out = append(out, r)
	}
	return out
}
