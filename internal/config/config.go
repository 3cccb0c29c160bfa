// Package config reads the app settings (environment variables) into one
// typed, validated Config. Every problem is reported at once.
package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Graph credential modes (GRAPH_CREDENTIAL).
const (
	CredentialFederated   = "managed-identity-federation" // secretless: MI token as client assertion
	CredentialCertificate = "certificate"                 // client certificate (Key Vault reference)
	CredentialSecret      = "secret"                      // client secret: local use only
)

// Config is every app setting the handler reads.
type Config struct {
	Port     int
	LogLevel slog.Level

	// HTTPMaxInFlight bounds the forwarded HTTP requests served at once;
	// more are answered 503 with Retry-After (host.json maxConcurrentRequests).
	HTTPMaxInFlight int

	PublicBaseURL *url.URL
	Regions       domain.Regions
	RegionOrder   []string

	OperatorTenantID string
	MailSender       string
	MailAppID        string
	OperationsEmails []string
	SupportEmail     string

	TablesConnectionString string // local (Azurite) only
	TablesServiceURL       string // Azure, identity-based
	TablePrefix            string

	ServiceBusNamespace string // fully qualified, identity-based
	LocalQueueURL       string // local dev host's in-process queues

	ManagedIdentityClientID string // user-assigned identity; "" = system-assigned (not with federation)

	GraphCredential     string
	GraphClientSecret   string
	GraphCertificate    string // base64 PFX or PEM (Key Vault reference in Azure)
	AuthorityHost       string
	ConsentAuthorityURL string
	GraphBaseURL        string
	AuthorityCAFile     string // trust an extra CA (the local sandbox); refused in Azure

	AdminAPIAudience string // App ID URI (api://…): the scope; v1 tokens carry it
	AdminAPIClientID string // client ID GUID: the aud of every accepted (v2) token

	// ConsoleClientID is the operator console's SPA app registration; ""
	// leaves the console off (its page says how to turn it on).
	ConsoleClientID string

	ConsentLinkTTL       time.Duration
	ConsentReminderDelay time.Duration
	ConsentVerifyTimeout time.Duration
	ConsentRecheckDelay  time.Duration
	ConsentRechecks      int
	// LiveReminderAfter: a consented tenant not live after this long gets
	// one reminder with the PowerShell link.
	LiveReminderAfter    time.Duration
	AllowPrivateAdminIPs bool
	TrustedProxyHops     int

	RevalidationSchedule      string
	RevalidationBatchSize     int
	RevalidationConcurrency   int
	RevalidationBatchInterval time.Duration
	RevalidationAlertAfter    int
	CredentialCacheSize       int

	// Back-off of queue messages that fail transiently (re-sent as
	// scheduled messages instead of burning Service Bus deliveries).
	RetryBackoffBase     time.Duration
	RetryBackoffMax      time.Duration
	RetryBackoffMaxTotal time.Duration
}

// Setting describes one app setting, for the README table and the
// consistency test against local.settings.sample.json and the Bicep.
type Setting struct {
	Name     string
	Required bool   // required in every deployment
	Default  string // "" = none
	Doc      string
}

