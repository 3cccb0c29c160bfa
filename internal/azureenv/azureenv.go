// Package azureenv knows the process's environment: whether it runs inside
// Azure (so local-only tools such as the dev host and the sandbox identity
// platform can refuse to start there), and the local storage emulator's
// well-known account.
package azureenv

import "strings"

// markers are environment variables the App Service / Functions platform and
// Azure managed identity endpoints set; none of them is set on a developer
// machine or in CI.
var markers = []string{
	"WEBSITE_INSTANCE_ID",
	"WEBSITE_SITE_NAME",
	"WEBSITE_HOSTNAME",
	"IDENTITY_ENDPOINT",
	"MSI_ENDPOINT",
	"CONTAINER_APP_NAME",
}

// Detect reports whether lookup (usually os.LookupEnv) shows Azure platform
// markers, and names the first one found.
func Detect(lookup func(string) (string, bool)) (inAzure bool, marker string) {
	for _, name := range markers {
		if v, ok := lookup(name); ok && strings.TrimSpace(v) != "" {
			return true, name
		}
	}
	return false, ""
}
