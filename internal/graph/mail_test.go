package graph

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func newMailer(t *testing.T, s *entrasim.Sandbox, mutate ...func(*CredentialOptions)) *Mailer {
	t.Helper()
	creds := newCreds(t, s, append([]func(*CredentialOptions){func(o *CredentialOptions) { o.ClientSecret = mailSecret }}, mutate...)...)
	m, err := NewMailer(creds, s.OperatorTenantID(), mailAppID, s.GraphBaseURL(), nil)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m
}

// mimeParts reads a multipart entity into its parts' media types and
// decoded bodies, depth first, for checking what the mailer produced.
type mimePart struct {
	mediaType, disposition, fileName string
	body                             []byte
}

func readMIME(t *testing.T, h textproto.MIMEHeader, body io.Reader) (top string, parts []mimePart) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", h.Get("Content-Type"), err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		var r io.Reader = body
		switch h.Get("Content-Transfer-Encoding") {
		case "quoted-printable":
			r = quotedprintable.NewReader(body)
		case "base64":
			r = base64.NewDecoder(base64.StdEncoding, body)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("%s body: %v", mt, err)
		}
		disp, dp, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		return mt, []mimePart{{mediaType: mt, disposition: disp, fileName: dp["filename"], body: b}}
	}
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return mt, parts
		}
		if err != nil {
			t.Fatalf("%s: %v", mt, err)
		}
		sub, subParts := readMIME(t, p.Header, p)
		if strings.HasPrefix(sub, "multipart/") {
			parts = append(parts, mimePart{mediaType: sub})
		}
		parts = append(parts, subParts...)
	}
}

// The mailer sends Graph's MIME form of sendMail (issue 10 item 10):
// text/plain request of base64 RFC 5322, multipart/alternative with the
// plain text first and the HTML last, attachments around it in
// multipart/mixed. It goes through the SDK's request adapter to the sandbox.
func TestSendMailMIMEShape(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s)
	script := []byte("# CVI onboarding\r\nNew-CsVideoInteropServiceProvider -Name 'OneMeeting' -TenantKey \"x\" # \u00fcn\u00efc\u00f6d\u00e9\n")
	mail := Mail{
		From:    "onboarding@contoso.example",
		To:      []string{"admin@customer.example", "second@customer.example"},
		Cc:      []string{"ops@contoso.example"},
		Subject: "Your CVI onboarding script \u2014 M\u00fcller\r\nBcc: attacker@evil.example",
		HTML:    "<p>Hello <b>admin</b> &amp; team \u2014 " + strings.Repeat("long line ", 20) + "</p>",
		Text:    "Hello admin & team \u2014\nsecond line =3D not an escape\n",
		Kind:    "consent-confirmed",
		Attachments: []Attachment{
			{Name: "onboard.txt", ContentType: "text/plain", Content: script},
		},
	}
	if err := m.Send(ctxTimeout(t, 30*time.Second), mail); err != nil {
		t.Fatalf("Send: %v", err)
	}
	sent := s.SentMail()
	if len(sent) != 1 {
		t.Fatalf("sandbox has %d mails, want 1", len(sent))
	}
	got := sent[0]
	if got.From != mail.From || got.TenantID != s.OperatorTenantID() || !strings.EqualFold(got.AppID, mailAppID) {
		t.Errorf("sent as %q from tenant %s app %s", got.From, got.TenantID, got.AppID)
	}
	if mt, _, _ := mime.ParseMediaType(got.RequestType); mt != "text/plain" || got.RawJSON != nil || got.RawMIME == nil {
		t.Fatalf("request Content-Type %q (JSON %d bytes): want the MIME form", got.RequestType, len(got.RawJSON))
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(got.RawMIME))
	if err != nil {
		t.Fatalf("the message is not RFC 5322: %v", err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "Your CVI onboarding script \u2014 M\u00fcller Bcc: attacker@evil.example" {
		t.Errorf("Subject %q (%v): want the subject on one line", subject, err)
	}
	if msg.Header.Get("Bcc") != "" || got.Bcc != nil {
		t.Error("a line break in the subject forged a Bcc header")
	}
	if !slices.Equal(got.To, mail.To) || !slices.Equal(got.Cc, mail.Cc) || got.Subject != subject || got.Kind != "consent-confirmed" {
		t.Errorf("to %v cc %v subject %q kind %q", got.To, got.Cc, got.Subject, got.Kind)
	}
	top, parts := readMIME(t, textproto.MIMEHeader(msg.Header), msg.Body)
	var shape []string
	for _, p := range parts {
		shape = append(shape, p.mediaType)
	}
	if top != "multipart/mixed" || !slices.Equal(shape, []string{"multipart/alternative", "text/plain", "text/html", "text/plain"}) {
		t.Fatalf("structure %s %v, want multipart/mixed [multipart/alternative text/plain text/html] + attachment", top, shape)
	}
	if crlf(mail.Text) != string(parts[1].body) || parts[1].disposition != "" {
		t.Errorf("text part %q", parts[1].body)
	}
	if string(parts[2].body) != mail.HTML || got.HTMLBody != mail.HTML || strings.ReplaceAll(got.TextBody, "\r\n", "\n") != mail.Text {
		t.Errorf("html part %q; sandbox html %q text %q", parts[2].body, got.HTMLBody, got.TextBody)
	}
	if a := parts[3]; a.disposition != "attachment" || a.fileName != "onboard.txt" || !bytes.Equal(a.body, script) {
		t.Errorf("attachment %+v", a)
	}
	if len(got.Attachments) != 1 || !bytes.Equal(got.Attachments[0].Content, script) {
		t.Errorf("sandbox decoded attachment differs")
	}

	// Without attachments the message itself is multipart/alternative.
	mail.Attachments = nil
	if err := m.Send(ctxTimeout(t, 30*time.Second), mail); err != nil {
		t.Fatal(err)
	}
	last := s.SentMail()[1]
	if last.MediaType != "multipart/alternative" || last.HTMLBody != mail.HTML || last.TextBody == "" || len(last.Attachments) != 0 {
		t.Errorf("no attachments: %s html=%t text=%t attachments=%d", last.MediaType, last.HTMLBody != "", last.TextBody != "", len(last.Attachments))
	}
}

// A malformed address never reaches Graph: it could fold into a header.
func TestSendMailRefusesMalformedAddress(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s)
	for _, addr := range []string{"a@b.example\r\nBcc: evil@x.example", "Eve <eve@x.example>", "not an address"} {
		err := m.Send(ctxTimeout(t, 30*time.Second), Mail{From: "onboarding@contoso.example", To: []string{addr}, Subject: "s", HTML: "<p>x</p>"})
		if domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != "to[0]" {
			t.Errorf("%q: %v, want CodeInvalid on to[0]", addr, err)
		}
	}
	if n := len(s.SentMail()); n != 0 {
		t.Errorf("%d mails recorded", n)
	}
}

