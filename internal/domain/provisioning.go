package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"unicode/utf8"
)

// MaxMessageBytes caps every inbound message and request body.
const MaxMessageBytes = 64 << 10

// ProvisioningRequest is a validated `provisioning` v1 message
// (contracts/provisioning.v1.schema.json).
type ProvisioningRequest struct {
	SchemaVersion int            `json:"schemaVersion"`
	RequestID     string         `json:"requestId"`
	TenantID      string         `json:"tenantId"`
	CustomerName  string         `json:"customerName"`
	PrimaryDomain string         `json:"primaryDomain,omitempty"`
	Region        string         `json:"region"`
	AdminIPs      []netip.Prefix `json:"adminIps"`
	Contacts      []Contact      `json:"contacts"`

	// PrimaryDomain is kept in its ASCII (punycode) form, for matching;
	// this is the same name for display (U-labels: bücher.example).
	PrimaryDomainUnicode string `json:"-"`
}

var (
	provisioningFields   = []string{"schemaVersion", "requestId", "tenantId", "customerName", "primaryDomain", "region", "adminIps", "contacts"}
	provisioningRequired = []string{"schemaVersion", "requestId", "tenantId", "customerName", "region", "adminIps", "contacts"}
	contactFields        = []string{"name", "email", "role"}
)

// ProvisioningFieldNames returns the contract's top-level field names (for
// consistency tests against the JSON schema).
func ProvisioningFieldNames() []string { return slices.Clone(provisioningFields) }

