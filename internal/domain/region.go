package domain

import (
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Region is one service region, configured as data (app setting REGIONS).
type Region struct {
	Code        string `json:"code"`
	DisplayName string `json:"displayName"`
	// AppID is the multi-tenant Entra application the region's Teams
	// Connector uses; customers consent to it and list it in
	// -AadApplicationIds.
	AppID string `json:"appId"`
	// TenantKeyDomain is the SIP domain of tenant keys: <code>@<domain>.
	TenantKeyDomain string `json:"tenantKeyDomain"`
	// InstructionBaseURL is where the join-instructions pages live; the
	// tenant's InstructionURI is <base>/<key code>?conf={ConfId}.
	InstructionBaseURL string `json:"instructionBaseUrl"`
	// TenantKeyDigits is the length of the numeric key code (default 9).
	TenantKeyDigits int `json:"tenantKeyDigits,omitempty"`
	// DirectDialDomain is the domain of the direct-dial address
	// <Video ID>.<key code>@<domain> that skips the IVR (the key code names
	// the tenant; Video IDs are only unique within it). Default: the tenant
	// key's own domain, i.e. <Video ID>.<tenant key>.
	DirectDialDomain string `json:"directDialDomain,omitempty"`
}

// Validate checks a region definition; field names are prefixed with prefix.
func (r Region) Validate(prefix string) Errors {
	var errs Errors
	add := func(err error) {
		if err != nil {
			errs = append(errs, asFieldError(err))
		}
	}
	add(ValidateRegionCode(prefix+".code", r.Code))
	if strings.TrimSpace(r.DisplayName) == "" {
		add(FieldError(prefix+".displayName", "is required"))
	}
	if _, err := NormalizeTenantID(prefix+".appId", r.AppID); err != nil {
		add(err)
	}
	if _, err := NormalizeDomain(prefix+".tenantKeyDomain", r.TenantKeyDomain); err != nil {
		add(err)
	}
	if u, err := url.Parse(r.InstructionBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		add(FieldError(prefix+".instructionBaseUrl", "must be an absolute http(s) URL without query or fragment"))
	}
	if r.TenantKeyDigits != 0 && (r.TenantKeyDigits < 6 || r.TenantKeyDigits > 12) {
		add(FieldError(prefix+".tenantKeyDigits", "must be between 6 and 12"))
	}
	if r.DirectDialDomain != "" {
		if _, err := NormalizeDomain(prefix+".directDialDomain", r.DirectDialDomain); err != nil {
			add(err)
		}
	}
	return errs
}

// KeyDigits returns the configured key length or the default of 9.
func (r Region) KeyDigits() int {
	if r.TenantKeyDigits == 0 {
		return 9
	}
	return r.TenantKeyDigits
}

// TenantKey returns the SIP address a video system dials for key code.
func (r Region) TenantKey(code string) string { return code + "@" + r.TenantKeyDomain }

// ConfIDPlaceholder is replaced by Teams, in the provider's InstructionUri,
// with each meeting's Video ID (reference/cvi-powershell.md; Pexip's own
// links use "?conf={ConfId}"). A link opened outside an invite carries it
// unreplaced.
const ConfIDPlaceholder = "{ConfId}"

// ConfQueryParam is the join page's query parameter for the Video ID.
const ConfQueryParam = "conf"

// InstructionURI returns the tenant's join-instructions page address, with
// the {ConfId} placeholder so each invite links to its meeting's page.
func (r Region) InstructionURI(code string) string {
	return strings.TrimRight(r.InstructionBaseURL, "/") + "/" + url.PathEscape(code) + "?" + ConfQueryParam + "=" + ConfIDPlaceholder
}

// InstructionURIWithConfID returns uri with the {ConfId} placeholder: tenants
// provisioned before it was added have it stored without, and the script,
// pages and emails must give them the current form. A uri that already holds
// the placeholder, or does not parse, is returned unchanged.
func InstructionURIWithConfID(uri string) string {
	if uri == "" || strings.Contains(uri, ConfIDPlaceholder) {
		return uri
	}
	u, err := url.Parse(uri)
	if err != nil || u.Fragment != "" || u.Query().Has(ConfQueryParam) {
		return uri
	}
	sep := "?"
	if u.RawQuery != "" {
		sep = "&"
	} else if strings.HasSuffix(uri, "?") {
		sep = ""
	}
	// Braces stay literal: Teams replaces the exact text {ConfId}.
	return uri + sep + ConfQueryParam + "=" + ConfIDPlaceholder
}

// Regions is the configured set of regions, keyed by code.
type Regions map[string]Region

// Lookup returns a region or a CodeInvalid error naming the field.
func (rs Regions) Lookup(field, code string) (Region, error) {
	r, ok := rs[code]
	if !ok {
		return Region{}, FieldError(field, "%q is not a region this deployment serves", code)
	}
	return r, nil
}

// Has reports whether code is a configured region.
func (rs Regions) Has(code string) bool { _, ok := rs[code]; return ok }

// Codes lists the configured region codes, for messages.
func (rs Regions) Codes() string {
	return strings.Join(slices.Sorted(maps.Keys(rs)), ", ")
}
