package entrasim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// MailKindHeader is the internetMessageHeaders name whose value (e.g.
// "consent-link") names the outbox files; without it the subject is used.
const MailKindHeader = "X-OneMeeting-Kind"

// maxSendMailBytes approximates Graph's 4 MB request limit for sendMail.
const maxSendMailBytes = 4 << 20

// SentMail is one accepted sendMail request. Treat slices as read-only.
type SentMail struct {
	Seq             int
	From            string // the users/{id} path value
	TenantID        string // tid of the caller's token
	AppID           string
	RawJSON         []byte // JSON form: request body exactly as received
	RawMIME         []byte // MIME form: the decoded RFC 5322 message
	RequestType     string // the request's Content-Type header
	MediaType       string // MIME form: top-level type, e.g. multipart/alternative
	Subject         string
	To, Cc, Bcc     []string
	BodyContentType string // as sent: "html"/"HTML"/"text"
	HTMLBody        string // body.content (MIME form: the text/html part)
	TextBody        string // MIME form: the text/plain part
	Headers         []MailHeader
	Kind            string // value of MailKindHeader, if sent
	Attachments     []Attachment
	At              time.Time
	EMLPath         string // outbox files, when OutboxDir is set
	HTMLPath        string
}

// MailHeader is a custom internet message header.
type MailHeader struct{ Name, Value string }

// Attachment is a decoded fileAttachment.
type Attachment struct {
	Name        string
	ContentType string
	Content     []byte
}

