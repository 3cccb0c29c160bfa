package consistency

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/pack"
)

// configSettings is the handler's declared settings table.
func configSettings() []config.Setting { return slices.Clone(config.Settings) }

// hostSettings are app settings the Functions host or platform reads, not the
// handler. Connection-name settings (ServiceBusConnection__*) are derived from
// the bindings instead.
var hostSettings = map[string]bool{
	"FUNCTIONS_WORKER_RUNTIME":                  true,
	"FUNCTIONS_EXTENSION_VERSION":               true,
	"AzureWebJobsStorage":                       true,
	"AzureWebJobsFeatureFlags":                  true,
	"AzureWebJobsSecretStorageType":             true,
	"APPLICATIONINSIGHTS_CONNECTION_STRING":     true,
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": true,
}

var hostSettingPrefixes = []string{"AzureWebJobsStorage__", "AzureFunctionsJobHost__"}

// flexRejected are settings Flex Consumption refuses or that would put a
// connection string into the deployment.
var flexRejected = map[string]string{
	"FUNCTIONS_WORKER_RUNTIME":                 "Flex Consumption takes the runtime from functionAppConfig.runtime and rejects this setting",
	"FUNCTIONS_EXTENSION_VERSION":              "Flex Consumption runs Functions v4 only and rejects this setting",
	"WEBSITE_RUN_FROM_PACKAGE":                 "Flex Consumption deploys through functionAppConfig.deployment and rejects this setting",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING": "it is a storage connection string; Flex Consumption does not use it",
	"WEBSITE_CONTENTSHARE":                     "Flex Consumption does not use a content share",
	"AzureWebJobsStorage":                      "it is a connection string; use AzureWebJobsStorage__accountName/__credential/__clientId",
}

// localOnly are handler settings internal/config documents as local-run only.
var localOnly = []string{
	"TableStorage__connectionString",
	"LOCAL_QUEUE_URL",
	"GRAPH_CLIENT_SECRET",
	"AUTHORITY_CA_FILE",
	"ALLOW_PRIVATE_ADMIN_IPS",
}