// With Exchange RBAC for Applications the mail app's token carries no
// Mail.Send role; sending must work anyway (the sandbox must not demand it).
func TestSendMailWithoutMailSendRole(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	s.SetRoles(s.OperatorTenantID(), mailAppID, nil)
	m := newMailer(t, s)
	if err := m.Send(ctxTimeout(t, 30*time.Second), Mail{From: "onboarding@contoso.example", To: []string{"a@b.example"}, Subject: "s", HTML: "<p>x</p>"}); err != nil {
		t.Fatalf("Send with a token without Mail.Send: %v", err)
	}
	if n := len(s.SentMail()); n != 1 {
		t.Errorf("%d mails recorded, want 1", n)
	}
}

func TestSendMailRejectedIsPermanent(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s)
	err := m.Send(ctxTimeout(t, 30*time.Second), Mail{From: "onboarding@contoso.example", Subject: "no recipients", HTML: "<p>x</p>"})
	if err == nil {
		t.Fatal("mail without recipients was accepted")
	}
	if domain.ErrorCode(err) != domain.CodeInvalid || domain.IsTransient(err) {
		t.Errorf("code %s, want permanent %s: %v", domain.ErrorCode(err), domain.CodeInvalid, err)
	}
	if !strings.Contains(err.Error(), "ErrorInvalidRequest") || !strings.Contains(err.Error(), "recipient") {
		t.Errorf("error should carry Graph's code and message: %v", err)
	}
	if n := len(s.SentMail()); n != 0 {
		t.Errorf("%d mails recorded", n)
	}
	if err := m.Send(ctxTimeout(t, 30*time.Second), Mail{To: []string{"a@b.example"}}); domain.ErrorCode(err) != domain.CodeInvalid || domain.ErrorField(err) != "from" {
		t.Errorf("missing From: %v", err)
	}
}

func TestSendMailTransient(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s)
	s.SetTenant(s.OperatorTenantID(), entrasim.Scenario{Faults: entrasim.Faults{Status503: true, RetryAfterSeconds: 3, ApplyToGraph: true}})
	err := m.Send(ctxTimeout(t, 30*time.Second), Mail{From: "onboarding@contoso.example", To: []string{"a@b.example"}, Subject: "s", HTML: "<p>x</p>"})
	if !domain.IsTransient(err) || RetryAfter(err) != 3*time.Second {
		t.Errorf("503: %v (RetryAfter %v), want transient with 3s", err, RetryAfter(err))
	}
	if n := len(s.SentMail()); n != 0 {
		t.Errorf("%d mails recorded", n)
	}
}

func TestSendMailWrongSecret(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s, func(o *CredentialOptions) { o.ClientSecret = "wrong" })
	err := m.Send(ctxTimeout(t, 30*time.Second), Mail{From: "onboarding@contoso.example", To: []string{"a@b.example"}, Subject: "s", HTML: "x"})
	if domain.ErrorCode(err) != domain.CodeInternal || !strings.Contains(err.Error(), "7000215") {
		t.Errorf("wrong mail secret: %v, want CodeInternal naming AADSTS7000215", err)
	}
}
