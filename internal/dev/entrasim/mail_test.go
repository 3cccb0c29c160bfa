package entrasim_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

const mailJSON = `{"message":{"subject":"Consent your tenant — Contoso","body":{"contentType":"HTML","content":"<p>Hello <b>admin</b>, click here.</p>"},
"toRecipients":[{"emailAddress":{"address":"admin@contoso.example","name":"Ada Admin"}}],
"ccRecipients":[{"emailAddress":{"address":"ops@provider.example"}}],
"internetMessageHeaders":[{"name":"X-OneMeeting-Kind","value":"consent-link"}],
"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"setup.ps1","contentType":"text/plain","contentBytes":"` +
	"TmV3LUNzVmlkZW9JbnRlcm9wU2VydmljZVByb3ZpZGVyIC1OYW1lICdPbmVNZWV0aW5nJw==" + `"}]},
"saveToSentItems":false}`

func TestSendMailRecordedAndWrittenToOutbox(t *testing.T) {
	t.Parallel()
	outbox := t.TempDir()
	s := startSandbox(t, func(o *entrasim.Options) { o.OutboxDir = outbox })
	tok := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	sender := "noreply@provider.example"

	res := graphDo(t, http.MethodPost, s.GraphBaseURL()+"/users/"+sender+"/sendMail", tok, strings.NewReader(mailJSON))
	if res.Status != http.StatusAccepted || len(res.Body) != 0 {
		t.Fatalf("sendMail: %d %s", res.Status, res.Body)
	}
	// A second mail without a kind header is named after its subject.
	second := strings.Replace(mailJSON, `"internetMessageHeaders":[{"name":"X-OneMeeting-Kind","value":"consent-link"}],`, "", 1)
	second = strings.Replace(second, "Consent your tenant — Contoso", "Your tenant is ready!", 1)
	if res := graphDo(t, http.MethodPost, s.GraphBaseURL()+"/users/"+sender+"/sendMail", tok, strings.NewReader(second)); res.Status != http.StatusAccepted {
		t.Fatalf("second sendMail: %d %s", res.Status, res.Body)
	}

	mails := s.SentMail()
	if len(mails) != 2 {
		t.Fatalf("SentMail has %d entries", len(mails))
	}
	m := mails[0]
	if m.From != sender || m.Subject != "Consent your tenant — Contoso" || !slices.Equal(m.To, []string{"admin@contoso.example"}) ||
		!slices.Equal(m.Cc, []string{"ops@provider.example"}) || m.HTMLBody != "<p>Hello <b>admin</b>, click here.</p>" ||
		m.Kind != "consent-link" || m.At.IsZero() || !bytes.Equal(m.RawJSON, []byte(mailJSON)) {
		t.Errorf("recorded mail = %+v", m)
	}
	if len(m.Attachments) != 1 || m.Attachments[0].Name != "setup.ps1" || m.Attachments[0].ContentType != "text/plain" ||
		string(m.Attachments[0].Content) != "New-CsVideoInteropServiceProvider -Name 'OneMeeting'" {
		t.Errorf("attachments = %+v", m.Attachments)
	}

	entries, err := os.ReadDir(outbox)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"000001-consent-link.eml", "000001-consent-link.html", "000002-your-tenant-is-ready.eml", "000002-your-tenant-is-ready.html"}
	if !slices.Equal(names, want) {
		t.Fatalf("outbox = %v, want %v", names, want)
	}
	if m.EMLPath != filepath.Join(outbox, want[0]) {
		t.Errorf("EMLPath = %s", m.EMLPath)
	}
	htmlBody, err := os.ReadFile(filepath.Join(outbox, want[1]))
	if err != nil || string(htmlBody) != m.HTMLBody {
		t.Errorf(".html = %q (%v)", htmlBody, err)
	}
	checkEML(t, filepath.Join(outbox, want[0]), sender)

	// A restarted sandbox continues the numbering.
	s2 := startSandbox(t, func(o *entrasim.Options) { o.OutboxDir = outbox })
	tok2 := tokenFor(t, s2, s2.OperatorTenantID(), testAppID, testSecret)
	if res := graphDo(t, http.MethodPost, s2.GraphBaseURL()+"/users/"+sender+"/sendMail", tok2, strings.NewReader(mailJSON)); res.Status != http.StatusAccepted {
		t.Fatal(res.Status)
	}
	if _, err := os.Stat(filepath.Join(outbox, "000003-consent-link.eml")); err != nil {
		t.Errorf("numbering after restart: %v", err)
	}
}

