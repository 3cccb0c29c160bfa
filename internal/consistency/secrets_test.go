package consistency

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// azuriteKey is the documented, public Azurite/Storage Emulator account key:
// allowed in local.settings.sample.json only.
const azuriteKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

type secretPattern struct {
	what string
	re   *regexp.Regexp
	fix  string
}

var secretPatterns = []secretPattern{
	{"a storage account key", regexp.MustCompile(`(?i)AccountKey\s*=`), "use the managed identity (AzureWebJobsStorage__accountName, TableStorage__tableServiceUri)"},
	{"a storage connection string", regexp.MustCompile(`(?i)DefaultEndpointsProtocol\s*=`), "use the managed identity (AzureWebJobsStorage__accountName, TableStorage__tableServiceUri)"},
	{"a Service Bus connection string", regexp.MustCompile(`(?i)Endpoint\s*=\s*sb://`), "use ServiceBusConnection__fullyQualifiedNamespace with the managed identity"},
	{"a shared access key", regexp.MustCompile(`(?i)SharedAccessKey(Name)?\s*=`), "use Entra ID roles (Azure Service Bus Data Sender/Receiver)"},
	{"a SAS token", regexp.MustCompile(`(?i)(SharedAccessSignature\s*=|[?&]sig=[A-Za-z0-9%+/]{16,})`), "use Entra ID roles instead of SAS"},
	{"an Application Insights instrumentation key", regexp.MustCompile(`(?i)InstrumentationKey\s*=`), "reference the resource's ConnectionString and set APPLICATIONINSIGHTS_AUTHENTICATION_STRING"},
	{"an Entra client secret", regexp.MustCompile(`[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}`), "use the federated credential or a Key Vault certificate reference; rotate the leaked secret"},
	{"a private key", regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`), "keep certificates in Key Vault"},
}

// bicepKeyCalls would copy keys out of resources into settings or outputs.
var bicepKeyCalls = regexp.MustCompile(`\b(listKeys|listConnectionStrings|listAccountSas|listServiceSas|listCredentials)\s*\(|\.list[A-Za-z]*Keys\s*\(`)

// checkSecrets scans infra/, azure.yaml, host.json, function.json files and
// local.settings.sample.json for credentials. The sample may hold the public
// Azurite key, and only in an Azurite (devstoreaccount1) connection string.
func checkSecrets(r repo) []string {
	var problems []string
	for _, name := range sortedKeys(r.Scanned) {
		content := r.Scanned[name]
		texts := []string{string(content)}
		if name == "local.settings.sample.json" {
			var err error
			texts, err = sampleValues(content)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: invalid JSON: %v", name, err))
				continue
			}
		}
		for _, text := range texts {
			for _, p := range secretPatterns {
				if loc := p.re.FindStringIndex(text); loc != nil {
					problems = append(problems, fmt.Sprintf("%s: contains %s (%q); remove it and %s", name, p.what, excerpt(text, loc), p.fix))
				}
			}
		}
		if strings.HasSuffix(name, ".bicep") {
			if loc := bicepKeyCalls.FindStringIndex(string(content)); loc != nil {
				problems = append(problems, fmt.Sprintf("%s: calls %q, which puts resource keys into the deployment; grant the managed identity a role instead", name, excerpt(string(content), loc)))
			}
		}
	}
	return problems
}

// sampleValues returns the sample's string values and keys to scan, leaving
// out Azurite connection strings that carry the public emulator key.
func sampleValues(content []byte) ([]string, error) {
	var doc map[string]any
	if err := json.Unmarshal(content, &doc); err != nil {
		return nil, err
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			if !isAzuriteConnection(x) {
				out = append(out, x)
			}
		}
	}
	walk(doc)
	return out, nil
}

// isAzuriteConnection accepts a connection string for the local emulator
// account whose key, if any, is the public Azurite key.
func isAzuriteConnection(s string) bool {
	if !strings.Contains(s, "AccountName=devstoreaccount1") {
		return false
	}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "AccountKey") && strings.TrimSpace(v) != azuriteKey {
			return false
		}
	}
	return true
}

// excerpt shows the match with a little context, shortened so a leaked
// value is not repeated whole in test output.
func excerpt(text string, loc []int) string {
	end := min(loc[1]+8, len(text))
	start := max(loc[0]-12, 0)
	s := text[start:end]
	if end < len(text) {
		s += "…"
	}
	return s
}
