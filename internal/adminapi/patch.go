package adminapi

import (
	"encoding/json"
	"fmt"
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
	primaryDomain *string // "" clears it
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
		add(err)
		s = strings.TrimSpace(s)
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
				d, err = domain.NormalizeDomain("primaryDomain", s)
				add(err)
			}
		}
		p.primaryDomain = &d
	}
	if raw, ok := obj["contacts"]; ok {
		p.contacts = decodeContacts(raw, add)
	}
	if raw, ok := obj["allowedIps"]; ok {
		p.allowedIPs = decodeAllowedIPs(raw, ips, add)
	}
	return p, errs.Err()
}

func decodeContacts(raw json.RawMessage, add func(error)) []domain.Contact {
	var items []json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &items) != nil {
		add(domain.FieldError("contacts", "must be an array of contacts"))
		return []domain.Contact{}
	}
	if len(items) < 1 || len(items) > 10 {
		add(domain.FieldError("contacts", "must hold 1 to 10 contacts, not %d", len(items)))
		return []domain.Contact{}
	}
	out := []domain.Contact{}
	valid := true
	for i, item := range items {
		prefix := fmt.Sprintf("contacts[%d]", i)
		obj, err := decodeObject(item)
		if err != nil {
			add(domain.FieldError(prefix, "must be an object with email, role and optional name"))
			valid = false
			continue
		}
		for _, e := range unknownFields(obj, "name", "email", "role") {
			e.Field = prefix + "." + e.Field
			add(e)
			valid = false
		}
		var c domain.Contact
		if raw, ok := obj["name"]; ok {
			s, err := decodeString(prefix+".name", raw)
			if err == nil {
				err = domain.ValidateText(prefix+".name", s, 0, 200)
			}
			if err != nil {
				add(err)
				valid = false
			}
			c.Name = strings.TrimSpace(s)
		}
		if raw, ok := obj["email"]; !ok {
			add(domain.FieldError(prefix+".email", "is required"))
			valid = false
		} else if s, err := decodeString(prefix+".email", raw); err != nil {
			add(err)
			valid = false
		} else if c.Email, err = domain.NormalizeEmail(prefix+".email", s); err != nil {
			add(err)
			valid = false
		}
		if raw, ok := obj["role"]; !ok {
			add(domain.FieldError(prefix+".role", "is required"))
			valid = false
		} else if s, err := decodeString(prefix+".role", raw); err != nil {
			add(err)
			valid = false
		} else if r := domain.ContactRole(s); r != domain.RoleAdmin && r != domain.RoleTechnical && r != domain.RoleBilling {
			add(domain.FieldError(prefix+".role", "must be one of admin, technical, billing"))
			valid = false
		} else {
			c.Role = r
		}
		out = append(out, c)
	}
	if valid && !slices.ContainsFunc(out, func(c domain.Contact) bool { return c.Role == domain.RoleAdmin }) {
		add(domain.FieldError("contacts", "must keep at least one contact with role admin (they receive the consent link)"))
	}
	return out
}

func decodeAllowedIPs(raw json.RawMessage, ips domain.IPPolicy, add func(error)) []netip.Prefix {
	var items []json.RawMessage
	if isNull(raw) || json.Unmarshal(raw, &items) != nil {
		add(domain.FieldError("allowedIps", "must be an array of IP addresses or CIDR ranges"))
		return []netip.Prefix{}
	}
	if len(items) < 1 || len(items) > 20 {
		add(domain.FieldError("allowedIps", "must hold 1 to 20 entries, not %d", len(items)))
		return []netip.Prefix{}
	}
	out := []netip.Prefix{}
	for i, item := range items {
		field := fmt.Sprintf("allowedIps[%d]", i)
		s, err := decodeString(field, item)
		if err != nil {
			add(err)
			continue
		}
		if len(s) > 49 {
			add(domain.FieldError(field, "must be at most 49 characters"))
			continue
		}
		p, err := ips.ParseAllowedIP(field, s)
		if err != nil {
			add(err)
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
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
