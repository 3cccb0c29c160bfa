package graph

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/sandbox"
)

func newMailer(t *testing.T, s *sandbox.Sandbox, mutate ...func(*CredentialOptions)) *Mailer {
	t.Helper()
	creds := newCreds(t, s, append([]func(*CredentialOptions){func(o *CredentialOptions) { o.ClientSecret = mailSecret }}, mutate...)...)
	m, err := NewMailer(creds, s.OperatorTenantID(), mailAppID, s.GraphBaseURL(), nil)
	if err != nil {
		t.Fatalf("NewMailer: %v", err)
	}
	return m
}

func TestSendMailBodyShape(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	m := newMailer(t, s)
	script := []byte("# CVI onboarding\r\nNew-CsVideoInteropServiceProvider -Name 'OneMeeting' -TenantKey \"x\" # ünïcödé\n")
	mail := Mail{
		From:    "onboarding@contoso.example",
		To:      []string{"admin@customer.example", "second@customer.example"},
		Cc:      []string{"ops@contoso.example"},
		Subject: "Your CVI onboarding script",
		HTML:    "<p>Hello <b>admin</b> &amp; team</p>",
		Attachments: []Attachment{
			{Name: "onboard.ps1", ContentType: "text/plain", Content: script},
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

	// The exact JSON the SDK produced (reference §4).
	var body struct {
		Message struct {
			Subject string `json:"subject"`
			Body    struct {
				ContentType string `json:"contentType"`
				Content     string `json:"content"`
			} `json:"body"`
			ToRecipients []struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"toRecipients"`
			CcRecipients []struct {
				EmailAddress struct {
					Address string `json:"address"`
				} `json:"emailAddress"`
			} `json:"ccRecipients"`
			Attachments []struct {
				ODataType    string `json:"@odata.type"`
				Name         string `json:"name"`
				ContentType  string `json:"contentType"`
				ContentBytes string `json:"contentBytes"`
			} `json:"attachments"`
		} `json:"message"`
		SaveToSentItems *bool `json:"saveToSentItems"`
	}
	dec := json.NewDecoder(bytes.NewReader(got.RawJSON))
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("RawJSON: %v\n%s", err, got.RawJSON)
	}
	msg := body.Message
	if msg.Subject != mail.Subject || !strings.EqualFold(msg.Body.ContentType, "html") || msg.Body.Content != mail.HTML {
		t.Errorf("subject/body = %q %q %q\n%s", msg.Subject, msg.Body.ContentType, msg.Body.Content, got.RawJSON)
	}
	var to, cc []string
	for _, r := range msg.ToRecipients {
		to = append(to, r.EmailAddress.Address)
	}
	for _, r := range msg.CcRecipients {
		cc = append(cc, r.EmailAddress.Address)
	}
	if !slices.Equal(to, mail.To) || !slices.Equal(cc, mail.Cc) {
		t.Errorf("to %v cc %v, want %v %v", to, cc, mail.To, mail.Cc)
	}
	if len(msg.Attachments) != 1 {
		t.Fatalf("attachments: %s", got.RawJSON)
	}
	a := msg.Attachments[0]
	if a.ODataType != "#microsoft.graph.fileAttachment" || a.Name != "onboard.ps1" || a.ContentType != "text/plain" {
		t.Errorf("attachment = %+v", a)
	}
	if a.ContentBytes != base64.StdEncoding.EncodeToString(script) {
		t.Errorf("contentBytes = %q, want standard base64 of the script", a.ContentBytes)
	}
	if body.SaveToSentItems == nil || *body.SaveToSentItems {
		t.Errorf("saveToSentItems = %v, want false", body.SaveToSentItems)
	}
	if len(got.Attachments) != 1 || !bytes.Equal(got.Attachments[0].Content, script) {
		t.Errorf("sandbox decoded attachment differs")
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
	s.SetTenant(s.OperatorTenantID(), sandbox.Scenario{Faults: sandbox.Faults{Status503: true, RetryAfterSeconds: 3, ApplyToGraph: true}})
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