// connectionNames are the binding "connection" values (e.g. ServiceBusConnection).
func connectionNames(fns []function) []string {
	seen := map[string]bool{}
	for _, f := range fns {
		for _, b := range f.Bindings {
			if b.Connection != "" && !seen[b.Connection] {
				seen[b.Connection] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// knownSetting reports whether name is read by the handler, the host, or a binding connection.
func knownSetting(name string, settings []config.Setting, fns []function) bool {
	for _, s := range settings {
		if s.Name == name {
			return true
		}
	}
	if hostSettings[name] {
		return true
	}
	for _, p := range hostSettingPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, c := range connectionNames(fns) {
		if name == c || strings.HasPrefix(name, c+"__") {
			return true
		}
	}
	return false
}

var percentSettingRE = regexp.MustCompile(`%([A-Za-z0-9_]+)%`)

// referencedSettings maps %SETTING% names in binding properties to the files using them.
func referencedSettings(fns []function) map[string][]string {
	refs := map[string][]string{}
	for _, f := range fns {
		for _, m := range percentSettingRE.FindAllStringSubmatch(string(f.Raw), -1) {
			if !slices.Contains(refs[m[1]], f.Path) {
				refs[m[1]] = append(refs[m[1]], f.Path)
			}
		}
	}
	return refs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkBicepSettings compares `var appSettings` in infra/main.bicep with the
// handler's settings, the host's needs and the bindings.
func checkBicepSettings(r repo, settings []config.Setting) []string {
	const file = "infra/main.bicep"
	if r.MainBicep == "" {
		return []string{file + " is missing: it must declare the Function App and its app settings (var appSettings = { ... })"}
	}
	keys, ok := bicepAppSettings(r.MainBicep)
	if !ok {
		return []string{file + ": no `var appSettings = { ... }` block found; declare every app setting there, one `KEY: value` per line (see the header of " + file + ")"}
	}
	var problems []string
	have := map[string]bool{}
	for _, k := range keys {
		if have[k] {
			problems = append(problems, fmt.Sprintf("%s: app setting %s is set twice in var appSettings; keep one", file, k))
		}
		have[k] = true
	}
	for _, s := range settings {
		if s.Required && !have[s.Name] {
			problems = append(problems, fmt.Sprintf("%s: app setting %s is Required by internal/config but missing from var appSettings; add `%s: <value>` (%s)", file, s.Name, s.Name, s.Doc))
		}
	}
	for _, k := range keys {
		if why, bad := flexRejected[k]; bad {
			problems = append(problems, fmt.Sprintf("%s: remove app setting %s from var appSettings: %s", file, k, why))
			continue
		}
		if slices.Contains(localOnly, k) {
			problems = append(problems, fmt.Sprintf("%s: remove app setting %s from var appSettings: internal/config documents it for local runs only", file, k))
			continue
		}
		if !knownSetting(k, settings, r.Functions) {
			problems = append(problems, fmt.Sprintf("%s: app setting %s is neither in internal/config Settings nor a Functions host setting; fix the name, or declare it in config.Settings if the handler reads it", file, k))
		}
	}
	for _, c := range connectionNames(r.Functions) {
		if have[c] {
			problems = append(problems, fmt.Sprintf("%s: app setting %s would be a connection string; use identity-based %s__fullyQualifiedNamespace (+ __credential, __clientId) instead", file, c, c))
		}
		if usesServiceBus(r.Functions, c) && !have[c+"__fullyQualifiedNamespace"] {
			problems = append(problems, fmt.Sprintf("%s: bindings use connection %q but var appSettings has no %s__fullyQualifiedNamespace; add it with %s__credential: 'managedidentity' and %s__clientId", file, c, c, c, c))
		}
	}
	refs := referencedSettings(r.Functions)
	for _, name := range sortedKeys(refs) {
		if !have[name] {
			problems = append(problems, fmt.Sprintf("%s: %s reference %%%s%%, which the host resolves from app settings only; add `%s: <value>` to var appSettings", file, strings.Join(refs[name], ", "), name, name))
		}
	}
	return problems
}

func usesServiceBus(fns []function, connection string) bool {
	for _, f := range fns {
		for _, b := range f.Bindings {
			if b.Connection == connection && strings.HasPrefix(strings.ToLower(b.Type), "servicebus") {
				return true
			}
		}
	}
	return false
}

// checkSampleSettings compares local.settings.sample.json with the handler's
// settings, so a newcomer's copy runs and typos are caught.
func checkSampleSettings(r repo, settings []config.Setting) []string {
	const file = "local.settings.sample.json"
	var required []string
	for _, s := range settings {
		if s.Required {
			required = append(required, s.Name)
		}
	}
	if r.Sample == nil {
		return []string{fmt.Sprintf(`%s is missing at the repository root: create it as {"IsEncrypted": false, "Values": {...}} with FUNCTIONS_WORKER_RUNTIME "custom", every setting a local run needs, and at least the Required ones: %s`, file, strings.Join(required, ", "))}
	}
	var doc struct {
		Values map[string]json.RawMessage `json:"Values"`
	}
	if err := json.Unmarshal(r.Sample, &doc); err != nil {
		return []string{fmt.Sprintf("%s: invalid JSON: %v", file, err)}
	}
	if doc.Values == nil {
		return []string{fmt.Sprintf(`%s: no "Values" object; local.settings.json keeps app settings under "Values"`, file)}
	}
	var problems []string
	for _, name := range required {
		if _, ok := doc.Values[name]; !ok {
			problems = append(problems, fmt.Sprintf(`%s: Required setting %s is missing from "Values"; add "%s": "<local value>"`, file, name, name))
		}
	}
	for _, k := range sortedKeys(doc.Values) {
		var s string
		if err := json.Unmarshal(doc.Values[k], &s); err != nil {
			problems = append(problems, fmt.Sprintf(`%s: "Values".%s must be a JSON string (app settings are strings)`, file, k))
		}
		if !knownSetting(k, settings, r.Functions) {
			problems = append(problems, fmt.Sprintf(`%s: "Values".%s is neither in internal/config Settings nor a Functions host setting; fix the typo, or declare it in config.Settings if the handler reads it`, file, k))
		}
	}
	var runtime string
	if raw, ok := doc.Values["FUNCTIONS_WORKER_RUNTIME"]; !ok || json.Unmarshal(raw, &runtime) != nil || runtime != "custom" {
		problems = append(problems, fmt.Sprintf(`%s: "Values".FUNCTIONS_WORKER_RUNTIME must be "custom" (Core Tools starts the custom handler only then)`, file))
	}
	refs := referencedSettings(r.Functions)
	for _, name := range sortedKeys(refs) {
		if _, ok := doc.Values[name]; !ok {
			problems = append(problems, fmt.Sprintf(`%s: %s reference %%%s%%, which the host resolves from settings only; add "%s" to "Values"`, file, strings.Join(refs[name], ", "), name, name))
		}
	}
	return problems
}

// checkQueues makes every Service Bus queue a function triggers on (or
// writes to) exist in the Bicep, and every declared queue have a trigger.
func checkQueues(r repo) []string {
	const file = "infra/main.bicep"
	if r.MainBicep == "" {
		return []string{file + " is missing: it must declare the Service Bus queues (var serviceBusQueues = [ ... ])"}
	}
	declared, ok := bicepQueues(r.MainBicep)
	if !ok {
		return []string{file + ": no `var serviceBusQueues = [ ... ]` block found; declare every queue there as `{ name: '<queue>' ... }`"}
	}
	var problems []string
	triggered := map[string]bool{}
	for _, f := range r.Functions {
		for _, b := range f.Bindings {
			if !strings.HasPrefix(strings.ToLower(b.Type), "servicebus") {
				continue
			}
			if b.TopicName != "" {
				problems = append(problems, fmt.Sprintf("%s: binding %q uses topic %q, but the deployment declares queues only; use a queue or add the topic to %s", f.Path, b.Name, b.TopicName, file))
				continue
			}
			if b.QueueName == "" {
				problems = append(problems, fmt.Sprintf("%s: binding %q has no queueName", f.Path, b.Name))
				continue
			}
			if strings.Contains(b.QueueName, "%") {
				problems = append(problems, fmt.Sprintf("%s: queueName %q is a setting reference; use the literal queue name so it can be checked against %s", f.Path, b.QueueName, file))
				continue
			}
			if strings.EqualFold(b.Type, "serviceBusTrigger") {
				triggered[b.QueueName] = true
			}
			if !slices.Contains(declared, b.QueueName) {
				problems = append(problems, fmt.Sprintf("%s: queue %q is not declared in %s; add `{ name: '%s' duplicateDetectionWindow: 'PT1H' }` to var serviceBusQueues", f.Path, b.QueueName, file, b.QueueName))
			}
		}
	}
	for _, q := range declared {
		if !triggered[q] {
			problems = append(problems, fmt.Sprintf("%s: queue %q is declared but no functions/*/function.json has a serviceBusTrigger on it, so its messages would never be processed; add the function or remove the queue", file, q))
		}
	}
	return problems
}

// checkHost guards what makes the package start and HTTP forwarding work.
func checkHost(r repo) []string {
	if r.HostJSON == nil {
		return []string{"host.json is missing at the repository root"}
	}
	var host struct {
		CustomHandler *struct {
			Description struct {
				DefaultExecutablePath string `json:"defaultExecutablePath"`
			} `json:"description"`
			EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
		} `json:"customHandler"`
	}
	if err := json.Unmarshal(r.HostJSON, &host); err != nil {
		return []string{fmt.Sprintf("host.json: invalid JSON: %v", err)}
	}
	var problems []string
	if host.CustomHandler == nil {
		problems = append(problems, `host.json: no "customHandler" section; the host would not start the Go handler`)
	} else {
		if p := host.CustomHandler.Description.DefaultExecutablePath; p != pack.HandlerName {
			problems = append(problems, fmt.Sprintf(`host.json: customHandler.description.defaultExecutablePath is %q; set it to %q, the executable name make package puts in dist/ (internal/pack.HandlerName)`, p, pack.HandlerName))
		}
		if !host.CustomHandler.EnableForwardingHttpRequest {
			problems = append(problems, `host.json: customHandler.enableForwardingHttpRequest must be true: the handlers serve plain HTTP requests on /api/...`)
		}
	}
	for _, f := range r.Functions {
		triggers := 0
		for _, b := range f.Bindings {
			if strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
				triggers++
			}
		}
		if triggers != 1 {
			problems = append(problems, fmt.Sprintf("%s: has %d trigger bindings; a function needs exactly one", f.Path, triggers))
			continue
		}
		if !f.isHTTP() {
			continue
		}
		var in, out, other int
		for _, b := range f.Bindings {
			switch {
			case strings.EqualFold(b.Type, "httpTrigger") && strings.EqualFold(b.Direction, "in"):
				in++
			case strings.EqualFold(b.Type, "http") && strings.EqualFold(b.Direction, "out"):
				out++
			default:
				other++
			}
		}
		if in != 1 || out != 1 || other != 0 {
			problems = append(problems, fmt.Sprintf(`%s: an HTTP function must have exactly one httpTrigger (in) and one http (out) binding and nothing else, or the host silently stops forwarding it as plain HTTP; found %d httpTrigger, %d http out, %d other. Send to queues with the Service Bus SDK instead of output bindings`, f.Path, in, out, other))
		}
	}
	return problems
}

var yamlFieldRE = regexp.MustCompile(`(?m)^\s+(dist|language|host|project):\s*(\S+)\s*$`)

// checkAzureYAML keeps azd deploying the zip make package builds, as is.
func checkAzureYAML(r repo) []string {
	const file = "azure.yaml"
	if r.AzureYAML == nil {
		return []string{file + " is missing at the repository root: azd needs it to deploy service api (see docs/operations.md)"}
	}
	fields := map[string]string{}
	for _, m := range yamlFieldRE.FindAllStringSubmatch(string(r.AzureYAML), -1) {
		fields[m[1]] = strings.Trim(m[2], `"'`)
	}
	want := map[string]string{
		"dist":     "dist/" + pack.ZipName,
		"language": "custom",
		"host":     "function",
		"project":  ".",
	}
	var problems []string
	for _, k := range sortedKeys(want) {
		if fields[k] != want[k] {
			problems = append(problems, fmt.Sprintf("%s: service api must have `%s: %s` (got %q): azd must upload the zip make package builds (internal/pack) unchanged, so the handler keeps its executable bit", file, k, want[k], fields[k]))
		}
	}
	return problems
}