func checkEML(t *testing.T, path, sender string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msg, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatalf("eml does not parse: %v", err)
	}
	h := msg.Header
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != "Consent your tenant — Contoso" {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	if from, err := mail.ParseAddress(h.Get("From")); err != nil || from.Address != sender {
		t.Errorf("From = %q", h.Get("From"))
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "admin@contoso.example" {
		t.Errorf("To = %q", h.Get("To"))
	}
	if h.Get("Cc") == "" || h.Get("Message-ID") == "" || h.Get("X-OneMeeting-Kind") != "consent-link" {
		t.Errorf("headers = %v", h)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type = %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	body, err := mr.NextPart() // decodes quoted-printable
	if err != nil {
		t.Fatal(err)
	}
	if ct := body.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("body part type %q", ct)
	}
	if b, _ := io.ReadAll(body); string(b) != "<p>Hello <b>admin</b>, click here.</p>" {
		t.Errorf("body part = %q", b)
	}
	att, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	if att.FileName() != "setup.ps1" || att.Header.Get("Content-Transfer-Encoding") != "base64" {
		t.Errorf("attachment headers %v", att.Header)
	}
	raw, _ := io.ReadAll(att)
	content, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\r\n", ""))
	if err != nil || string(content) != "New-CsVideoInteropServiceProvider -Name 'OneMeeting'" {
		t.Errorf("attachment content %q (%v)", content, err)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("extra parts: %v", err)
	}
}

func TestSendMailValidationAndAuthorization(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tok := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	url := s.GraphBaseURL() + "/users/noreply@provider.example/sendMail"
	cases := map[string]struct {
		body string
		code string
	}{
		"empty":           {"", "ErrorInvalidRequest"},
		"not JSON":        {"{", "RequestBodyRead"},
		"no message":      {`{"saveToSentItems":false}`, "ErrorInvalidRequest"},
		"no subject":      {`{"message":{"body":{"contentType":"HTML","content":"x"},"toRecipients":[{"emailAddress":{"address":"a@b.example"}}]}}`, "ErrorInvalidRequest"},
		"no body":         {`{"message":{"subject":"s","toRecipients":[{"emailAddress":{"address":"a@b.example"}}]}}`, "ErrorInvalidRequest"},
		"bad contentType": {`{"message":{"subject":"s","body":{"contentType":"markdown","content":"x"},"toRecipients":[{"emailAddress":{"address":"a@b.example"}}]}}`, "ErrorInvalidRequest"},
		"no recipients":   {`{"message":{"subject":"s","body":{"contentType":"HTML","content":"x"},"toRecipients":[]}}`, "ErrorInvalidRequest"},
		"bad address":     {`{"message":{"subject":"s","body":{"contentType":"HTML","content":"x"},"toRecipients":[{"emailAddress":{"address":"not an address"}}]}}`, "ErrorInvalidRecipients"},
		"bad attachment":  {`{"message":{"subject":"s","body":{"contentType":"HTML","content":"x"},"toRecipients":[{"emailAddress":{"address":"a@b.example"}}],"attachments":[{"name":"a","contentBytes":"AAAA"}]}}`, "ErrorInvalidRequest"},
		"bad header":      {`{"message":{"subject":"s","body":{"contentType":"HTML","content":"x"},"toRecipients":[{"emailAddress":{"address":"a@b.example"}}],"internetMessageHeaders":[{"name":"Kind","value":"v"}]}}`, "InvalidInternetMessageHeader"},
	}
	for name, tc := range cases {
		res := graphDo(t, http.MethodPost, url, tok, strings.NewReader(tc.body))
		if res.Status != http.StatusBadRequest || res.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s", name, res.Status, res.Body)
		}
	}
	// The SDK's lower-case enum and text bodies are fine.
	ok := `{"message":{"subject":"s","body":{"contentType":"text","content":"plain"},"toRecipients":[{"emailAddress":{"address":"a@b.example"}}]}}`
	if res := graphDo(t, http.MethodPost, url, tok, strings.NewReader(ok)); res.Status != http.StatusAccepted {
		t.Errorf("text body: %d %s", res.Status, res.Body)
	}

	// Only the operator tenant sends mail. A token without a Mail.Send role
	// is fine: Exchange RBAC for Applications grants it in Exchange, and the
	// token carries none (issue 10 item 10).
	customer := testkit.GUID(t)
	s.Consent(customer, testAppID)
	if res := graphDo(t, http.MethodPost, url, tokenFor(t, s, customer, testAppID, testSecret), strings.NewReader(mailJSON)); res.Status != http.StatusNotFound {
		t.Errorf("customer-tenant token: %d %s", res.Status, res.Body)
	}
	s.SetRoles(s.OperatorTenantID(), testAppID, entrasim.RequiredRoles())
	noMailSend := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	if res := graphDo(t, http.MethodPost, url, noMailSend, strings.NewReader(mailJSON)); res.Status != http.StatusAccepted {
		t.Errorf("without a Mail.Send role: %d %s, want 202", res.Status, res.Body)
	}
	if n := len(s.SentMail()); n != 2 {
		t.Errorf("SentMail has %d entries, want only the two valid ones", n)
	}
	if st := s.Stats(); st.MailSent != 2 {
		t.Errorf("Stats.MailSent = %d", st.MailSent)
	}
}