// Settings lists every app setting the handler reads.
var Settings = []Setting{
	{Name: "FUNCTIONS_CUSTOMHANDLER_PORT", Default: "8080", Doc: "Port the handler listens on; the Functions host sets it."},
	{Name: "LOG_LEVEL", Default: "info", Doc: "debug, info, warn or error."},
	{Name: "HTTP_MAX_IN_FLIGHT", Default: "16", Doc: "HTTP requests (under /api/, health excepted) served at once per instance; more get 503 with Retry-After. Keep equal to host.json extensions.http.maxConcurrentRequests and the Bicep perInstanceConcurrency."},
	{Name: "PUBLIC_BASE_URL", Required: true, Doc: "Public base URL of the function app (consent links, redirect URI), e.g. https://onemeeting-cvi.azurewebsites.net."},
	{Name: "REGIONS", Required: true, Doc: "JSON array of regions: code, displayName, appId, tenantKeyDomain, instructionBaseUrl, optional tenantKeyDigits, directDialDomain."},
	{Name: "OPERATOR_TENANT_ID", Required: true, Doc: "The provider's own Entra tenant: sends mail, issues admin-API tokens."},
	{Name: "MAIL_SENDER", Required: true, Doc: "Mailbox (UPN) emails are sent from through Graph sendMail."},
	{Name: "MAIL_APP_ID", Required: true, Doc: "Application (client) ID holding Mail.Send in the operator tenant."},
	{Name: "OPERATIONS_EMAIL", Required: true, Doc: "Comma-separated addresses that receive ops alerts."},
	{Name: "SUPPORT_EMAIL", Required: true, Doc: "Support address shown to customers."},
	{Name: "TableStorage__connectionString", Doc: "Table Storage connection string: local (Azurite) only. Set this or TableStorage__tableServiceUri."},
	{Name: "TableStorage__tableServiceUri", Doc: "Table service URI (identity-based), e.g. https://<account>.table.core.windows.net."},
	{Name: "TABLE_PREFIX", Doc: "Prefix for every table name (letters and digits)."},
	{Name: "ServiceBusConnection__fullyQualifiedNamespace", Doc: "Service Bus namespace (identity-based), e.g. <ns>.servicebus.windows.net; triggers use it too. Set this or LOCAL_QUEUE_URL."},
	{Name: "LOCAL_QUEUE_URL", Doc: "Local dev host whose in-process queues stand in for Service Bus (local runs only)."},
	{Name: "MANAGED_IDENTITY_CLIENT_ID", Doc: "Client ID of the user-assigned managed identity (tables, Service Bus, Graph federation); required with GRAPH_CREDENTIAL=managed-identity-federation (federated credentials accept only user-assigned identities)."},
	{Name: "GRAPH_CREDENTIAL", Default: CredentialFederated, Doc: "managed-identity-federation (secretless), certificate or secret (local only)."},
	{Name: "GRAPH_CLIENT_SECRET", Doc: "Client secret of the apps: local/sandbox use only."},
	{Name: "GRAPH_CLIENT_CERTIFICATE", Doc: "Base64 PFX or PEM certificate+key (Key Vault reference) when GRAPH_CREDENTIAL=certificate."},
	{Name: "AUTHORITY_HOST", Default: "https://login.microsoftonline.com/", Doc: "Identity platform authority host (token endpoint, JWKS)."},
	{Name: "CONSENT_AUTHORITY_HOST", Doc: "Browser-facing authority host for the admin-consent redirect; defaults to AUTHORITY_HOST."},
	{Name: "GRAPH_BASE_URL", Default: "https://graph.microsoft.com/v1.0", Doc: "Microsoft Graph base URL."},
	{Name: "AUTHORITY_CA_FILE", Doc: "PEM file of an extra CA to trust for the authority (the local sandbox); refused inside Azure."},
	{Name: "ADMIN_API_AUDIENCE", Required: true, Doc: "Application ID URI of the admin API app, e.g. api://onemeeting-cvi-admin: the scope clients request (<URI>/.default). Not the audience of v2 tokens; only used to recognise (and refuse, naming the manifest fix) v1 tokens for this API."},
	{Name: "ADMIN_API_CLIENT_ID", Required: true, Doc: "Application (client) ID of the admin API app: the audience the handler accepts (v2 tokens always carry the client ID GUID as aud)."},
	{Name: "CONSOLE_CLIENT_ID", Doc: "Application (client) ID of the operator console's SPA app registration (redirect URI <PUBLIC_BASE_URL>/console/); unset leaves the console at /console/ switched off."},
	{Name: "CONSENT_LINK_TTL", Default: "336h", Doc: "How long a consent link works (Go duration)."},
	{Name: "CONSENT_REMINDER_DELAY", Default: "72h", Doc: "When to remind an admin who has not consented yet."},
	{Name: "CONSENT_VERIFY_TIMEOUT", Default: "30s", Doc: "How long the consent callback retries verification (replication delay) before recording it as pending."},
	{Name: "CONSENT_RECHECK_DELAY", Default: "2m", Doc: "First re-check of a pending consent verification; each further re-check waits twice as long."},
	{Name: "CONSENT_RECHECK_ATTEMPTS", Default: "6", Doc: "Re-checks of a pending consent verification before operations are alerted (6 from 2m: about 2 hours)."},
	{Name: "LIVE_REMINDER_AFTER", Default: "168h", Doc: "How long after consent a tenant that is not live yet (no meeting invite seen) gets its one reminder with the PowerShell link."},
	{Name: "ALLOW_PRIVATE_ADMIN_IPS", Default: "false", Doc: "Accept loopback/private admin IPs (local runs only)."},
	{Name: "TRUSTED_PROXY_HOPS", Default: "1", Doc: "Platform-added X-Forwarded-For entries to trust, counted from the right."},
	{Name: "REVALIDATION_SCHEDULE", Default: "0 0 */6 * * *", Doc: "NCRONTAB schedule of consent re-validation (the timer trigger reads it too)."},
	{Name: "REVALIDATION_BATCH_SIZE", Default: "50", Doc: "Tenants per revalidation message."},
	{Name: "REVALIDATION_CONCURRENCY", Default: "16", Doc: "Concurrent tenant checks per batch (Graph concurrency)."},
	{Name: "REVALIDATION_BATCH_INTERVAL", Default: "2s", Doc: "Spacing of scheduled batches, to spread Graph load over time."},
	{Name: "REVALIDATION_ALERT_AFTER", Default: "3", Doc: "Consecutive transient check failures before an ops alert."},
	{Name: "CREDENTIAL_CACHE_SIZE", Default: "1024", Doc: "Per-tenant credentials kept (LRU)."},
	{Name: "RETRY_BACKOFF_BASE", Default: "10s", Doc: "First delay before a queue message that failed transiently (store, Graph, a lease) is delivered again; doubles per attempt, with jitter."},
	{Name: "RETRY_BACKOFF_MAX", Default: "15m", Doc: "Longest delay between two attempts of a transiently failing queue message."},
	{Name: "RETRY_BACKOFF_MAX_TOTAL", Default: "24h", Doc: "How long a transiently failing queue message is retried before it is recorded as rejected, operations are alerted and it is dead-lettered."},
}

