package adminapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onemeeting/cvi-onboarding/contracts"
)

// TestServedProvisioningSchemaIsTheContract: the served document's
// ProvisioningRequestV1 is contracts/provisioning.v1.schema.json itself (less
// $id and $schema, which OpenAPI 3.1 supplies), and the contract's example
// validates against what is served.
func TestServedProvisioningSchemaIsTheContract(t *testing.T) {
	t.Parallel()
	var want map[string]any
	if err := json.Unmarshal(contracts.ProvisioningV1Schema(), &want); err != nil {
		t.Fatal(err)
	}
	delete(want, "$id")
	delete(want, "$schema")
	doc := specDoc(t)
	served, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)[provisioningSchemaName].(map[string]any)
	if !reflect.DeepEqual(served, want) {
		t.Fatalf("served %s is not the contract:\n%v", provisioningSchemaName, served)
	}
	raw, err := json.Marshal(served)
	if err != nil {
		t.Fatal(err)
	}
	sch := compileServed(t, raw)
	example, err := jsonschema.UnmarshalJSON(bytes.NewReader(contracts.ProvisioningV1Example()))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(example); err != nil {
		t.Errorf("the contract's example does not validate against the served schema: %v", err)
	}
	if err := sch.Validate(map[string]any{"schemaVersion": json.Number("1")}); err == nil {
		t.Error("the served schema accepts a message without its required fields")
	}
}

func compileServed(t *testing.T, raw []byte) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource("served.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("served.json")
	if err != nil {
		t.Fatal(err)
	}
	return sch
}