func TestSentMailBounded(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *entrasim.Options) { o.MaxStoredMail = 2; o.SigningKeyBits = 1024 })
	tok := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	for range 3 {
		if res := graphDo(t, http.MethodPost, s.GraphBaseURL()+"/users/x@provider.example/sendMail", tok, strings.NewReader(mailJSON)); res.Status != http.StatusAccepted {
			t.Fatal(res.Status)
		}
	}
	mails := s.SentMail()
	if len(mails) != 2 || mails[0].Seq != 2 || mails[1].Seq != 3 {
		t.Errorf("kept %d mails: %+v", len(mails), mails)
	}
}

// mimeMail is an RFC 5322 multipart/alternative message like the mailer's.
const mimeMail = "From: noreply@provider.example\r\n" +
	"To: admin@contoso.example, Second <second@contoso.example>\r\n" +
	"Subject: =?utf-8?q?Consent_your_tenant_=E2=80=94_Contoso?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"X-OneMeeting-Kind: consent-confirmed\r\n" +
	"Content-Type: multipart/alternative; boundary=b1\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Hello admin =E2=80=94 click here.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"<p>Hello <b>admin</b> =E2=80=94 click here.</p>\r\n" +
	"--b1--\r\n"

func postMIME(t *testing.T, s *entrasim.Sandbox, tok, body string) graphResult {
	t.Helper()
	return graphDo(t, http.MethodPost, s.GraphBaseURL()+"/users/noreply@provider.example/sendMail", tok, strings.NewReader(body),
		"Content-Type", "text/plain")
}