// Load reads and validates the configuration. The error lists every bad or
// missing setting.
func Load(lookup func(string) (string, bool)) (*Config, error) {
	l := loader{lookup: lookup}
	c := &Config{}
	c.Port = l.int("FUNCTIONS_CUSTOMHANDLER_PORT", 1, 65535)
	if v, _ := lookup("FUNCTIONS_CUSTOMHANDLER_PORT"); strings.TrimSpace(v) == "" {
		// Older hosts only set the legacy name.
		if legacy, _ := lookup("FUNCTIONS_HTTPWORKER_PORT"); strings.TrimSpace(legacy) != "" {
			if n, err := strconv.Atoi(strings.TrimSpace(legacy)); err == nil && n > 0 && n < 65536 {
				c.Port = n
			}
		}
	}
	c.LogLevel = l.level("LOG_LEVEL")
	c.HTTPMaxInFlight = l.int("HTTP_MAX_IN_FLIGHT", 1, 10_000)
	c.PublicBaseURL = l.url("PUBLIC_BASE_URL")
	c.Regions, c.RegionOrder = l.regions("REGIONS")
	c.OperatorTenantID = l.guid("OPERATOR_TENANT_ID")
	c.MailSender = l.email("MAIL_SENDER")
	c.MailAppID = l.guid("MAIL_APP_ID")
	c.OperationsEmails = l.emails("OPERATIONS_EMAIL")
	c.SupportEmail = l.email("SUPPORT_EMAIL")

	c.TablesConnectionString = l.str("TableStorage__connectionString")
	c.TablesServiceURL = l.str("TableStorage__tableServiceUri")
	switch {
	case c.TablesConnectionString == "" && c.TablesServiceURL == "":
		l.fail("TableStorage__tableServiceUri", "set it (or TableStorage__connectionString for a local run)")
	case c.TablesConnectionString != "" && c.TablesServiceURL != "":
		l.fail("TableStorage__connectionString", "set only one of it and TableStorage__tableServiceUri")
	case c.TablesServiceURL != "":
		l.checkURL("TableStorage__tableServiceUri", c.TablesServiceURL, "https")
	}
	c.TablePrefix = l.str("TABLE_PREFIX")
	for _, r := range c.TablePrefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') || len(c.TablePrefix) > 20 {
			l.fail("TABLE_PREFIX", "must be at most 20 letters and digits")
			break
		}
	}

	c.ServiceBusNamespace = l.str("ServiceBusConnection__fullyQualifiedNamespace")
	c.LocalQueueURL = l.str("LOCAL_QUEUE_URL")
	switch {
	case c.ServiceBusNamespace == "" && c.LocalQueueURL == "":
		l.fail("ServiceBusConnection__fullyQualifiedNamespace", "set it (or LOCAL_QUEUE_URL for a local run)")
	case c.ServiceBusNamespace != "" && c.LocalQueueURL != "":
		l.fail("LOCAL_QUEUE_URL", "set only one of it and ServiceBusConnection__fullyQualifiedNamespace")
	case c.ServiceBusNamespace != "":
		if strings.Contains(c.ServiceBusNamespace, "://") || strings.Contains(c.ServiceBusNamespace, ";") {
			l.fail("ServiceBusConnection__fullyQualifiedNamespace", "must be a host name like <ns>.servicebus.windows.net, not a URL or connection string")
		}
	case c.LocalQueueURL != "":
		l.checkURL("LOCAL_QUEUE_URL", c.LocalQueueURL, "http")
	}
	c.ManagedIdentityClientID = l.optionalGUID("MANAGED_IDENTITY_CLIENT_ID")

	c.GraphCredential = l.str("GRAPH_CREDENTIAL")
	c.GraphClientSecret = l.str("GRAPH_CLIENT_SECRET")
	c.GraphCertificate = l.str("GRAPH_CLIENT_CERTIFICATE")
	switch c.GraphCredential {
	case CredentialFederated:
		// Entra accepts only a user-assigned managed identity as a federated
		// identity credential (Microsoft Learn: "Configure an application to
		// trust a managed identity"), so the system-assigned fallback cannot work.
		if raw, _ := l.get("MANAGED_IDENTITY_CLIENT_ID"); raw == "" {
			l.fail("MANAGED_IDENTITY_CLIENT_ID", "is required when GRAPH_CREDENTIAL="+CredentialFederated+
				": Entra accepts only a user-assigned managed identity as a federated identity credential, so set the client ID of the user-assigned identity the apps trust (or use GRAPH_CREDENTIAL=certificate, or secret for a local run)")
		}
	case CredentialCertificate:
		if c.GraphCertificate == "" {
			l.fail("GRAPH_CLIENT_CERTIFICATE", "is required when GRAPH_CREDENTIAL=certificate")
		}
	case CredentialSecret:
		if c.GraphClientSecret == "" {
			l.fail("GRAPH_CLIENT_SECRET", "is required when GRAPH_CREDENTIAL=secret")
		}
	default:
		l.fail("GRAPH_CREDENTIAL", fmt.Sprintf("must be %s, %s or %s", CredentialFederated, CredentialCertificate, CredentialSecret))
	}
	c.AuthorityHost = l.hostURL("AUTHORITY_HOST", "https")
	c.ConsentAuthorityURL = l.str("CONSENT_AUTHORITY_HOST")
	if c.ConsentAuthorityURL == "" {
		c.ConsentAuthorityURL = c.AuthorityHost
	} else {
		c.ConsentAuthorityURL = l.hostURL("CONSENT_AUTHORITY_HOST", "")
	}
	c.GraphBaseURL = strings.TrimRight(l.str("GRAPH_BASE_URL"), "/")
	l.checkURL("GRAPH_BASE_URL", c.GraphBaseURL, "")
	c.AuthorityCAFile = l.str("AUTHORITY_CA_FILE")
	if c.AuthorityCAFile != "" {
		if inAzure, marker := azureenv.Detect(lookup); inAzure {
			l.fail("AUTHORITY_CA_FILE", "is for the local sandbox only and must not be set in Azure (found "+marker+")")
		} else if _, err := os.Stat(c.AuthorityCAFile); err != nil {
			l.fail("AUTHORITY_CA_FILE", "cannot be read: "+err.Error())
		}
	}

	c.AdminAPIAudience = l.str("ADMIN_API_AUDIENCE")
	if c.AdminAPIAudience == "" {
		l.fail("ADMIN_API_AUDIENCE", "is required")
	}
	c.AdminAPIClientID = l.guid("ADMIN_API_CLIENT_ID")
	c.ConsoleClientID = l.optionalGUID("CONSOLE_CLIENT_ID")

	c.ConsentLinkTTL = l.duration("CONSENT_LINK_TTL", time.Hour, 90*24*time.Hour)
	c.ConsentReminderDelay = l.duration("CONSENT_REMINDER_DELAY", time.Minute, 60*24*time.Hour)
	c.ConsentVerifyTimeout = l.duration("CONSENT_VERIFY_TIMEOUT", 0, 2*time.Minute)
	c.ConsentRecheckDelay = l.duration("CONSENT_RECHECK_DELAY", time.Second, time.Hour)
	c.ConsentRechecks = l.int("CONSENT_RECHECK_ATTEMPTS", 1, 12)
	c.LiveReminderAfter = l.duration("LIVE_REMINDER_AFTER", time.Minute, 90*24*time.Hour)
	c.AllowPrivateAdminIPs = l.bool("ALLOW_PRIVATE_ADMIN_IPS")
	c.TrustedProxyHops = l.int("TRUSTED_PROXY_HOPS", 1, 5)

	c.RevalidationSchedule = l.str("REVALIDATION_SCHEDULE")
	if n := len(strings.Fields(c.RevalidationSchedule)); n != 6 {
		l.fail("REVALIDATION_SCHEDULE", fmt.Sprintf("must be a six-field NCRONTAB expression {second} {minute} {hour} {day} {month} {day-of-week}, got %d fields", n))
	}
	c.RevalidationBatchSize = l.int("REVALIDATION_BATCH_SIZE", 1, domain.MaxRevalidationBatch)
	c.RevalidationConcurrency = l.int("REVALIDATION_CONCURRENCY", 1, 256)
	c.RevalidationBatchInterval = l.duration("REVALIDATION_BATCH_INTERVAL", 0, time.Hour)
	c.RevalidationAlertAfter = l.int("REVALIDATION_ALERT_AFTER", 1, 100)
	c.CredentialCacheSize = l.int("CREDENTIAL_CACHE_SIZE", 16, 1_000_000)

	c.RetryBackoffBase = l.duration("RETRY_BACKOFF_BASE", time.Millisecond, time.Hour)
	c.RetryBackoffMax = l.duration("RETRY_BACKOFF_MAX", time.Millisecond, 24*time.Hour)
	c.RetryBackoffMaxTotal = l.duration("RETRY_BACKOFF_MAX_TOTAL", time.Millisecond, 14*24*time.Hour)
	if c.RetryBackoffMax < c.RetryBackoffBase {
		l.fail("RETRY_BACKOFF_MAX", fmt.Sprintf("must not be shorter than RETRY_BACKOFF_BASE (%s)", c.RetryBackoffBase))
	}

	if err := l.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// Problems is the error Load returns: one line per bad or missing setting.