type sendMailRequest struct {
	Message *struct {
		Subject *string `json:"subject"`
		Body    *struct {
			ContentType string  `json:"contentType"`
			Content     *string `json:"content"`
		} `json:"body"`
		ToRecipients           []graphRecipient  `json:"toRecipients"`
		CcRecipients           []graphRecipient  `json:"ccRecipients"`
		BccRecipients          []graphRecipient  `json:"bccRecipients"`
		Attachments            []graphAttachment `json:"attachments"`
		InternetMessageHeaders []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"internetMessageHeaders"`
	} `json:"message"`
	SaveToSentItems *bool `json:"saveToSentItems"`
}

type graphRecipient struct {
	EmailAddress *struct {
		Address string `json:"address"`
		Name    string `json:"name"`
	} `json:"emailAddress"`
}

type graphAttachment struct {
	ODataType    string `json:"@odata.type"`
	Name         string `json:"name"`
	ContentType  string `json:"contentType"`
	ContentBytes string `json:"contentBytes"`
}

// mailInputError is a 400 answer with a Graph error code.
type mailInputError struct{ code, message string }

func (e *mailInputError) Error() string { return e.code + ": " + e.message }

func (s *Sandbox) handleSendMail(w http.ResponseWriter, r *http.Request, c graphClaims, userID string) {
	if c.TID != s.operatorTenant {
		s.writeGraphError(w, r, http.StatusNotFound, "ErrorInvalidUser",
			"The requested user '"+userID+"' is invalid. (SANDBOX: mail can only be sent with a token for the operator tenant "+s.operatorTenant+".)")
		return
	}
	// No Mail.Send check on the token: with Exchange RBAC for Applications
	// (the runbook's way to limit the app to one mailbox) the permission is
	// granted in Exchange and the token carries no Mail.Send role
	// (learn.microsoft.com/exchange/permissions-exo/application-rbac), so
	// requiring it here would pass tests that fail against the real service.
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSendMailBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.writeGraphError(w, r, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
				"The request payload is too large; send attachments over 3 MB with an upload session.")
			return
		}
		s.writeGraphError(w, r, http.StatusBadRequest, "RequestBodyRead", "Could not read the request body.")
		return
	}
	var m *SentMail
	if isMIMERequest(r.Header.Get("Content-Type")) {
		m, err = parseSendMailMIME(raw)
	} else {
		m, err = parseSendMail(raw)
	}
	if err != nil {
		var in *mailInputError
		if errors.As(err, &in) {
			s.writeGraphError(w, r, http.StatusBadRequest, in.code, in.message)
			return
		}
		s.writeGraphError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", err.Error())
		return
	}
	m.From = userID
	m.RequestType = r.Header.Get("Content-Type")
	m.TenantID = c.TID
	m.AppID = c.AppID
	m.At = time.Now().UTC()
	s.recordMail(m)
	s.setGraphHeaders(w, r)
	w.WriteHeader(http.StatusAccepted)
}

// parseSendMail validates the shape of reference §4 and decodes attachments.
func parseSendMail(raw []byte) (*SentMail, error) {
	invalid := func(format string, args ...any) error {
		return &mailInputError{"ErrorInvalidRequest", fmt.Sprintf(format, args...)}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, invalid("Empty Payload. JSON content expected.")
	}
	var req sendMailRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, &mailInputError{"RequestBodyRead", "Invalid JSON in the request body: " + err.Error()}
	}
	msg := req.Message
	switch {
	case msg == nil:
		return nil, invalid("The 'message' property is required.")
	case msg.Subject == nil || strings.TrimSpace(*msg.Subject) == "":
		return nil, invalid("The message has no subject (SANDBOX requires message.subject).")
	case msg.Body == nil || msg.Body.Content == nil:
		return nil, invalid("The message has no body (message.body.content is required).")
	case !strings.EqualFold(msg.Body.ContentType, "html") && !strings.EqualFold(msg.Body.ContentType, "text"):
		return nil, invalid("Requested value '%s' was not found (message.body.contentType must be HTML or Text).", msg.Body.ContentType)
	case len(msg.ToRecipients) == 0:
		return nil, invalid("At least one recipient is required in message.toRecipients.")
	}
	m := &SentMail{
		RawJSON:         slices.Clone(raw),
		Subject:         *msg.Subject,
		BodyContentType: msg.Body.ContentType,
		HTMLBody:        *msg.Body.Content,
	}
	var err error
	if m.To, err = recipientAddresses(msg.ToRecipients); err != nil {
		return nil, err
	}
	if m.Cc, err = recipientAddresses(msg.CcRecipients); err != nil {
		return nil, err
	}
	if m.Bcc, err = recipientAddresses(msg.BccRecipients); err != nil {
		return nil, err
	}
	for _, h := range msg.InternetMessageHeaders {
		if len(h.Name) < 3 || !strings.EqualFold(h.Name[:2], "x-") || strings.ContainsAny(h.Name, " :\r\n") {
			return nil, &mailInputError{"InvalidInternetMessageHeader",
				fmt.Sprintf("The internet message header name '%s' should start with 'x-' or 'X-'.", h.Name)}
		}
		value := strings.NewReplacer("\r", " ", "\n", " ").Replace(h.Value)
		m.Headers = append(m.Headers, MailHeader{Name: h.Name, Value: value})
		if strings.EqualFold(h.Name, MailKindHeader) {
			m.Kind = value
		}
	}
	for i, a := range msg.Attachments {
		if !strings.EqualFold(a.ODataType, "#microsoft.graph.fileAttachment") {
			return nil, invalid("Attachment %d: '@odata.type' must be '#microsoft.graph.fileAttachment' (got %q).", i, a.ODataType)
		}
		if strings.TrimSpace(a.Name) == "" {
			return nil, invalid("Attachment %d has no name.", i)
		}
		content, err := base64.StdEncoding.DecodeString(a.ContentBytes)
		if err != nil {
			return nil, invalid("Attachment %d: contentBytes is not valid base64.", i)
		}
		m.Attachments = append(m.Attachments, Attachment{Name: a.Name, ContentType: a.ContentType, Content: content})
	}
	return m, nil
}

// isMIMERequest: Graph takes the MIME form of sendMail when the request's
// Content-Type is text/plain (user-sendmail, example 4), JSON otherwise.
func isMIMERequest(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "text/plain"
}

// parseSendMailMIME reads the MIME form (Graph user-sendmail, example 4:
// body = base64 of an RFC 5322 message) with net/mail and mime/multipart and
// rejects what Graph rejects. Graph's codes for malformed MIME are
// ErrorMimeContentInvalidBase64String and ErrorMimeContentInvalid (the
// Exchange response codes); their message texts here are UNVERIFIED.
func parseSendMailMIME(raw []byte) (*SentMail, error) {
	invalidMIME := func(format string, args ...any) error {
		return &mailInputError{"ErrorMimeContentInvalid", fmt.Sprintf(format, args...)}
	}
	text := bytes.TrimSpace(raw)
	if len(text) == 0 {
		return nil, &mailInputError{"ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content: the body is empty."}
	}
	// Strict standard base64 on one line, as the documented example sends it
	// (whether Graph tolerates line breaks is UNVERIFIED; we send none).
	msgBytes, err := base64.StdEncoding.Strict().DecodeString(string(text))
	if err != nil {
		return nil, &mailInputError{"ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(msgBytes))
	if err != nil {
		return nil, invalidMIME("The MIME content is invalid: %v.", err)
	}
	m := &SentMail{RawMIME: msgBytes}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return nil, invalidMIME("The MIME content is invalid: bad Subject encoding.")
	}
	if strings.TrimSpace(subject) == "" {
		return nil, &mailInputError{"ErrorInvalidRequest", "The message has no subject (SANDBOX requires a Subject header)."}
	}
	m.Subject = subject
	for _, f := range []struct {
		name string
		dst  *[]string
	}{{"To", &m.To}, {"Cc", &m.Cc}, {"Bcc", &m.Bcc}} {
		if msg.Header.Get(f.name) == "" {
			continue
		}
		list, err := msg.Header.AddressList(f.name)
		if err != nil {
			return nil, &mailInputError{"ErrorInvalidRecipients", "At least one recipient isn't valid: " + f.name + " does not parse."}
		}
		for _, a := range list {
			*f.dst = append(*f.dst, a.Address)
		}
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return nil, &mailInputError{"ErrorInvalidRequest", "At least one recipient is required (To, Cc or Bcc)."}
	}
	for name, values := range msg.Header {
		if len(name) > 2 && strings.EqualFold(name[:2], "x-") {
			v, _ := dec.DecodeHeader(values[0])
			m.Headers = append(m.Headers, MailHeader{Name: name, Value: v})
			if strings.EqualFold(name, MailKindHeader) {
				m.Kind = v
			}
		}
	}
	slices.SortFunc(m.Headers, func(a, b MailHeader) int { return strings.Compare(a.Name, b.Name) })
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		mt, params = "text/plain", nil // RFC 2045 §5.2 default
		if msg.Header.Get("Content-Type") != "" {
			return nil, invalidMIME("The MIME content is invalid: bad Content-Type.")
		}
	}
	m.MediaType = mt
	if err := m.readPart(textproto.MIMEHeader(msg.Header), mt, params, msg.Body, 0); err != nil {
		return nil, invalidMIME("The MIME content is invalid: %v.", err)
	}
	if m.HTMLBody == "" && m.TextBody == "" {
		return nil, &mailInputError{"ErrorInvalidRequest", "The message has no body (no text/html or text/plain part)."}
	}
	m.BodyContentType = "html"
	if m.HTMLBody == "" {
		m.BodyContentType, m.HTMLBody = "text", m.TextBody
	}
	return m, nil
}

// readPart collects the bodies and attachments of one MIME entity,
// descending into multiparts.
func (m *SentMail) readPart(h textproto.MIMEHeader, mt string, params map[string]string, body io.Reader, depth int) error {
	if depth > 8 {
		return errors.New("multiparts nested too deeply")
	}
	if strings.HasPrefix(mt, "multipart/") {
		if params["boundary"] == "" {
			return fmt.Errorf("%s without a boundary", mt)
		}
		mr := multipart.NewReader(body, params["boundary"])
		parts := 0
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", mt, err)
			}
			parts++
			pmt, pparams, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil {
				pmt, pparams = "text/plain", map[string]string{}
				if p.Header.Get("Content-Type") != "" {
					return fmt.Errorf("part %d: bad Content-Type", parts)
				}
			}
			if err := m.readPart(p.Header, pmt, pparams, p, depth+1); err != nil {
				return err
			}
		}
		if parts == 0 {
			return fmt.Errorf("%s has no parts", mt)
		}
		return nil
	}
	content, err := decodeTransfer(h.Get("Content-Transfer-Encoding"), body)
	if err != nil {
		return err
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	name := dparams["filename"]
	if name == "" {
		name = params["name"]
	}
	switch {
	case disp == "attachment" || name != "":
		m.Attachments = append(m.Attachments, Attachment{Name: name, ContentType: mt, Content: content})
	case mt == "text/html" && m.HTMLBody == "":
		m.HTMLBody = string(content)
	case mt == "text/plain" && m.TextBody == "":
		m.TextBody = string(content)
	}
	return nil
}

func decodeTransfer(cte string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "", "7bit", "8bit", "binary":
		return io.ReadAll(r)
	case "quoted-printable":
		b, err := io.ReadAll(quotedprintable.NewReader(r))
		if err != nil {
			return nil, fmt.Errorf("bad quoted-printable: %w", err)
		}
		return b, nil
	case "base64":
		b, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, r))
		if err != nil {
			return nil, fmt.Errorf("bad base64 part: %w", err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
}

func recipientAddresses(rs []graphRecipient) ([]string, error) {
	var out []string
	for _, rc := range rs {
		if rc.EmailAddress == nil || rc.EmailAddress.Address == "" {
			return nil, &mailInputError{"ErrorInvalidRecipients", "At least one recipient isn't valid: emailAddress.address is missing."}
		}
		if _, err := mail.ParseAddress(rc.EmailAddress.Address); err != nil || strings.ContainsAny(rc.EmailAddress.Address, "<>\r\n") {
			return nil, &mailInputError{"ErrorInvalidRecipients", "At least one recipient isn't valid: '" + rc.EmailAddress.Address + "'."}
		}
		out = append(out, rc.EmailAddress.Address)
	}
	return out, nil
}

// recordMail stores the mail and, with an outbox, writes its files. File
// writes happen under the lock so sequence numbers match file order.
func (s *Sandbox) recordMail(m *SentMail) {
	s.mailSent.Add(1)
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	s.mailSeq++
	m.Seq = s.mailSeq
	if s.outboxDir != "" {
		base := filepath.Join(s.outboxDir, fmt.Sprintf("%06d-%s", m.Seq, mailSlug(m)))
		if err := writeFileAtomic(base+".html", htmlFileBody(m), 0o644); err != nil {
			s.log.Error("sandbox: write outbox html", "err", err)
		} else {
			m.HTMLPath = base + ".html"
		}
		var eml []byte
		var err error
		if m.RawMIME != nil {
			// The MIME form is already the message: keep it as sent, with
			// the sandbox's label in front.
			eml = append([]byte("X-Sandbox: simulated Microsoft Graph sendMail; not delivered\r\n"), m.RawMIME...)
		} else {
			eml, err = s.buildEML(m)
		}
		if err == nil {
			err = writeFileAtomic(base+".eml", eml, 0o644)
		}
		if err != nil {
			s.log.Error("sandbox: write outbox eml", "err", err)
		} else {
			m.EMLPath = base + ".eml"
		}
	}
	s.mail = append(s.mail, *m)
	if over := len(s.mail) - s.maxStoredMail; over > 0 {
		s.mail = slices.Delete(s.mail, 0, over)
	}
	s.log.Info("sandbox: mail accepted", "seq", m.Seq, "from", m.From, "to", m.To, "subject", m.Subject, "eml", m.EMLPath)
}

// SentMail returns the accepted mails, oldest first (at most Options.MaxStoredMail).
func (s *Sandbox) SentMail() []SentMail {
	s.mailMu.Lock()
	defer s.mailMu.Unlock()
	return slices.Clone(s.mail)
}

func mailSlug(m *SentMail) string {
	src := m.Kind
	if src == "" {
		src = m.Subject
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(src) {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	slug := strings.Trim(b.String(), "-")
	if slug == "" {
		return "mail"
	}
	return slug
}

func htmlFileBody(m *SentMail) []byte {
	if strings.EqualFold(m.BodyContentType, "text") {
		return []byte("<!doctype html><meta charset=\"utf-8\"><pre>" + html.EscapeString(m.HTMLBody) + "</pre>\n")
	}
	return []byte(m.HTMLBody)
}

// lastOutboxSeq continues numbering after files from earlier runs.
func lastOutboxSeq(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sandbox: read outbox %s: %w", dir, err)
	}
	last := 0
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "-")
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(prefix); err == nil && n > last {
			last = n
		}
	}
	return last, nil
}

func formatAddressList(addrs []string) string {
	parts := make([]string, len(addrs))
	for i, a := range addrs {
		parts[i] = (&mail.Address{Address: a}).String()
	}
	return strings.Join(parts, ", ")
}

// buildEML renders an RFC 5322 message: multipart/mixed with the body as
// quoted-printable and attachments as base64.
func (s *Sandbox) buildEML(m *SentMail) ([]byte, error) {
	from := m.From
	if !strings.Contains(from, "@") {
		from += "@" + s.operatorTenant + ".sandbox.invalid"
	}
	var buf bytes.Buffer
	header := func(name, value string) {
		fmt.Fprintf(&buf, "%s: %s\r\n", name, value)
	}
	header("From", (&mail.Address{Address: from}).String())
	header("To", formatAddressList(m.To))
	if len(m.Cc) > 0 {
		header("Cc", formatAddressList(m.Cc))
	}
	if len(m.Bcc) > 0 {
		header("Bcc", formatAddressList(m.Bcc))
	}
	header("Subject", mime.QEncoding.Encode("utf-8", strings.NewReplacer("\r", " ", "\n", " ").Replace(m.Subject)))
	header("Date", m.At.Format(time.RFC1123Z))
	header("Message-ID", "<"+strconv.Itoa(m.Seq)+"."+uuid.NewString()+"@sandbox.invalid>")
	header("MIME-Version", "1.0")
	header("X-Sandbox", "simulated Microsoft Graph sendMail; not delivered")
	for _, h := range m.Headers {
		header(h.Name, mime.QEncoding.Encode("utf-8", h.Value))
	}
	mw := multipart.NewWriter(&buf)
	header("Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": mw.Boundary()}))
	buf.WriteString("\r\n")

	bodyType := "text/html; charset=utf-8"
	if strings.EqualFold(m.BodyContentType, "text") {
		bodyType = "text/plain; charset=utf-8"
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {bodyType},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return nil, fmt.Errorf("eml body part: %w", err)
	}
	qp := quotedprintable.NewWriter(part)
	if _, err := io.WriteString(qp, m.HTMLBody); err != nil {
		return nil, fmt.Errorf("eml body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("eml body: %w", err)
	}
	for _, a := range m.Attachments {
		ct := "application/octet-stream"
		if mt, params, err := mime.ParseMediaType(a.ContentType); err == nil {
			params["name"] = a.Name
			ct = mime.FormatMediaType(mt, params)
		}
		part, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {ct},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, fmt.Errorf("eml attachment part: %w", err)
		}
		enc := base64.StdEncoding.EncodeToString(a.Content)
		for len(enc) > 76 {
			_, _ = io.WriteString(part, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		_, _ = io.WriteString(part, enc+"\r\n")
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("eml close: %w", err)
	}
	return buf.Bytes(), nil
}