// The MIME form of sendMail (Graph user-sendmail, example 4): a text/plain
// request of base64 RFC 5322. Both alternatives are recorded and the outbox
// .eml is the message as sent.
func TestSendMailMIMEForm(t *testing.T) {
	t.Parallel()
	outbox := t.TempDir()
	s := startSandbox(t, func(o *entrasim.Options) { o.OutboxDir = outbox })
	tok := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	if res := postMIME(t, s, tok, base64.StdEncoding.EncodeToString([]byte(mimeMail))); res.Status != http.StatusAccepted || len(res.Body) != 0 {
		t.Fatalf("sendMail (MIME): %d %s", res.Status, res.Body)
	}
	mails := s.SentMail()
	if len(mails) != 1 {
		t.Fatalf("SentMail has %d entries", len(mails))
	}
	m := mails[0]
	if m.Subject != "Consent your tenant \u2014 Contoso" || !slices.Equal(m.To, []string{"admin@contoso.example", "second@contoso.example"}) ||
		m.MediaType != "multipart/alternative" || m.Kind != "consent-confirmed" || m.RawJSON != nil || string(m.RawMIME) != mimeMail {
		t.Errorf("recorded mail = %+v", m)
	}
	if m.HTMLBody != "<p>Hello <b>admin</b> \u2014 click here.</p>" || m.TextBody != "Hello admin \u2014 click here." || m.BodyContentType != "html" {
		t.Errorf("bodies: html %q text %q (%s)", m.HTMLBody, m.TextBody, m.BodyContentType)
	}
	if m.EMLPath != filepath.Join(outbox, "000001-consent-confirmed.eml") {
		t.Fatalf("EMLPath = %s", m.EMLPath)
	}
	eml, err := os.ReadFile(m.EMLPath)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(eml))
	if err != nil {
		t.Fatalf("outbox eml does not parse: %v", err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || msg.Header.Get("X-Sandbox") == "" {
		t.Fatalf("eml headers %v", msg.Header)
	}
	var types []string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
	}
	if !slices.Equal(types, []string{"text/plain", "text/html"}) {
		t.Errorf("eml parts %v, want text/plain and text/html", types)
	}
}

// Malformed MIME is refused with 400 like Graph (codes: Exchange's
// ErrorMimeContentInvalidBase64String / ErrorMimeContentInvalid; texts
// UNVERIFIED), and nothing is recorded.
func TestSendMailMIMERejectsMalformed(t *testing.T) {
	t.Parallel()
	s := startSandbox(t)
	tok := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := map[string]struct{ body, code string }{
		"empty":               {"", "ErrorMimeContentInvalidBase64String"},
		"not base64":          {"this is not base64!", "ErrorMimeContentInvalidBase64String"},
		"raw MIME":            {mimeMail, "ErrorMimeContentInvalidBase64String"},
		"URL-safe base64":     {strings.NewReplacer("+", "-", "/", "_").Replace(b64(mimeMail + "\xfb\xff")), "ErrorMimeContentInvalidBase64String"},
		"not a header":        {b64("This is not a header\r\n\r\nbody"), "ErrorMimeContentInvalid"},
		"truncated multipart": {b64(strings.TrimSuffix(mimeMail, "--b1--\r\n")), "ErrorMimeContentInvalid"},
		"no boundary":         {b64(strings.Replace(mimeMail, "; boundary=b1", "", 1)), "ErrorMimeContentInvalid"},
		"bad base64 part":     {b64(strings.Replace(mimeMail, "Content-Transfer-Encoding: quoted-printable", "Content-Transfer-Encoding: base64", 1)), "ErrorMimeContentInvalid"},
		"no recipients":       {b64(strings.Replace(mimeMail, "To: admin@contoso.example, Second <second@contoso.example>\r\n", "", 1)), "ErrorInvalidRequest"},
		"bad recipient":       {b64(strings.Replace(mimeMail, "To: admin@contoso.example,", "To: admin@@,", 1)), "ErrorInvalidRecipients"},
		"no subject":          {b64(strings.Replace(mimeMail, "Subject: =?utf-8?q?Consent_your_tenant_=E2=80=94_Contoso?=\r\n", "", 1)), "ErrorInvalidRequest"},
	}
	for name, tc := range cases {
		res := postMIME(t, s, tok, tc.body)
		if res.Status != http.StatusBadRequest || res.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want 400 %s", name, res.Status, res.Body, tc.code)
		}
	}
	if n := len(s.SentMail()); n != 0 {
		t.Errorf("SentMail has %d entries", n)
	}
}
