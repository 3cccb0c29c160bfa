// Package email renders every email the onboarding service sends (through
// Microsoft Graph sendMail): the consent link and its reminder, the
// confirmation with the PowerShell script, the revoked/degraded notices to
// customers and the operations alert.
//
// Each email has an HTML body built for Outlook (Word's engine on the
// desktop: single-column tables, inline styles only, no scripts, images,
// external resources or web fonts) and a plain-text body with the same facts.
// Every customer value goes through html/template in the HTML; in the text,
// single-line values lose their line breaks so they cannot forge a line such
// as "Link: http://..." and multi-line values are indented.
package email

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// Branding names the service and who runs it; it is the same in every email.
type Branding struct {
	ServiceName   string // "OneMeeting CVI"
	ProviderName  string // the company that runs the service; optional
	SupportEmail  string // where customers write with questions
	TrustedDomain string // "videosrv.net": the domain admins allow in Teams external access
}

// Attachment is a file sent with an email.
type Attachment struct {
	Name        string
	ContentType string
	Content     []byte
}

// Message is one rendered email. HTML and Text carry the same content;
// Text uses \n line endings.
type Message struct {
	Subject     string
	HTML        string
	Text        string
	Attachments []Attachment
}

// Renderer renders emails from templates parsed once at construction. It
// holds no mutable state and is safe for concurrent use.
type Renderer struct {
	brand Branding
	html  map[domain.EmailKind]*htmltemplate.Template
	text  map[domain.EmailKind]*texttemplate.Template
}

// page is what every template gets: the common frame plus the kind's view.
type page struct {
	Subject  string
	Brand    Branding
	Ops      bool   // an operations email: different header and footer
	Customer string // whose service this email is about, for the footer
	// StatusURL is the tenant's status page (internal/status), shown in
	// the footer of every customer email when known.
	StatusURL string
	Data      any
}

// NewRenderer checks the branding and parses the embedded templates.
func NewRenderer(b Branding) (*Renderer, error) {
	brand, err := cleanBranding(b)
	if err != nil {
		return nil, fmt.Errorf("email: branding: %w", err)
	}
	r := &Renderer{
		brand: brand,
		html:  make(map[domain.EmailKind]*htmltemplate.Template, len(domain.EmailKinds)),
		text:  make(map[domain.EmailKind]*texttemplate.Template, len(domain.EmailKinds)),
	}
	htmlBase, err := htmltemplate.New("layout.html.tmpl").
		Funcs(htmltemplate.FuncMap{"css": css, "button": newButton, "lines": lines}).
		ParseFS(templateFS, "templates/layout.html.tmpl", "templates/partials.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("email: parse HTML layout: %w", err)
	}
	textBase, err := texttemplate.New("layout.txt.tmpl").
		Funcs(texttemplate.FuncMap{"indent": indent}).
		ParseFS(templateFS, "templates/layout.txt.tmpl", "templates/partials.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("email: parse text layout: %w", err)
	}
	for _, kind := range domain.EmailKinds {
		h, err := htmlBase.Clone()
		if err != nil {
			return nil, fmt.Errorf("email: clone HTML layout for %s: %w", kind, err)
		}
		if r.html[kind], err = h.ParseFS(templateFS, "templates/"+string(kind)+".html.tmpl"); err != nil {
			return nil, fmt.Errorf("email: parse %s HTML template: %w", kind, err)
		}
		t, err := textBase.Clone()
		if err != nil {
			return nil, fmt.Errorf("email: clone text layout for %s: %w", kind, err)
		}
		if r.text[kind], err = t.ParseFS(templateFS, "templates/"+string(kind)+".txt.tmpl"); err != nil {
			return nil, fmt.Errorf("email: parse %s text template: %w", kind, err)
		}
	}
	return r, nil
}

func cleanBranding(b Branding) (Branding, error) {
	var errs domain.Errors
	out := Branding{
		ServiceName:  name(b.ServiceName),
		ProviderName: name(b.ProviderName),
	}
	if out.ServiceName == "" {
		errs = append(errs, domain.FieldError("ServiceName", "is required"))
	}
	if e, err := domain.NormalizeEmail("SupportEmail", b.SupportEmail); err != nil {
		errs = append(errs, asDomainError(err))
	} else {
		out.SupportEmail = e
	}
	if d, err := domain.NormalizeDomain("TrustedDomain", b.TrustedDomain); err != nil {
		errs = append(errs, asDomainError(err))
	} else {
		out.TrustedDomain = d
	}
	return out, errs.Err()
}

func asDomainError(err error) *domain.Error {
	var e *domain.Error
	if errors.As(err, &e) {
		return e
	}
	return domain.Wrap(domain.CodeInvalid, err, "invalid")
}

// render executes both templates of kind. Errors here are bugs in the
// templates, not bad input: input is checked before.
func (r *Renderer) render(kind domain.EmailKind, p page, attachments []Attachment) (Message, error) {
	p.Subject = subjectLine(p.Subject)
	p.Brand = r.brand
	var h, t bytes.Buffer
	if err := r.html[kind].ExecuteTemplate(&h, "layout", p); err != nil {
		return Message{}, fmt.Errorf("email: render %s HTML: %w", kind, err)
	}
	if err := r.text[kind].ExecuteTemplate(&t, "layout", p); err != nil {
		return Message{}, fmt.Errorf("email: render %s text: %w", kind, err)
	}
	return Message{Subject: p.Subject, HTML: h.String(), Text: t.String(), Attachments: attachments}, nil
}

// button is the data of the "button" template.
type button struct{ URL, Label string }

func newButton(url, label string) button { return button{URL: url, Label: label} }

// lines splits a multi-line value so the HTML can put <br> between lines:
// Outlook ignores white-space:pre-wrap.
func lines(s string) []string { return strings.Split(s, "\n") }

// indent prefixes every line of a multi-line value, so no line of it can
// pass for one of the email's own labelled lines.
func indent(prefix, s string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
