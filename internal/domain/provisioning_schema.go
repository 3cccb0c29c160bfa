package domain

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// provisioningContract is contracts/provisioning.v1.schema.json compiled:
// the whole message, and the two parts the admin API's PATCH also accepts.
type provisioningContract struct {
	message, adminIPs, contacts *jsonschema.Schema
}

// Schema pointers of the parts whose rejections need their own words.
const (
	ptrAdminIPs = "/properties/adminIps"
	ptrContacts = "/properties/contacts"
	ptrContact  = "/properties/contacts/items"
)

// provisioningSchema compiles the contract once per process; it is embedded,
// so a failure is a broken build, caught by every test of this package.
var provisioningSchema = sync.OnceValue(func() provisioningContract {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(contracts.ProvisioningV1Schema()))
	if err != nil {
		panic(fmt.Sprintf("parse %s: %v", contracts.ProvisioningV1, err))
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(contracts.ProvisioningV1, doc); err != nil {
		panic(fmt.Sprintf("load %s: %v", contracts.ProvisioningV1, err))
	}
	compile := func(ptr string) *jsonschema.Schema {
		s, err := c.Compile(contracts.ProvisioningV1 + "#" + ptr)
		if err != nil {
			panic(fmt.Sprintf("compile %s#%s: %v", contracts.ProvisioningV1, ptr, err))
		}
		return s
	}
	return provisioningContract{message: compile(""), adminIPs: compile(ptrAdminIPs), contacts: compile(ptrContacts)}
})

// violation is the one rule a value breaks, worded as the decoder always
// has: the field, "is required", "is not a field of …", or the value's own.
type violation struct {
	err      *Error
	rank     int // the lowest wins when one value breaks several rules
	unknown  bool
	missing  bool
	contains bool
}

// violations maps field names ("contacts[0].email") to the rule broken there.
type violations map[string]violation

// checkContract validates inst (as jsonschema.UnmarshalJSON decodes it)
// against sch; field names the value itself ("" for a whole message).
func checkContract(sch *jsonschema.Schema, inst any, field string) violations {
	err := sch.Validate(inst)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		// Not a validation failure (an instance type the library rejects):
		// a bug here, but still the message's fault, not a reason to retry.
		return violations{rootName(field): {err: FieldError(rootName(field), "does not match the contract: %v", err)}}
	}
	vs := violations{}
	vs.collect(ve, inst, field)
	return vs
}

func rootName(field string) string {
	if field == "" {
		return "(body)"
	}
	return field
}

func (vs violations) put(field string, v violation) {
	if old, ok := vs[field]; !ok || v.rank < old.rank {
		vs[field] = v
	}
}

func (vs violations) collect(ve *jsonschema.ValidationError, inst any, root string) {
	switch ve.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.Reference:
		for _, c := range ve.Causes {
			vs.collect(c, inst, root)
		}
		return
	}
	field, value := locate(inst, root, ve.InstanceLocation)
	_, ptr, _ := strings.Cut(ve.SchemaURL, "#")
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		what := "a contact"
		if ptr == "" {
			what = "provisioning v1"
		}
		for _, p := range k.Properties {
			f := joinField(field, p)
			vs.put(f, violation{err: FieldError(f, "is not a field of %s", what), unknown: true})
		}
	case *kind.Required:
		for _, p := range k.Missing {
			f := joinField(field, p)
			vs.put(f, violation{err: FieldError(f, "is required"), missing: true})
		}
	case *kind.Type:
		vs.put(field, violation{err: typeError(field, ptr, k, value)})
	case *kind.Const, *kind.Enum:
		vs.put(field, violation{err: FieldError(field, "%s", valueMessage(ptr, ve)), rank: 1})
	case *kind.Pattern:
		vs.put(field, violation{err: FieldError(field, "%s", valueMessage(ptr, ve)), rank: 2})
	case *kind.MinLength:
		if k.Want == 1 {
			vs.put(field, violation{err: FieldError(field, "is required"), rank: 2})
		} else {
			vs.put(field, violation{err: FieldError(field, "must be at least %d characters", k.Want), rank: 2})
		}
	case *kind.MaxLength:
		vs.put(field, violation{err: FieldError(field, "must be at most %d characters", k.Want), rank: 2})
	case *kind.MinItems:
		vs.put(field, violation{err: countError(field, ptr, k.Got), rank: 2})
	case *kind.MaxItems:
		vs.put(field, violation{err: countError(field, ptr, k.Got), rank: 2})
	case *kind.Contains:
		vs.put(field, violation{err: FieldError(field, "must include at least one contact with role admin (they receive the consent link)"), rank: 3, contains: true})
	default:
		vs.put(field, violation{err: FieldError(field, "%s", contractRule(ve)), rank: 4})
	}
}

// locate names the value at loc the way field errors do (adminIps[1],
// contacts[0].email) and returns it.
func locate(inst any, root string, loc []string) (string, any) {
	field, v := root, inst
	for _, seg := range loc {
		switch c := v.(type) {
		case []any:
			i, _ := strconv.Atoi(seg)
			field = fmt.Sprintf("%s[%d]", field, i)
			if i >= 0 && i < len(c) {
				v = c[i]
			} else {
				v = nil
			}
		case map[string]any:
			field = joinField(field, seg)
			v = c[seg]
		default:
			field, v = joinField(field, seg), nil
		}
	}
	return rootName(field), v
}

func typeError(field, ptr string, k *kind.Type, value any) *Error {
	switch want := strings.Join(k.Want, ","); {
	case want == "string" && value == nil:
		return FieldError(field, "must be a string, not null")
	case want == "string":
		return FieldError(field, "must be a string")
	case ptr == ptrAdminIPs:
		return FieldError(field, "must be an array of IP addresses or CIDR ranges")
	case ptr == ptrContacts:
		return FieldError(field, "must be an array of contacts")
	case want == "object":
		return FieldError(field, "must be a JSON object")
	default:
		return FieldError(field, "must be a %s", want)
	}
}

// valueMessage words a value the contract's pattern, const or enum refuses:
// what the pattern means, not the regular expression.
func valueMessage(ptr string, ve *jsonschema.ValidationError) string {
	switch ptr {
	case "/properties/schemaVersion":
		return "must be 1"
	case "/properties/requestId":
		return "must be 1-128 characters of A-Z a-z 0-9 . _ : -"
	case "/properties/tenantId":
		return "must be a GUID like 3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10"
	case "/properties/region":
		return "must be a region code: a lower-case letter, then up to 31 of a-z 0-9 -"
	case ptrContact + "/properties/role":
		return "must be one of admin, technical, billing"
	}
	return contractRule(ve)
}

// contractRule words a rule the decoder has no phrase for (one added to the
// schema later) by its keyword.
func contractRule(ve *jsonschema.ValidationError) string {
	return "does not satisfy the contract's " + strings.Join(ve.ErrorKind.KeywordPath(), "/")
}

func countError(field, ptr string, got int) *Error {
	sch := provisioningSchema().adminIPs
	noun := "entries"
	if ptr == ptrContacts {
		sch, noun = provisioningSchema().contacts, "contacts"
	}
	return FieldError(field, "must hold %d to %d %s, not %d", deref(sch.MinItems), deref(sch.MaxItems), noun, got)
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
