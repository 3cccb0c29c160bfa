// Package powershell generates the PowerShell script a customer's Teams
// administrator runs to enable OneMeeting CVI (hosted Pexip Cloud Video
// Interop) in their Microsoft Teams tenant.
//
// The script is built from customer-supplied strings and travels through web
// pages, downloads and email, so:
//   - every value is emitted through Quote, never concatenated raw;
//   - the output is pure ASCII without a BOM: Windows PowerShell 5.1 reads a
//     BOM-less .ps1 in the ANSI code page, and mail/chat clients turn quotes
//     into typographic ones, which PowerShell also treats as quote characters;
//   - lines end in CRLF: it is a Windows script, and CRLF survives Notepad and
//     mail attachments unchanged (PowerShell itself accepts either);
//   - there are no backtick line continuations (they break when trailing
//     spaces are added or lines are re-wrapped); long commands use splatting;
//   - if/else keep "} else {" on one line so a paste into the console works;
//   - the output is deterministic for the same Params.
package powershell

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Params are the values of one tenant's script.
type Params struct {
	CustomerName   string   // shown in comments/Write-Host only, never executed
	TenantID       string   // customer's Entra tenant GUID (for Connect-MicrosoftTeams -TenantId)
	TenantKey      string   // e.g. 482913057@eu.teams.videosrv.net
	InstructionURI string   // e.g. https://join.eu.videosrv.net/api/join/482913057
	AppIDs         []string // AAD application IDs (joined with ';' for -AadApplicationIds)
	ProviderName   string   // default "Pexip"
	PolicyName     string   // default "<ProviderName>ServiceProviderEnabled"
	Users          []string // optional UPNs for per-user grants; empty means tenant-wide (-Global)
	GeneratedAt    time.Time
}

// FieldError reports a Params field that cannot go into a script. Problem
// never repeats the value, so the error is safe to log and show.
type FieldError struct {
	Field   string // e.g. "TenantKey", "Users[2]"
	Problem string
}

func (e *FieldError) Error() string {
	return "powershell: invalid " + e.Field + ": " + e.Problem
}

const (
	// maxLine is the line length the script keeps to where values allow.
	maxLine = 120
	// maxValueBytes bounds any single value; real ones are far shorter.
	maxValueBytes = 2048
	// maxCommentName bounds the customer name in the header comment.
	maxCommentName = 80
	// minTeamsModule is the oldest MicrosoftTeams module with the CVI cmdlets
	// on Connect-MicrosoftTeams (reference/cvi-powershell.md: 4.x or later).
	minTeamsModule = "4.0.0"
)

// providerPolicies maps the -Name values New-CsVideoInteropServiceProvider
// accepts to the built-in policy their users need; the cmdlet itself does not
// check the match, and a mismatch silently leaves invites without VTC details.
var providerPolicies = []struct{ provider, policy string }{
	{"Pexip", "PexipServiceProviderEnabled"},
	{"Polycom", "PolycomServiceProviderEnabled"},
	{"BlueJeans", "BlueJeansServiceProviderEnabled"},
	{"Cisco", "CiscoServiceProviderEnabled"},
}

// validated holds checked values; provider and policy are the canonical
// spellings from providerPolicies, not the caller's strings.
type validated struct {
	customerName   string
	tenantID       string
	tenantKey      string
	instructionURI string
	appIDs         string
	provider       string
	policy         string
	users          []string
}

func validate(p Params) (validated, error) {
	var v validated
	if err := checkText("CustomerName", p.CustomerName); err != nil {
		return v, err
	}
	// The domain's display sanitiser, as on pages and in emails: no bidi
	// override can make the comment or console line read differently.
	v.customerName = domain.CleanDisplayText(p.CustomerName)

	if err := checkGUID("TenantID", p.TenantID); err != nil {
		return v, err
	}
	v.tenantID = p.TenantID

	if err := checkIdentifier("TenantKey", p.TenantKey); err != nil {
		return v, err
	}
	v.tenantKey = p.TenantKey

	if err := checkInstructionURI(p.InstructionURI); err != nil {
		return v, err
	}
	v.instructionURI = p.InstructionURI

	if len(p.AppIDs) == 0 {
		return v, &FieldError{Field: "AppIDs", Problem: "is empty"}
	}
	appIDs := make([]string, 0, len(p.AppIDs))
	for i, id := range p.AppIDs {
		if err := checkGUID(fmt.Sprintf("AppIDs[%d]", i), id); err != nil {
			return v, err
		}
		if !containsFold(appIDs, id) {
			appIDs = append(appIDs, id)
		}
	}
	v.appIDs = strings.Join(appIDs, ";")

	provider, policy, err := resolveProvider(p.ProviderName, p.PolicyName)
	if err != nil {
		return v, err
	}
	v.provider, v.policy = provider, policy

	for i, upn := range p.Users {
		if err := checkIdentifier(fmt.Sprintf("Users[%d]", i), upn); err != nil {
			return v, err
		}
		// UPNs are case-insensitive; a second grant would only repeat the first.
		if !containsFold(v.users, upn) {
			v.users = append(v.users, upn)
		}
	}
	return v, nil
}

