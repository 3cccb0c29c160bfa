package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
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

// DecodeProvisioningRequest strictly decodes and validates a provisioning v1
// body. Every problem found is reported with the field it concerns; unknown
// fields are rejected. knownRegion says whether a region is configured.
//
// The contract (contracts/provisioning.v1.schema.json) decides the shape:
// fields, types, lengths, patterns, counts. Go adds what a schema cannot
// say: the size and UTF-8 of the body, duplicate keys, the all-zero GUID,
// the IP policy, configured regions, display-text cleaning, domain and
// email syntax (punycode, DNS labels), and byte (not character) limits.
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
	// decodeObject has checked the syntax and that no key repeats, so this
	// second, generic decoding (the one the schema library reads) has the
	// same keys and values.
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	inst, ok := doc.(map[string]any)
	if err != nil || !ok {
		return nil, FieldError("(body)", "is not valid JSON: %v", err)
	}
	contract := provisioningSchema()
	vs := checkContract(contract.message, inst, "")

	var errs Errors
	add := func(err error) {
		if err != nil {
			errs = append(errs, asFieldError(err))
		}
	}
	// Unknown fields first, then missing ones, then field by field: the
	// first problem names the rejection's field.
	for _, k := range sortedKeys(obj) {
		if v := vs[k]; v.unknown {
			add(v.err)
		}
	}
	for _, k := range contract.message.Required {
		if v := vs[k]; v.missing {
			add(v.err)
		}
	}
	// valid returns a field's value if it is present and the contract
	// accepts it, else reports what the contract says.
	valid := func(k string) (any, bool) {
		val, present := inst[k]
		if !present {
			return nil, false
		}
		if v, broken := vs[k]; broken {
			add(v.err)
			return nil, false
		}
		return val, true
	}
	req := &ProvisioningRequest{}
	if _, ok := valid("schemaVersion"); ok {
		req.SchemaVersion = 1
	}
	if v, ok := valid("requestId"); ok {
		req.RequestID = v.(string)
	}
	if v, ok := valid("tenantId"); ok {
		if id, err := NormalizeTenantID("tenantId", v.(string)); err != nil {
			add(err)
		} else {
			req.TenantID = id
		}
	}
	if v, ok := valid("customerName"); ok {
		if c, err := ValidateCustomerName("customerName", v.(string)); err != nil {
			add(err)
		} else {
			req.CustomerName = c
		}
	}
	if v, ok := valid("primaryDomain"); ok {
		if a, u, err := ValidatePrimaryDomain("primaryDomain", v.(string)); err != nil {
			add(err)
		} else {
			req.PrimaryDomain, req.PrimaryDomainUnicode = a, u
		}
	}
	if v, ok := valid("region"); ok {
		if s := v.(string); knownRegion != nil && !knownRegion(s) {
			add(FieldError("region", "%q is not a region this deployment serves", s))
		} else {
			req.Region = s
		}
	}
	if v, ok := inst["adminIps"]; ok {
		req.AdminIPs = allowedIPs("adminIps", v, vs, ips, add)
	}
	if v, ok := inst["contacts"]; ok {
		req.Contacts = contactList(obj["contacts"], v, vs, add)
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
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		add(FieldError(name, "must be an array of IP addresses or CIDR ranges"))
		return nil
	}
	return allowedIPs(name, inst, checkContract(provisioningSchema().adminIPs, inst, name), ips, add)
}

// allowedIPs applies the IP policy to the entries the contract accepts.
func allowedIPs(name string, inst any, vs violations, ips IPPolicy, add func(error)) []netip.Prefix {
	if v, broken := vs[name]; broken {
		add(v.err)
		return nil
	}
	var out []netip.Prefix
	for i, item := range inst.([]any) {
		field := fmt.Sprintf("%s[%d]", name, i)
		if v, broken := vs[field]; broken {
			add(v.err)
			continue
		}
		s := item.(string)
		if len(s) > 49 {
			// The contract counts characters; the limit is on bytes.
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
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		add(FieldError("contacts", "must be an array of contacts"))
		return nil
	}
	return contactList(raw, inst, checkContract(provisioningSchema().contacts, inst, "contacts"), add)
}

// contactList turns the contacts the contract accepts into Contacts,
// adding what it cannot check: duplicate keys, text, email syntax.
func contactList(raw json.RawMessage, inst any, vs violations, add func(error)) []Contact {
	if v, broken := vs["contacts"]; broken && !v.contains {
		add(v.err)
		return nil
	}
	items := inst.([]any)
	var raws []json.RawMessage
	if err := json.Unmarshal(raw, &raws); err != nil || len(raws) != len(items) {
		add(FieldError("contacts", "must be an array of contacts"))
		return nil
	}
	var out []Contact
	for i, item := range items {
		prefix := fmt.Sprintf("contacts[%d]", i)
		if v, broken := vs[prefix]; broken {
			add(v.err)
			continue
		}
		obj, err := decodeObject(prefix, raws[i])
		if err != nil {
			add(err) // a key twice: the schema sees only the last
			continue
		}
		ok := true
		for _, k := range sortedKeys(obj) {
			if v := vs[prefix+"."+k]; v.unknown {
				add(v.err)
				ok = false
			}
		}
		m := item.(map[string]any)
		// valid reports what the contract says of a contact field, if anything.
		valid := func(k string) (string, bool) {
			if v, broken := vs[prefix+"."+k]; broken {
				add(v.err)
				ok = false
				return "", false
			}
			s, present := m[k].(string)
			return s, present
		}
		var c Contact
		if s, present := valid("name"); present {
			if err := ValidateText(prefix+".name", s, 0, 200); err != nil {
				add(err)
				ok = false
			}
			c.Name = CleanDisplayText(s)
		}
		if s, present := valid("email"); present {
			if e, err := NormalizeEmail(prefix+".email", s); err != nil {
				add(err)
				ok = false
			} else {
				c.Email = e
			}
		}
		if s, present := valid("role"); present {
			c.Role = ContactRole(s)
		}
		if ok {
			out = append(out, c)
		}
	}
	if v := vs["contacts"]; len(out) == len(items) && v.contains {
		add(v.err)
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