type Problems []string

func (p Problems) Error() string {
	return fmt.Sprintf("invalid configuration (%d problem(s)): %s", len(p), strings.Join(p, "; "))
}

type loader struct {
	lookup   func(string) (string, bool)
	problems Problems
}

func (l *loader) err() error {
	if len(l.problems) == 0 {
		return nil
	}
	return l.problems
}

func (l *loader) fail(name, msg string) {
	l.problems = append(l.problems, name+" "+msg)
}

func defaultOf(name string) string {
	for _, s := range Settings {
		if s.Name == name {
			return s.Default
		}
	}
	panic("config: setting " + name + " is not declared in Settings")
}

func requiredSetting(name string) bool {
	for _, s := range Settings {
		if s.Name == name {
			return s.Required
		}
	}
	return false
}

// get returns the trimmed value, or the declared default when unset/blank.
func (l *loader) get(name string) (string, bool) {
	v, ok := l.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		d := defaultOf(name)
		return d, d != ""
	}
	return v, true
}

func (l *loader) str(name string) string {
	v, ok := l.get(name)
	if !ok && requiredSetting(name) {
		l.fail(name, "is required")
	}
	return v
}

func (l *loader) int(name string, min, max int) int {
	v := l.str(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		l.fail(name, fmt.Sprintf("must be a whole number from %d to %d, got %q", min, max, v))
	}
	return n
}

