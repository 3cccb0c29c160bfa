package email

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/powershell"
)

// ConsentLinkData fills the consent-link email and its reminder.
type ConsentLinkData struct {
	CustomerName  string
	AdminName     string // greeting; "Hello" alone when empty
	TenantID      string
	RegionName    string
	Link          string // the unique consent link
	ExpiresAt     time.Time
	AllowedIPs    []string // addresses (or ranges) the link must be opened from
	ProvisionedAt time.Time
	Now           time.Time // when the email is rendered; time.Now() when zero
	StatusURL     string    // the tenant's status page; optional
}

// ConsentConfirmedData fills the confirmation with the PowerShell script.
type ConsentConfirmedData struct {
	CustomerName   string
	TenantID       string
	TenantKey      string
	InstructionURI string
	AppID          string
	Script         string // the generated .ps1, shown inline
	ScriptFileName string // e.g. onemeeting-cvi-482913057.ps1 (what the download saves as)
	// ScriptURL downloads the script: the primary path, since Outlook and
	// Outlook on the web block .ps1 attachments (reference identity-graph.md §4).
	ScriptURL   string
	RegionName  string
	ConsentedAt time.Time
	StatusURL   string // the tenant's status page; optional
}

// ConsentProblemData fills the consent-revoked and consent-degraded notices.
type ConsentProblemData struct {
	CustomerName       string
	TenantID           string
	Reason             string
	MissingPermissions []string // Graph permission names, e.g. Calls.AccessMedia.All
	DetectedAt         time.Time
	ConsentURL         string // where to consent again; optional
	StatusURL          string // the tenant's status page; optional
}

// LiveData fills the "you're live" email.
type LiveData struct {
	CustomerName string
	TenantID     string
	TenantKey    string
	LiveSince    time.Time
	StatusURL    string // optional
}

// LiveReminderData fills the one reminder to a tenant that consented but
// is not live yet: the PowerShell has probably not been run.
type LiveReminderData struct {
	CustomerName   string
	TenantID       string
	ConsentedAt    time.Time
	ScriptURL      string
	ScriptFileName string
	StatusURL      string // optional
}

// OpsAlertData fills an alert to the operations team.
type OpsAlertData struct {
	Subject      string
	Detail       string
	TenantID     string
	CustomerName string
	Facts        map[string]string // rendered sorted by key
	At           time.Time
}

// maxScriptBytes keeps the email well inside Graph's 3 MB limit for inline
// attachments; a real script is a few kilobytes.
const maxScriptBytes = 512 << 10

// Markers around the script in the plain text.
const (
	scriptBegin = "----- BEGIN POWERSHELL SCRIPT -----"
	scriptEnd   = "----- END POWERSHELL SCRIPT -----"
)

var scriptFileNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.ps1$`)

type consentLinkView struct {
	Reminder       bool
	AdminName      string
	Customer       string // the name, or "your organisation"
	CustomerName   string // the name, or empty
	TenantID       string
	Region         string
	Link           string
	ExpiresAt      string
	ExpiresIn      string
	AllowedIPs     []string
	ProvisionedOn  string
	ProvisionedAgo string
}

type consentConfirmedView struct {
	Customer       string
	CustomerName   string
	TenantID       string
	TenantKey      string
	InstructionURI string
	AppID          string
	Region         string
	ConsentedAt    string
	Script         string
	ScriptFileName string
	ScriptURL      string
	ExecPolicy     string // the session-scoped execution-policy command
	ScriptBegin    string
	ScriptEnd      string
}

type permissionView struct {
	Name    string
	Purpose string
}

type consentProblemView struct {
	Degraded     bool // permissions missing or app disabled, rather than app gone
	Customer     string
	CustomerName string
	TenantID     string
	Reason       string
	Missing      []permissionView
	DetectedAt   string
	ConsentURL   string
}

type factView struct{ Name, Value string }

type opsAlertView struct {
	Subject      string
	Detail       string
	TenantID     string
	CustomerName string
	At           string
	Facts        []factView
}

// ConsentLink renders the first email to a customer's admin: what the
// service is, what to prepare, and the unique consent link.
func (r *Renderer) ConsentLink(d ConsentLinkData) (Message, error) {
	v, err := r.consentLinkView(d, false)
	if err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailConsentLink, err)
	}
	return r.render(domain.EmailConsentLink, page{
		Subject:   "Action needed: approve " + r.brand.ServiceName + " for " + v.Customer,
		Customer:  v.Customer,
		StatusURL: statusURL(d.StatusURL),
		Data:      v,
	}, nil)
}

// ConsentReminder renders the reminder for a consent still outstanding; it
// carries the same facts and link as ConsentLink with "still waiting" wording.
func (r *Renderer) ConsentReminder(d ConsentLinkData) (Message, error) {
	v, err := r.consentLinkView(d, true)
	if err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailConsentReminder, err)
	}
	return r.render(domain.EmailConsentReminder, page{
		Subject:   "Reminder: " + r.brand.ServiceName + " for " + v.Customer + " is still waiting for your approval",
		Customer:  v.Customer,
		StatusURL: statusURL(d.StatusURL),
		Data:      v,
	}, nil)
}

func (r *Renderer) consentLinkView(d ConsentLinkData, reminder bool) (consentLinkView, error) {
	var errs domain.Errors
	now := d.Now
	if now.IsZero() {
		now = time.Now()
	}
	tenantID, err := domain.NormalizeTenantID("TenantID", d.TenantID)
	if err != nil {
		errs = append(errs, asDomainError(err))
	}
	if err := webURL(d.Link); err != nil {
		errs = append(errs, domain.FieldError("Link", "%s", err))
	}
	switch {
	case d.ExpiresAt.IsZero():
		errs = append(errs, domain.FieldError("ExpiresAt", "is required"))
	case !d.ExpiresAt.After(now):
		errs = append(errs, domain.FieldError("ExpiresAt", "is %s, already past: send a new link", formatTime(d.ExpiresAt)))
	}
	var ips []string
	for _, ip := range d.AllowedIPs {
		if ip = oneLine(ip); ip != "" && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		errs = append(errs, domain.FieldError("AllowedIPs", "is empty: the link only works from an allow-listed address"))
	}
	if err := errs.Err(); err != nil {
		return consentLinkView{}, err
	}
	v := consentLinkView{
		Reminder:     reminder,
		AdminName:    name(d.AdminName),
		CustomerName: name(d.CustomerName),
		TenantID:     tenantID,
		Region:       name(d.RegionName),
		Link:         d.Link,
		ExpiresAt:    formatTime(d.ExpiresAt),
		ExpiresIn:    until(now, d.ExpiresAt),
		AllowedIPs:   ips,
	}
	v.Customer = orYourOrganisation(v.CustomerName)
	if !d.ProvisionedAt.IsZero() && !d.ProvisionedAt.After(now) {
		v.ProvisionedOn = formatDate(d.ProvisionedAt)
		v.ProvisionedAgo = daysAgo(now, d.ProvisionedAt)
	}
	return v, nil
}

// ConsentConfirmed renders the confirmation after a verified consent: a link
// that downloads the PowerShell script, and the script inline. There is no
// attachment: Outlook blocks .ps1 files, and a renamed copy only confuses.
func (r *Renderer) ConsentConfirmed(d ConsentConfirmedData) (Message, error) {
	var errs domain.Errors
	tenantID, err := domain.NormalizeTenantID("TenantID", d.TenantID)
	if err != nil {
		errs = append(errs, asDomainError(err))
	}
	v := consentConfirmedView{
		CustomerName:   name(d.CustomerName),
		TenantID:       tenantID,
		TenantKey:      oneLine(d.TenantKey),
		InstructionURI: d.InstructionURI,
		AppID:          oneLine(d.AppID),
		Region:         name(d.RegionName),
		Script:         multiLine(d.Script),
		ScriptFileName: d.ScriptFileName,
		ScriptURL:      d.ScriptURL,
		ExecPolicy:     powershell.ExecutionPolicyLine,
		ScriptBegin:    scriptBegin,
		ScriptEnd:      scriptEnd,
	}
	v.Customer = orYourOrganisation(v.CustomerName)
	if !d.ConsentedAt.IsZero() {
		v.ConsentedAt = formatTime(d.ConsentedAt)
	}
	if v.TenantKey == "" {
		errs = append(errs, domain.FieldError("TenantKey", "is required"))
	}
	if v.AppID == "" {
		errs = append(errs, domain.FieldError("AppID", "is required"))
	}
	if err := webURL(d.InstructionURI); err != nil {
		errs = append(errs, domain.FieldError("InstructionURI", "%s", err))
	}
	if err := webURL(d.ScriptURL); err != nil {
		errs = append(errs, domain.FieldError("ScriptURL", "%s", err))
	}
	switch {
	case strings.TrimSpace(d.Script) == "":
		errs = append(errs, domain.FieldError("Script", "is required"))
	case len(d.Script) > maxScriptBytes:
		errs = append(errs, domain.FieldError("Script", "is %d bytes; the limit is %d", len(d.Script), maxScriptBytes))
	case slices.Contains(strings.Split(v.Script, "\n"), scriptEnd):
		errs = append(errs, domain.FieldError("Script", "contains the end marker line of the plain-text email"))
	}
	if !scriptFileNamePattern.MatchString(d.ScriptFileName) {
		errs = append(errs, domain.FieldError("ScriptFileName", "must be a plain file name ending in .ps1 (letters, digits, . _ -)"))
	}
	if err := errs.Err(); err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailConsentConfirmed, err)
	}
	return r.render(domain.EmailConsentConfirmed, page{
		Subject:   "Approved: now run the " + r.brand.ServiceName + " PowerShell script for " + v.Customer,
		Customer:  v.Customer,
		StatusURL: statusURL(d.StatusURL),
		Data:      v,
	}, nil)
}

// ConsentRevoked renders the notice that the service's app is gone from the
// customer's tenant.
func (r *Renderer) ConsentRevoked(d ConsentProblemData) (Message, error) {
	v, err := consentProblem(d)
	if err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailConsentRevoked, err)
	}
	return r.render(domain.EmailConsentRevoked, page{
		Subject:   "Action needed: " + r.brand.ServiceName + " access was removed for " + v.Customer,
		Customer:  v.Customer,
		StatusURL: statusURL(d.StatusURL),
		Data:      v,
	}, nil)
}

// ConsentDegraded renders the notice that the app lacks permissions (or is
// disabled) in the customer's tenant.
func (r *Renderer) ConsentDegraded(d ConsentProblemData) (Message, error) {
	v, err := consentProblem(d)
	if err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailConsentDegraded, err)
	}
	v.Degraded = true
	return r.render(domain.EmailConsentDegraded, page{
		Subject:   "Action needed: " + r.brand.ServiceName + " is missing permissions for " + v.Customer,
		Customer:  v.Customer,
		StatusURL: statusURL(d.StatusURL),
		Data:      v,
	}, nil)
}

func consentProblem(d ConsentProblemData) (consentProblemView, error) {
	var errs domain.Errors
	tenantID, err := domain.NormalizeTenantID("TenantID", d.TenantID)
	if err != nil {
		errs = append(errs, asDomainError(err))
	}
	if d.DetectedAt.IsZero() {
		errs = append(errs, domain.FieldError("DetectedAt", "is required"))
	}
	if d.ConsentURL != "" {
		if err := webURL(d.ConsentURL); err != nil {
			errs = append(errs, domain.FieldError("ConsentURL", "%s", err))
		}
	}
	if err := errs.Err(); err != nil {
		return consentProblemView{}, err
	}
	v := consentProblemView{
		CustomerName: name(d.CustomerName),
		TenantID:     tenantID,
		Reason:       freeText(d.Reason),
		DetectedAt:   formatTime(d.DetectedAt),
		ConsentURL:   d.ConsentURL,
	}
	v.Customer = orYourOrganisation(v.CustomerName)
	for _, p := range d.MissingPermissions {
		p = name(p)
		if p == "" || slices.ContainsFunc(v.Missing, func(m permissionView) bool { return m.Name == p }) {
			continue
		}
		v.Missing = append(v.Missing, permissionView{Name: p, Purpose: permissionPurpose(p)})
	}
	return v, nil
}

// OpsAlert renders an alert for the operations team.
func (r *Renderer) OpsAlert(d OpsAlertData) (Message, error) {
	v := opsAlertView{
		Subject:      freeText(d.Subject),
		Detail:       clip(multiLine(d.Detail), maxFreeTextRunes),
		TenantID:     name(d.TenantID),
		CustomerName: name(d.CustomerName),
	}
	if v.Subject == "" {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailOpsAlert, domain.FieldError("Subject", "is required"))
	}
	if !d.At.IsZero() {
		v.At = formatTime(d.At)
	}
	keys := make([]string, 0, len(d.Facts))
	for k := range d.Facts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v.Facts = append(v.Facts, factView{Name: name(k), Value: freeText(d.Facts[k])})
	}
	subject := "[" + r.brand.ServiceName + " ops] " + v.Subject
	if v.CustomerName != "" && !strings.Contains(v.Subject, v.CustomerName) {
		subject += " - " + v.CustomerName
	}
	return r.render(domain.EmailOpsAlert, page{Subject: subject, Ops: true, Data: v}, nil)
}

type liveView struct {
	Customer     string
	CustomerName string
	TenantID     string
	TenantKey    string
	LiveSince    string
	StatusURL    string
}

type liveReminderView struct {
	Customer       string
	CustomerName   string
	TenantID       string
	ConsentedAt    string
	ScriptURL      string
	ScriptFileName string
	ExecPolicy     string
	StatusURL      string
}

// Live renders the "you're live" email: the first meeting invite carrying
// the tenant's InstructionUri was opened, so the Teams policy is in effect.
func (r *Renderer) Live(d LiveData) (Message, error) {
	var errs domain.Errors
	tenantID, err := domain.NormalizeTenantID("TenantID", d.TenantID)
	if err != nil {
		errs = append(errs, asDomainError(err))
	}
	if d.LiveSince.IsZero() {
		errs = append(errs, domain.FieldError("LiveSince", "is required"))
	}
	v := liveView{CustomerName: name(d.CustomerName), TenantID: tenantID, TenantKey: oneLine(d.TenantKey), StatusURL: statusURL(d.StatusURL)}
	if v.TenantKey == "" {
		errs = append(errs, domain.FieldError("TenantKey", "is required"))
	}
	if err := errs.Err(); err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailLive, err)
	}
	v.Customer = orYourOrganisation(v.CustomerName)
	v.LiveSince = formatTime(d.LiveSince)
	return r.render(domain.EmailLive, page{
		Subject:   "You're live: video systems can now join " + v.Customer + "'s Teams meetings",
		Customer:  v.Customer,
		StatusURL: v.StatusURL,
		Data:      v,
	}, nil)
}

// LiveReminder renders the one reminder that consent is done but no meeting
// invite has reached the service yet: the PowerShell step is probably left.
func (r *Renderer) LiveReminder(d LiveReminderData) (Message, error) {
	var errs domain.Errors
	tenantID, err := domain.NormalizeTenantID("TenantID", d.TenantID)
	if err != nil {
		errs = append(errs, asDomainError(err))
	}
	if err := webURL(d.ScriptURL); err != nil {
		errs = append(errs, domain.FieldError("ScriptURL", "%s", err))
	}
	if !scriptFileNamePattern.MatchString(d.ScriptFileName) {
		errs = append(errs, domain.FieldError("ScriptFileName", "must be a plain file name ending in .ps1 (letters, digits, . _ -)"))
	}
	if err := errs.Err(); err != nil {
		return Message{}, fmt.Errorf("email: %s: %w", domain.EmailLiveReminder, err)
	}
	v := liveReminderView{CustomerName: name(d.CustomerName), TenantID: tenantID, ScriptURL: d.ScriptURL, ScriptFileName: d.ScriptFileName,
		ExecPolicy: powershell.ExecutionPolicyLine, StatusURL: statusURL(d.StatusURL)}
	v.Customer = orYourOrganisation(v.CustomerName)
	if !d.ConsentedAt.IsZero() {
		v.ConsentedAt = formatTime(d.ConsentedAt)
	}
	return r.render(domain.EmailLiveReminder, page{
		Subject:   "One step left: run the " + r.brand.ServiceName + " PowerShell script for " + v.Customer,
		Customer:  v.Customer,
		StatusURL: v.StatusURL,
		Data:      v,
	}, nil)
}

// statusURL keeps a status-page link only if it is a web address.
func statusURL(u string) string {
	if u == "" || webURL(u) != nil {
		return ""
	}
	return u
}

func orYourOrganisation(customerName string) string {
	if customerName == "" {
		return "your organisation"
	}
	return customerName
}

// permissionPurpose says in plain words what a Graph permission of the CVI
// app is for, so an admin sees what breaks without it.
func permissionPurpose(permission string) string {
	switch permission {
	case "Calls.JoinGroupCall.All":
		return "join Teams meetings"
	case "Calls.JoinGroupCallAsGuest.All":
		return "join Teams meetings as a guest"
	case "Calls.AccessMedia.All":
		return "send and receive audio, video and screen sharing in meetings"
	case "Calls.Initiate.All":
		return "place calls"
	case "Calls.InitiateGroupCall.All":
		return "start group calls"
	case "OnlineMeetings.Read.All":
		return "look up meeting details"
	case "OnlineMeetings.ReadWrite.All":
		return "look up and update meeting details"
	case "User.Read.All":
		return "look up people in your organisation"
	case "User.Read":
		return "sign in and read your profile (delegated)"
	}
	return ""
}
