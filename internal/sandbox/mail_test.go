package sandbox_test

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

	"github.com/onemeeting/cvi-onboarding/internal/sandbox"
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
	s := startSandbox(t, func(o *sandbox.Options) { o.OutboxDir = outbox })
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
	s2 := startSandbox(t, func(o *sandbox.Options) { o.OutboxDir = outbox })
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

	// Only the operator tenant sends mail, and only with Mail.Send.
	customer := guid(t)
	s.Consent(customer, testAppID)
	if res := graphDo(t, http.MethodPost, url, tokenFor(t, s, customer, testAppID, testSecret), strings.NewReader(mailJSON)); res.Status != http.StatusNotFound {
		t.Errorf("customer-tenant token: %d %s", res.Status, res.Body)
	}
	s.SetRoles(s.OperatorTenantID(), testAppID, sandbox.RequiredRoles())
	noMailSend := tokenFor(t, s, s.OperatorTenantID(), testAppID, testSecret)
	if res := graphDo(t, http.MethodPost, url, noMailSend, strings.NewReader(mailJSON)); res.Status != http.StatusForbidden || res.errorCode(t) != "ErrorAccessDenied" {
		t.Errorf("without Mail.Send: %d %s", res.Status, res.Body)
	}
	if n := len(s.SentMail()); n != 1 {
		t.Errorf("SentMail has %d entries, want only the valid one", n)
	}
	if st := s.Stats(); st.MailSent != 1 {
		t.Errorf("Stats.MailSent = %d", st.MailSent)
	}
}

func TestSentMailBounded(t *testing.T) {
	t.Parallel()
	s := startSandbox(t, func(o *sandbox.Options) { o.MaxStoredMail = 2; o.SigningKeyBits = 1024 })
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