func (l *loader) bool(name string) bool {
	v := l.str(name)
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, fmt.Sprintf("must be true or false, got %q", v))
	}
	return b
}

func (l *loader) duration(name string, min, max time.Duration) time.Duration {
	v := l.str(name)
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		l.fail(name, fmt.Sprintf("must be a duration like 72h or 30s between %s and %s, got %q", min, max, v))
	}
	return d
}

func (l *loader) level(name string) slog.Level {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.str(name))); err != nil {
		l.fail(name, "must be debug, info, warn or error")
	}
	return lvl
}

func (l *loader) url(name string) *url.URL {
	v := l.str(name)
	if v == "" {
		return nil
	}
	u, err := url.Parse(strings.TrimRight(v, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		l.fail(name, fmt.Sprintf("must be an absolute http(s) URL without query, got %q", v))
		return nil
	}
	return u
}

func (l *loader) checkURL(name, v, scheme string) {
	u, err := url.Parse(v)
	ok := err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http")
	if ok && scheme != "" && u.Scheme != scheme {
		ok = false
	}
	if !ok {
		want := "an absolute http(s) URL"
		if scheme != "" {
			want = "an absolute " + scheme + " URL"
		}
		l.fail(name, fmt.Sprintf("must be %s, got %q", want, v))
	}
}

// hostURL reads an authority host and normalises it to end in "/".
func (l *loader) hostURL(name, scheme string) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	l.checkURL(name, v, scheme)
	return strings.TrimRight(v, "/") + "/"
}

