package graph

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Mail is one message sent as From (a mailbox of the operator tenant): HTML
// with an optional plain-text alternative.
type Mail struct {
	From        string // user ID or UPN of the sending mailbox
	To, Cc      []string
	Subject     string
	HTML        string
	Text        string // plain-text alternative; with it the message is multipart/alternative
	Kind        string // sent as the X-OneMeeting-Kind header (names the local outbox files)
	Attachments []Attachment
}

// KindHeader carries Mail.Kind; the sandbox names its outbox files after it.
const KindHeader = "X-OneMeeting-Kind"

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
	raw, err := buildMIME(mail, time.Now())
	if err != nil {
		return err
	}
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
	err = postMIME(ctx, adapter, m.graph.pathParams(), mail.From, raw)
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

// postMIME posts the MIME form of sendMail (Graph user-sendmail, example 4:
// same URL, Content-Type text/plain, body = base64 of the RFC 5322 message).
// msgraph-sdk-go's SendMail builder only serialises the JSON form, so the
// request goes through the same request adapter (auth, retry, error
// mapping) with the builder's own URL template.
func postMIME(ctx context.Context, adapter abstractions.RequestAdapter, pathParams map[string]string, from string, raw []byte) error {
	rb := users.NewUsersRequestBuilderInternal(pathParams, adapter).ByUserId(from).SendMail()
	info := abstractions.NewRequestInformationWithMethodAndUrlTemplateAndPathParameters(abstractions.POST, rb.UrlTemplate, rb.PathParameters)
	info.Headers.TryAdd("Accept", "application/json")
	body := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(body, raw)
	info.SetStreamContentAndContentType(body, "text/plain")
	return adapter.SendNoContent(ctx, info, abstractions.ErrorMappings{
		"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue,
	})
}

// buildMIME renders mail as an RFC 5322 message: multipart/alternative
// (plain text first, HTML last: the last part is the preferred one, RFC 2046
// §5.1.4), inside multipart/mixed when there are attachments. Bodies are
// quoted-printable UTF-8, attachments base64. Header values cannot carry a
// line break: addresses must parse, text is RFC 2047-encoded.
func buildMIME(mail Mail, now time.Time) ([]byte, error) {
	var errs domain.Errors
	addrList := func(field string, addrs []string) string {
		parts := make([]string, 0, len(addrs))
		for i, a := range addrs {
			p, err := netmail.ParseAddress(a)
			if err != nil || strings.ContainsAny(a, "\r\n") || p.Name != "" {
				errs = append(errs, domain.FieldError(fmt.Sprintf("%s[%d]", field, i), "is not a plain email address"))
				continue
			}
			parts = append(parts, (&netmail.Address{Address: p.Address}).String())
		}
		return strings.Join(parts, ", ")
	}
	to, cc := addrList("to", mail.To), addrList("cc", mail.Cc)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	header := func(name, value string) { fmt.Fprintf(&buf, "%s: %s\r\n", name, value) }
	if p, err := netmail.ParseAddress(mail.From); err == nil && p.Name == "" {
		header("From", (&netmail.Address{Address: p.Address}).String())
	} // an object ID: Exchange sets From to the mailbox (UNVERIFIED)
	if to != "" {
		header("To", to)
	}
	if cc != "" {
		header("Cc", cc)
	}
	header("Subject", headerText(mail.Subject))
	header("Date", now.UTC().Format(time.RFC1123Z))
	header("MIME-Version", "1.0")
	if mail.Kind != "" {
		header(KindHeader, headerText(mail.Kind))
	}

	outer := multipart.NewWriter(&buf)
	if len(mail.Attachments) > 0 {
		header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": outer.Boundary()}))
		buf.WriteString("\r\n")
		var altBuf bytes.Buffer
		alt := multipart.NewWriter(&altBuf)
		if err := writeAlternatives(alt, mail); err != nil {
			return nil, err
		}
		part, err := outer.CreatePart(textproto.MIMEHeader{"Content-Type": {
			mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": alt.Boundary()})}})
		if err != nil {
			return nil, fmt.Errorf("mime: %w", err)
		}
		if _, err := part.Write(altBuf.Bytes()); err != nil {
			return nil, fmt.Errorf("mime: %w", err)
		}
		for _, a := range mail.Attachments {
			if err := writeAttachment(outer, a); err != nil {
				return nil, err
			}
		}
		if err := outer.Close(); err != nil {
			return nil, fmt.Errorf("mime: %w", err)
		}
		return buf.Bytes(), nil
	}
	// The top-level writer is the alternative itself.
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": outer.Boundary()}))
	buf.WriteString("\r\n")
	if err := writeAlternatives(outer, mail); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// headerText is s on one line, RFC 2047-encoded when it is not plain ASCII.
func headerText(s string) string {
	return mime.QEncoding.Encode("utf-8", strings.Join(strings.Fields(s), " "))
}

// writeAlternatives writes the text and HTML parts and closes w.
func writeAlternatives(w *multipart.Writer, mail Mail) error {
	bodies := []struct{ contentType, content string }{{"text/html; charset=utf-8", mail.HTML}}
	if mail.Text != "" {
		bodies = slices.Insert(bodies, 0, struct{ contentType, content string }{"text/plain; charset=utf-8", mail.Text})
	}
	for _, b := range bodies {
		part, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {b.contentType}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return fmt.Errorf("mime: %w", err)
		}
		qp := quotedprintable.NewWriter(part)
		// CRLF line ends, as RFC 5322 wants; the templates write \n.
		if _, err := io.WriteString(qp, crlf(b.content)); err != nil {
			return fmt.Errorf("mime: %w", err)
		}
		if err := qp.Close(); err != nil {
			return fmt.Errorf("mime: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mime: %w", err)
	}
	return nil
}

func crlf(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

func writeAttachment(w *multipart.Writer, a Attachment) error {
	ct := "application/octet-stream"
	if mt, params, err := mime.ParseMediaType(a.ContentType); err == nil {
		params["name"] = a.Name
		ct = mime.FormatMediaType(mt, params)
	}
	part, err := w.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {ct},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
		"Content-Transfer-Encoding": {"base64"},
	})
	if err != nil {
		return fmt.Errorf("mime attachment %q: %w", a.Name, err)
	}
	enc := base64.StdEncoding.EncodeToString(a.Content)
	for len(enc) > 76 {
		if _, err := io.WriteString(part, enc[:76]+"\r\n"); err != nil {
			return fmt.Errorf("mime attachment %q: %w", a.Name, err)
		}
		enc = enc[76:]
	}
	_, err = io.WriteString(part, enc+"\r\n")
	return err
}
