package contracts

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compile(t *testing.T, name string, schema []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(name, doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	sch, err := c.Compile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// The committed example is a valid message, and the schema is live: the
// example without its admin contact, or with a wrong type, is not.
func TestProvisioningExampleValidates(t *testing.T) {
	sch := compile(t, ProvisioningV1, ProvisioningV1Schema())
	ex := ProvisioningV1Example()
	if err := validate(t, sch, ex); err != nil {
		t.Fatalf("the contract's example does not validate: %v", err)
	}
	for name, bad := range map[string]string{
		"no admin contact":  strings.Replace(string(ex), `"role": "admin"`, `"role": "billing"`, 1),
		"role not a string": strings.Replace(string(ex), `"role": "admin"`, `"role": 1`, 1),
		"unknown field":     strings.Replace(string(ex), `"region"`, `"colour": "blue", "region"`, 1),
	} {
		if bad == string(ex) {
			t.Fatalf("%s: the example changed; fix the test", name)
		}
		if err := validate(t, sch, []byte(bad)); err == nil {
			t.Errorf("%s: validates", name)
		}
	}
}

// Each event example validates against the events schema.
func TestEventExamplesValidate(t *testing.T) {
	sch := compile(t, EventsV1, EventsV1Schema())
	files, err := filepath.Glob(filepath.Join("events.v1.examples", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no event examples: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate(t, sch, b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// The accessors hand out copies: one caller cannot edit the contract for another.
func TestAccessorsReturnCopies(t *testing.T) {
	a := ProvisioningV1Schema()
	a[0] = 'x'
	if b := ProvisioningV1Schema(); b[0] != '{' || !json.Valid(b) {
		t.Errorf("editing one copy changed the next: %q", b[:10])
	}
}