func (l *loader) guid(name string) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	id, err := domain.NormalizeTenantID(name, v)
	if err != nil {
		l.fail(name, "must be a GUID (not all zeros)")
	}
	return id
}

func (l *loader) optionalGUID(name string) string {
	v, _ := l.get(name)
	if v == "" {
		return ""
	}
	return l.guid(name)
}

func (l *loader) email(name string) string {
	v := l.str(name)
	if v == "" {
		return ""
	}
	e, err := domain.NormalizeEmail(name, v)
	if err != nil {
		l.fail(name, "must be an email address")
	}
	return e
}

func (l *loader) emails(name string) []string {
	v := l.str(name)
	if v == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		l.fail(name, "must be a comma-separated list of email addresses")
		return nil
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}

func (l *loader) regions(name string) (domain.Regions, []string) {
	v := l.str(name)
	if v == "" {
		return nil, nil
	}
	var list []domain.Region
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		l.fail(name, "must be a JSON array of regions: "+err.Error())
		return nil, nil
	}
	if len(list) == 0 {
		l.fail(name, "must define at least one region")
		return nil, nil
	}
	rs := domain.Regions{}
	var order []string
	for i, r := range list {
		for _, e := range r.Validate(fmt.Sprintf("%s[%d]", name, i)) {
			l.problems = append(l.problems, e.Field+" "+e.Message)
		}
		if _, dup := rs[r.Code]; dup {
			l.fail(fmt.Sprintf("%s[%d].code", name, i), fmt.Sprintf("%q is defined twice", r.Code))
		}
		rs[r.Code] = r
		order = append(order, r.Code)
	}
	return rs, order
}
