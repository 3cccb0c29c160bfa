package adminapi

import (
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/tenants"
)

// patchFields are what PATCH may change; the key, region, app and status
// have their own rules and routes.
var patchFields = []string{"customerName", "primaryDomain", "contacts", "allowedIps"}

// decodeTenantPatch decodes a merge-style PATCH body; every field is
// checked by the domain's rule for it, the same as at provisioning intake.
func decodeTenantPatch(body []byte, ips domain.IPPolicy) (tenants.Patch, error) {
	var p tenants.Patch
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
			s, err = domain.ValidateCustomerName("customerName", s)
		}
		add(err)
		p.CustomerName = &s
	}
	if raw, ok := obj["primaryDomain"]; ok {
		d := ""
		if !isNull(raw) {
			s, err := decodeString("primaryDomain", raw)
			if err == nil {
				d, p.PrimaryDomainUnicode, err = domain.ValidatePrimaryDomain("primaryDomain", s)
			}
			add(err)
		}
		p.PrimaryDomain = &d
	}
	if raw, ok := obj["contacts"]; ok {
		p.Contacts = domain.DecodeContacts(raw, add)
	}
	if raw, ok := obj["allowedIps"]; ok {
		p.AllowedIPs = domain.DecodeAllowedIPs("allowedIps", raw, ips, add)
	}
	return p, errs.Err()
}

func asDomainError(err error) *domain.Error {
	if e, ok := err.(*domain.Error); ok {
		return e
	}
	return &domain.Error{Code: domain.CodeInvalid, Message: err.Error()}
}
