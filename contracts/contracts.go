// Package contracts embeds the message contracts this service shares with
// other systems (the CRM's provisioning messages, the published events), so
// the code that enforces or serves a contract reads the committed file and
// no copy can drift from it.
package contracts

import _ "embed"

// The contracts' file names, which are also the schemas' $id, and the
// provisioning example's.
const (
	ProvisioningV1            = "provisioning.v1.schema.json"
	EventsV1                  = "events.v1.schema.json"
	ProvisioningV1ExampleFile = "provisioning.v1.example.json"
)

// Strings, not byte slices: callers get a fresh copy and cannot edit the
// contract for everyone else.
var (
	//go:embed provisioning.v1.schema.json
	provisioningV1 string
	//go:embed provisioning.v1.example.json
	provisioningV1Example string
	//go:embed events.v1.schema.json
	eventsV1 string
)

// ProvisioningV1Schema returns the JSON Schema (2020-12) of a provisioning v1
// message, the body of the Service Bus queue `provisioning`.
func ProvisioningV1Schema() []byte { return []byte(provisioningV1) }

// ProvisioningV1Example returns the contract's example message.
func ProvisioningV1Example() []byte { return []byte(provisioningV1Example) }

// EventsV1Schema returns the JSON Schema (2020-12) of the published events.
func EventsV1Schema() []byte { return []byte(eventsV1) }
