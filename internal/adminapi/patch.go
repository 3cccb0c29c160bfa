package adminapi

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// patchFields are what PATCH may change; the key, region, app and status
// have their own rules and routes.
var patchFields = []string{"customerName", "primaryDomain", "contacts", "allowedIps"}

// tenantPatch is a validated merge-style PATCH body; nil fields are absent.
// The limits are those of provisioning v1.
type tenantPatch struct {
	customerName  *string
	primaryDomain *string // ASCII (punycode) form; "" clears it
	domainUnicode string  // the same domain for display
	contacts      []domain.Contact
	allowedIPs    []netip.Prefix
}

func decodeTenantPatch(body []byte, ips domain.IPPolicy) (tenantPatch, error) {
	var p tenantPatch
	obj, err := decodeObject(body)
	if err != nil {
		return p, err
	}
	errs := unknownFields(obj, patchFields...)
	add := func(err error) {
		if err != nil {
			errs = append(errs, asDomainError(err))
		}
	}
	if len(obj) == 0 {
		add(domain.FieldError("(body)", "names no field to change (one or more of %s)", strings.Join(patchFields, ", ")))
	}
	if raw, ok := obj["customerName"]; ok {
		s, err := decodeString("customerName", raw)
		if err == nil {
			err = domain.ValidateText("customerName", s, 1, 200)
		}
		if err == nil && strings.TrimSpace(s) == "" {
			err = domain.FieldError("customerName", "must not be blank")
		}
		// The domain's one display sanitiser, as at provisioning intake.
		s = domain.CleanDisplayText(s)
		if err == nil && s == "" {
			err = domain.FieldError("customerName", "must hold visible characters")
		}
		add(err)
		p.customerName = &s
	}
	if raw, ok := obj["primaryDomain"]; ok {
		d := ""
		if !isNull(raw) {
			s, err := decodeString("primaryDomain", raw)
			switch {
			case err != nil:
				add(err)
			case len(s) > 253:
				add(domain.FieldError("primaryDomain", "must be at most 253 characters"))
			case s != "":
				d, p.domainUnicode, err = domain.NormalizeDomainForms("primaryDomain", s)
				add(err)
			}
		}
		p.primaryDomain = &d
	}
	if raw, ok := obj["contacts"]; ok {
		p.contacts = domain.DecodeContacts(raw, add)
	}
	if raw, ok := obj["allowedIps"]; ok {
		p.allowedIPs = domain.DecodeAllowedIPs("allowedIps", raw, ips, add)
	}
	return p, errs.Err()
}

// apply writes the patch into t and returns what changed, for the audit.
func (p tenantPatch) apply(t *domain.Tenant) map[string]string {
	changes := map[string]string{}
	if p.customerName != nil && *p.customerName != t.CustomerName {
		changes["customerName"] = t.CustomerName + " -> " + *p.customerName
		t.CustomerName = *p.customerName
	}
	if p.primaryDomain != nil && *p.primaryDomain != t.PrimaryDomain {
		changes["primaryDomain"] = t.PrimaryDomain + " -> " + *p.primaryDomain
		t.PrimaryDomain = *p.primaryDomain
	}
	if p.primaryDomain != nil {
		t.PrimaryDomainUnicode = p.domainUnicode
	}
	if p.contacts != nil && !slices.Equal(p.contacts, t.Contacts) {
		changes["contacts"] = contactList(t.Contacts) + " -> " + contactList(p.contacts)
		t.Contacts = p.contacts
	}
	if p.allowedIPs != nil && !slices.Equal(p.allowedIPs, t.AllowedIPs) {
		changes["allowedIps"] = prefixList(t.AllowedIPs) + " -> " + prefixList(p.allowedIPs)
		t.AllowedIPs = p.allowedIPs
	}
	return changes
}

func contactList(cs []domain.Contact) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = string(c.Role) + ":" + c.Email
	}
	return strings.Join(parts, " ")
}

func prefixList(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.String()
	}
	return strings.Join(parts, " ")
}

func asDomainError(err error) *domain.Error {
	if e, ok := err.(*domain.Error); ok {
		return e
	}
	return &domain.Error{Code: domain.CodeInvalid, Message: err.Error()}
}