// checkText accepts any valid UTF-8 without control or line-separator
// characters: a line break in a value is never intended and would reach
// comments and console output.
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return &FieldError{Field: field, Problem: "is not valid UTF-8"}
	}
	if len(s) > maxValueBytes {
		return &FieldError{Field: field, Problem: fmt.Sprintf("is longer than %d bytes", maxValueBytes)}
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return &FieldError{Field: field, Problem: fmt.Sprintf("contains control character U+%04X", r)}
		}
	}
	return nil
}

// checkIdentifier is checkText for values Teams matches exactly (tenant key,
// UPNs): they must be present and carry no stray surrounding whitespace.
// Their syntax is the domain's business; this package only has to quote them.
func checkIdentifier(field, s string) error {
	if s == "" {
		return &FieldError{Field: field, Problem: "is empty"}
	}
	if err := checkText(field, s); err != nil {
		return err
	}
	if strings.TrimSpace(s) != s {
		return &FieldError{Field: field, Problem: "has leading or trailing whitespace"}
	}
	return nil
}

func checkInstructionURI(s string) error {
	const field = "InstructionURI"
	if err := checkIdentifier(field, s); err != nil {
		return err
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return &FieldError{Field: field, Problem: "contains whitespace"}
	}
	u, err := url.Parse(s)
	if err != nil {
		return &FieldError{Field: field, Problem: "is not a URL"}
	}
	// http is allowed for the local sandbox host; Teams shows this link in invites.
	if scheme := strings.ToLower(u.Scheme); scheme != "https" && scheme != "http" {
		return &FieldError{Field: field, Problem: "must be an absolute http(s) URL"}
	}
	if u.Host == "" {
		return &FieldError{Field: field, Problem: "has no host"}
	}
	if u.User != nil {
		return &FieldError{Field: field, Problem: "must not contain user information"}
	}
	return nil
}

// checkGUID accepts the canonical 8-4-4-4-12 hex form, not the nil GUID.
func checkGUID(field, s string) error {
	const notGUID = "is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
	if s == "" {
		return &FieldError{Field: field, Problem: "is empty"}
	}
	if len(s) != 36 {
		return &FieldError{Field: field, Problem: notGUID}
	}
	allZero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return &FieldError{Field: field, Problem: notGUID}
			}
			continue
		}
		if !isHex(c) {
			return &FieldError{Field: field, Problem: notGUID}
		}
		if c != '0' {
			allZero = false
		}
	}
	if allZero {
		return &FieldError{Field: field, Problem: "is the nil GUID"}
	}
	return nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// resolveProvider applies the defaults and insists that the policy is the one
// the provider needs.
func resolveProvider(providerName, policyName string) (provider, policy string, err error) {
	if providerName == "" {
		providerName = providerPolicies[0].provider
	}
	for _, pp := range providerPolicies {
		if !strings.EqualFold(providerName, pp.provider) {
			continue
		}
		if policyName != "" && !strings.EqualFold(policyName, pp.policy) {
			return "", "", &FieldError{Field: "PolicyName",
				Problem: fmt.Sprintf("provider %s needs policy %s", pp.provider, pp.policy)}
		}
		return pp.provider, pp.policy, nil
	}
	names := make([]string, len(providerPolicies))
	for i, pp := range providerPolicies {
		names[i] = pp.provider
	}
	return "", "", &FieldError{Field: "ProviderName", Problem: "must be one of " + strings.Join(names, ", ")}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// commentText makes s safe and readable inside a <# #> block comment: ASCII
// only (others become '?'), no sequence that opens or closes a block comment,
// bounded length.
func commentText(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == limit {
			b.WriteString("...")
			break
		}
		if r >= 0x20 && r <= 0x7e {
			b.WriteRune(r)
		} else {
			b.WriteByte('?')
		}
		n++
	}
	out := strings.ReplaceAll(b.String(), "#>", "# >")
	return strings.ReplaceAll(out, "<#", "< #")
}

// FileName returns a safe .ps1 file name for p, built from the tenant key's
// local part: onemeeting-cvi-<code>.ps1 with code in [a-z0-9-]. It does not
// validate p; a key without usable characters yields onemeeting-cvi.ps1.
func FileName(p Params) string {
	code := p.TenantKey
	if at := strings.LastIndexByte(code, '@'); at >= 0 {
		code = code[:at]
	}
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(code) {
		if ('a' <= r && r <= 'z') || ('0' <= r && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= 40 {
				break
			}
			continue
		}
		dash = true
	}
	if b.Len() == 0 {
		return "onemeeting-cvi.ps1"
	}
	return "onemeeting-cvi-" + b.String() + ".ps1"
}