// DecodeProvisioningRequest strictly decodes and validates a provisioning v1
// body. Every problem found is reported with the field it concerns; unknown
// fields are rejected. knownRegion says whether a region is configured.
func DecodeProvisioningRequest(body []byte, ips IPPolicy, knownRegion func(string) bool) (*ProvisioningRequest, error) {
	if len(body) > MaxMessageBytes {
		return nil, FieldError("(body)", "is %d bytes; the limit is %d", len(body), MaxMessageBytes)
	}
	if !utf8.Valid(body) || bytes.ContainsRune(body, utf8.RuneError) {
		// The Functions host hands string bodies over with invalid bytes
		// already replaced by U+FFFD, so that is the sign to look for too.
		return nil, FieldError("(body)", "is not valid UTF-8")
	}
	obj, err := decodeObject("(body)", body)
	if err != nil {
		return nil, err
	}
	var errs Errors
	add := func(err error) {
		if err != nil {
			errs = append(errs, asFieldError(err))
		}
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(provisioningFields, k) {
			add(FieldError(k, "is not a field of provisioning v1"))
		}
	}
	for _, k := range provisioningRequired {
		if _, ok := obj[k]; !ok {
			add(FieldError(k, "is required"))
		}
	}
	req := &ProvisioningRequest{}
	if raw, ok := obj["schemaVersion"]; ok {
		var v float64
		if json.Unmarshal(raw, &v) != nil || v != 1 {
			add(FieldError("schemaVersion", "must be 1"))
		} else {
			req.SchemaVersion = 1
		}
	}
	if raw, ok := obj["requestId"]; ok {
		if s, err := decodeString("requestId", raw); err != nil {
			add(err)
		} else if err := ValidateRequestID("requestId", s); err != nil {
			add(err)
		} else {
			req.RequestID = s
		}
	}
	if raw, ok := obj["tenantId"]; ok {
		if s, err := decodeString("tenantId", raw); err != nil {
			add(err)
		} else if id, err := NormalizeTenantID("tenantId", s); err != nil {
			add(err)
		} else {
			req.TenantID = id
		}
	}
	if raw, ok := obj["customerName"]; ok {
		if s, err := decodeString("customerName", raw); err != nil {
			add(err)
		} else if c, err := ValidateCustomerName("customerName", s); err != nil {
			add(err)
		} else {
			req.CustomerName = c
		}
	}
	if raw, ok := obj["primaryDomain"]; ok {
		if s, err := decodeString("primaryDomain", raw); err != nil {
			add(err)
		} else if a, u, err := ValidatePrimaryDomain("primaryDomain", s); err != nil {
			add(err)
		} else {
			req.PrimaryDomain, req.PrimaryDomainUnicode = a, u
		}
	}
	if raw, ok := obj["region"]; ok {
		if s, err := decodeString("region", raw); err != nil {
			add(err)
		} else if err := ValidateRegionCode("region", s); err != nil {
			add(err)
		} else if knownRegion != nil && !knownRegion(s) {
			add(FieldError("region", "%q is not a region this deployment serves", s))
		} else {
			req.Region = s
		}
	}
	if raw, ok := obj["adminIps"]; ok {
		req.AdminIPs = DecodeAllowedIPs("adminIps", raw, ips, add)
	}
	if raw, ok := obj["contacts"]; ok {
		req.Contacts = DecodeContacts(raw, add)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeAllowedIPs decodes a JSON array of 1–20 IP addresses or CIDR ranges
// (the contract's adminIps; the admin API's allowedIps), reporting each
// problem to add with its field. Duplicates are dropped.
func DecodeAllowedIPs(name string, raw json.RawMessage, ips IPPolicy, add func(error)) []netip.Prefix {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || items == nil {
		add(FieldError(name, "must be an array of IP addresses or CIDR ranges"))
		return nil
	}
	if len(items) < 1 || len(items) > 20 {
		add(FieldError(name, "must hold 1 to 20 entries, not %d", len(items)))
		return nil
	}
	var out []netip.Prefix
	for i, item := range items {
		field := fmt.Sprintf("%s[%d]", name, i)
		s, err := decodeString(field, item)
		if err != nil {
			add(err)
			continue
		}
		if len(s) > 49 {
			add(FieldError(field, "must be at most 49 characters"))
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

// DecodeContacts decodes a JSON array of 1–10 contacts of which at least one
// is an admin, reporting each problem to add with its field.
func DecodeContacts(raw json.RawMessage, add func(error)) []Contact {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil || items == nil {
		add(FieldError("contacts", "must be an array of contacts"))
		return nil
	}
	if len(items) < 1 || len(items) > 10 {
		add(FieldError("contacts", "must hold 1 to 10 contacts, not %d", len(items)))
		return nil
	}
	var out []Contact
	hasAdmin := false
	for i, item := range items {
		prefix := fmt.Sprintf("contacts[%d]", i)
		obj, err := decodeObject(prefix, item)
		if err != nil {
			add(err)
			continue
		}
		ok := true
		for _, k := range sortedKeys(obj) {
			if !slices.Contains(contactFields, k) {
				add(FieldError(prefix+"."+k, "is not a field of a contact"))
				ok = false
			}
		}
		var c Contact
		if raw, present := obj["name"]; present {
			s, err := decodeString(prefix+".name", raw)
			if err == nil {
				err = ValidateText(prefix+".name", s, 0, 200)
			}
			if err != nil {
				add(err)
				ok = false
			}
			c.Name = CleanDisplayText(s)
		}
		if raw, present := obj["email"]; !present {
			add(FieldError(prefix+".email", "is required"))
			ok = false
		} else if s, err := decodeString(prefix+".email", raw); err != nil {
			add(err)
			ok = false
		} else if e, err := NormalizeEmail(prefix+".email", s); err != nil {
			add(err)
			ok = false
		} else {
			c.Email = e
		}
		if raw, present := obj["role"]; !present {
			add(FieldError(prefix+".role", "is required"))
			ok = false
		} else if s, err := decodeString(prefix+".role", raw); err != nil {
			add(err)
			ok = false
		} else if r := ContactRole(s); r != RoleAdmin && r != RoleTechnical && r != RoleBilling {
			add(FieldError(prefix+".role", "must be one of admin, technical, billing"))
			ok = false
		} else {
			c.Role = r
		}
		if ok {
			hasAdmin = hasAdmin || c.Role == RoleAdmin
			out = append(out, c)
		}
	}
	if len(out) == len(items) && !hasAdmin {
		add(FieldError("contacts", "must include at least one contact with role admin (they receive the consent link)"))
	}
	return out
}

// decodeObject decodes one JSON object, rejecting duplicate keys (which
// encoding/json would silently resolve to the last one).
func decodeObject(field string, raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, FieldError(field, "is not valid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, FieldError(field, "must be a JSON object")
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			return nil, FieldError(field, "is not valid JSON: %v", err)
		}
		key := keyTok.(string)
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, FieldError(joinField(field, key), "is not valid JSON: %v", err)
		}
		if _, dup := obj[key]; dup {
			return nil, FieldError(joinField(field, key), "appears more than once")
		}
		obj[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return nil, FieldError(field, "is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, FieldError(field, "has trailing data after the JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, FieldError(field, "has trailing data after the JSON object")
	}
	return obj, nil
}

func joinField(parent, key string) string {
	if parent == "(body)" || parent == "" {
		return key
	}
	return parent + "." + key
}

func decodeString(field string, raw json.RawMessage) (string, error) {
	var s string
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", FieldError(field, "must be a string, not null")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", FieldError(field, "must be a string")
	}
	return s, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func asFieldError(err error) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Code: CodeInvalid, Message: err.Error()}
}
