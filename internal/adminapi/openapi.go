package adminapi

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the API description, authored in YAML. Its
// components.schemas.ProvisioningRequestV1 is a placeholder that
// OpenAPIJSON fills with contracts/provisioning.v1.schema.json (JSON Schema
// 2020-12, which OpenAPI 3.1 schemas are), so the contract is written once.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// provisioningSchemaName is the component the placeholder stands for.
const provisioningSchemaName = "ProvisioningRequestV1"

// OpenAPIJSON returns the complete OpenAPI 3.1 document as JSON, as served
// at GET /api/admin/openapi.json.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	root, ok := jsonCompatible(doc).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi.yaml is not a mapping")
	}
	var schema map[string]any
	if err := json.Unmarshal(contracts.ProvisioningV1Schema(), &schema); err != nil {
		return nil, fmt.Errorf("parse %s: %w", contracts.ProvisioningV1, err)
	}
	// $id would make the embedded schema a separate resource with its own
	// base URI; $schema is redundant (OpenAPI 3.1's default dialect is
	// JSON Schema 2020-12 plus OpenAPI's vocabulary).
	delete(schema, "$id")
	delete(schema, "$schema")
	components, _ := root["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	if _, ok := schemas[provisioningSchemaName]; !ok {
		return nil, fmt.Errorf("openapi.yaml lacks the components.schemas.%s placeholder", provisioningSchemaName)
	}
	schemas[provisioningSchemaName] = schema
	out, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI document: %w", err)
	}
	return out, nil
}

// jsonCompatible turns YAML's decoded values into what encoding/json
// accepts: mappings with non-string keys (such as status codes written
// unquoted) get string keys.
func jsonCompatible(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, val := range v {
			v[k] = jsonCompatible(val)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			out[fmt.Sprint(k)] = jsonCompatible(val)
		}
		return out
	case []any:
		for i, val := range v {
			v[i] = jsonCompatible(val)
		}
		return v
	default:
		return v
	}
}
