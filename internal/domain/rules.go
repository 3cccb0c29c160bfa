package domain

import "strings"

// Rules that more than one flow applies (provisioning intake, the admin
// API's PATCH, the email worker) live here, once.

// NeedsConsentLink reports whether a consent-link email may go to the
// tenant: only a Provisioned or Revoked tenant still needs consent.
func (t *Tenant) NeedsConsentLink() bool {
	return t.Status == StatusProvisioned || t.Status == StatusRevoked
}

// Customer-name limits (provisioning v1).
const (
	CustomerNameMin = 1
	CustomerNameMax = 200
)

// PrimaryDomainMax bounds a primary domain as given (before normalising).
const PrimaryDomainMax = 253

// ValidateCustomerName checks a customer name under field and returns it as
// displayed: free text within the limits, not blank, with visible characters
// once the display sanitiser has run.
func ValidateCustomerName(field, s string) (string, error) {
	if err := ValidateText(field, s, CustomerNameMin, CustomerNameMax); err != nil {
		return "", err
	}
	if strings.TrimSpace(s) == "" {
		return "", FieldError(field, "must not be blank")
	}
	c := CleanDisplayText(s)
	if c == "" {
		return "", FieldError(field, "must hold visible characters")
	}
	return c, nil
}

// ValidatePrimaryDomain checks a primary domain under field and returns its
// ASCII (punycode) and Unicode forms; "" is no domain and is valid.
func ValidatePrimaryDomain(field, s string) (ascii, unicodeForm string, err error) {
	if len(s) > PrimaryDomainMax {
		return "", "", FieldError(field, "must be at most %d characters", PrimaryDomainMax)
	}
	if s == "" {
		return "", "", nil
	}
	return NormalizeDomainForms(field, s)
}
