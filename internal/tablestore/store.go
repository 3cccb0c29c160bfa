// Package tablestore implements domain.TenantStore on Azure Table Storage
// (aztables). It runs the same against Azure and Azurite; where Azurite is
// looser than Azure (entity size, property count, batch size and partition)
// this package enforces Azure's rules itself.
//
// Layout (every table name carries Options.TablePrefix):
//
//	tenants          PK tenant ID            RK "profile"
//	tenantkeys       PK key code             RK ""
//	allowedips       PK "ip4-<hex /16>" or "ip6-<hex /32>"   RK <tenant ID>,<prefix with / as !>
//	                 PK "tenant-<tenant ID>" RK "manifest"  (every prefix that may be indexed)
//	invites          PK token hash           RK ""
//	consentstates    PK state hash           RK ""
//	statuslinks      PK token hash           RK ""
//	audit            PK tenant ID            RK <inverted ns>_<escaped event id>
//	sentmail         PK escapeKey(idempotency key)  RK ""
//	provisioning     PK request ID           RK ""
//	                 PK tenant ID            RK "event-<seq, 10 digits>" (lifecycle event outbox, outbox.go)
//	rejections       PK "rejections"         RK <inverted ns>_<escaped id>
//	                                         RK "~evt:<ns, 19 digits>_<escaped id>" (provisioning-rejected outbox)
//	revalidationruns PK "runs"               RK "r:<inverted ns>:<escaped run id>" (the record)
//	                                         RK "id:<escaped run id>"  (points at the record's RK)
//
// Inverted ns is MaxInt64 minus Unix nanoseconds, 19 digits, so newest sorts
// first. escapeKey is percent-style escaping (see keys.go).
package tablestore

import (
	"context"
	"fmt"
	"github.com/onemeeting/cvi-onboarding/internal/azureenv"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

var _ domain.TenantStore = (*Store)(nil)

// Options configures a Store.
type Options struct {
	// TablePrefix is prepended to every table name (letters and digits,
	// starting with a letter); tests isolate themselves with a random one.
	TablePrefix string
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock for timestamps the store fills in; nil is time.Now.
	Now func() time.Time
	// Retry overrides the SDK retry policy; nil uses defaults suited to a
	// request path (2 retries, 200 ms to 2 s back-off, 10 s per try).
	Retry *policy.RetryOptions
}

// Store is a domain.TenantStore on Azure Table Storage. It is safe for
// concurrent use.
type Store struct {
	svc *aztables.ServiceClient
	log *slog.Logger
	now func() time.Time

	tenants, tenantKeys, allowedIPs, invites, consentStates *table
	audit, sentMail, provisioning, rejections, runs         *table
	statusLinks                                             *table

	// tenantScanLimit bounds the tenants one ListTenants call looks at when
	// filtering by text (maxTenantScan; lowered in tests).
	tenantScanLimit int

	// sink hears of newly committed lifecycle events (outbox.go).
	sink  *sinkRef
	index *tenantIndex // tenant search (search.go)
}

// table is one table client with its unprefixed name for messages.
type table struct {
	name   string // unprefixed, as in the layout above
	full   string // with prefix
	client *aztables.Client
}

var prefixPattern = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]{0,46})?$`)

// NewFromConnectionString connects with a storage connection string (local
// runs and Azurite need the explicit AccountName/AccountKey/TableEndpoint
// form; aztables cannot parse UseDevelopmentStorage=true).
func NewFromConnectionString(conn string, opts Options) (*Store, error) {
	conn = expandDevelopmentStorage(conn)
	svc, err := aztables.NewServiceClientFromConnectionString(conn, clientOptions(opts))
	if err != nil {
		return nil, domain.Wrap(domain.CodeInvalid, err, "table storage connection string")
	}
	return newStore(svc, opts)
}

// expandDevelopmentStorage turns the emulator shorthand, which aztables
// cannot parse, into Azurite's explicit form on its default table port, so
// settings files never need to carry the (well-known) emulator key.
func expandDevelopmentStorage(conn string) string {
	if !strings.EqualFold(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(conn), ";")), "UseDevelopmentStorage=true") {
		return conn
	}
	return "DefaultEndpointsProtocol=http;AccountName=" + azureenv.EmulatorAccountName + ";AccountKey=" + azureenv.EmulatorAccountKey +
		";TableEndpoint=http://127.0.0.1:10002/" + azureenv.EmulatorAccountName + ";"
}

// NewFromServiceURL connects to https://<account>.table.core.windows.net
// with an Entra ID credential (managed identity in Azure).
func NewFromServiceURL(serviceURL string, cred azcore.TokenCredential, opts Options) (*Store, error) {
	svc, err := aztables.NewServiceClient(serviceURL, cred, clientOptions(opts))
	if err != nil {
		return nil, domain.Wrap(domain.CodeInvalid, err, "table storage service URL %q", serviceURL)
	}
	return newStore(svc, opts)
}

func clientOptions(opts Options) *aztables.ClientOptions {
	retry := policy.RetryOptions{
		MaxRetries:    2,
		RetryDelay:    200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
		TryTimeout:    10 * time.Second,
	}
	if opts.Retry != nil {
		retry = *opts.Retry
	}
	return &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:     retry,
		Telemetry: policy.TelemetryOptions{ApplicationID: "cvi-onboarding"},
	}}
}

func newStore(svc *aztables.ServiceClient, opts Options) (*Store, error) {
	if !prefixPattern.MatchString(opts.TablePrefix) {
		return nil, domain.FieldError("TablePrefix", "must be letters and digits starting with a letter, at most 47 characters")
	}
	s := &Store{svc: svc, log: opts.Logger, now: opts.Now, tenantScanLimit: maxTenantScan, sink: &sinkRef{}, index: &tenantIndex{byID: map[string]*domain.Tenant{}}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	mk := func(name string) *table {
		full := opts.TablePrefix + name
		return &table{name: name, full: full, client: svc.NewClient(full)}
	}
	s.tenants = mk("tenants")
	s.tenantKeys = mk("tenantkeys")
	s.allowedIPs = mk("allowedips")
	s.invites = mk("invites")
	s.consentStates = mk("consentstates")
	s.audit = mk("audit")
	s.sentMail = mk("sentmail")
	s.provisioning = mk("provisioning")
	s.rejections = mk("rejections")
	s.runs = mk("revalidationruns")
	s.statusLinks = mk("statuslinks")
	return s, nil
}

func (s *Store) tables() []*table {
	return []*table{s.tenants, s.tenantKeys, s.allowedIPs, s.invites, s.consentStates,
		s.audit, s.sentMail, s.provisioning, s.rejections, s.runs, s.statusLinks}
}

// TableNames lists the full (prefixed) names of every table the store uses.
func (s *Store) TableNames() []string {
	var names []string
	for _, t := range s.tables() {
		names = append(names, t.full)
	}
	return names
}

// EnsureTables creates every table that is missing.
func (s *Store) EnsureTables(ctx context.Context) error {
	for _, t := range s.tables() {
		_, err := s.svc.CreateTable(ctx, t.full, nil)
		if err == nil {
			s.log.InfoContext(ctx, "created table", "table", t.full)
			continue
		}
		if err := classify(err, "create table %s", t.full); !isCode(err, domain.CodeConflict) {
			return err
		}
	}
	return nil
}

// Ping is a cheap point query on the tenants table: it proves the service
// answers, the credential works and the table exists.
func (s *Store) Ping(ctx context.Context) error {
	_, _, err := s.tenants.query(ctx, "PartitionKey eq "+quote("ping")+" and RowKey eq "+quote("ping"), 1, nil)
	if err != nil {
		return fmt.Errorf("table storage ping: %w", err)
	}
	return nil
}

// get reads one entity; 404 is CodeNotFound.
func (t *table) get(ctx context.Context, pk, rk string) (*row, error) {
	resp, err := t.client.GetEntity(ctx, pk, rk, nil)
	if err != nil {
		return nil, classify(err, "read %s %q", t.name, pk)
	}
	r := decodeRow(t.name, resp.Value, string(resp.ETag))
	return r, r.err
}

// add inserts; an existing entity is CodeConflict.
func (t *table) add(ctx context.Context, e *entity) (string, error) {
	body, err := e.marshal()
	if err != nil {
		return "", err
	}
	resp, err := t.client.AddEntity(ctx, body, nil)
	if err != nil {
		return "", classify(err, "insert into %s %q", t.name, e.pk)
	}
	return string(resp.ETag), nil
}

// replace overwrites the entity if etag is still its version; a stale etag
// is CodePreconditionFailed, a missing entity CodeNotFound.
func (t *table) replace(ctx context.Context, e *entity, etag string) (string, error) {
	if etag == "" {
		return "", domain.Errorf(domain.CodeInternal, "update %s %q without an ETag: read the record first", t.name, e.pk)
	}
	body, err := e.marshal()
	if err != nil {
		return "", err
	}
	tag := azcore.ETag(etag)
	resp, err := t.client.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{IfMatch: &tag, UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return "", classify(err, "update %s %q", t.name, e.pk)
	}
	return string(resp.ETag), nil
}

// remove deletes if etag matches ("" = any version).
func (t *table) remove(ctx context.Context, pk, rk, etag string) error {
	var opts *aztables.DeleteEntityOptions
	if etag != "" {
		tag := azcore.ETag(etag)
		opts = &aztables.DeleteEntityOptions{IfMatch: &tag}
	}
	if _, err := t.client.DeleteEntity(ctx, pk, rk, opts); err != nil {
		return classify(err, "delete from %s %q", t.name, pk)
	}
	return nil
}

// serviceToken is the service's own continuation (NextPartitionKey and
// NextRowKey); nil means start at the beginning.
type serviceToken struct{ pk, rk string }

// query fetches one page (at most top entities) of a filtered query. next is
// nil when the service has no more.
func (t *table) query(ctx context.Context, filter string, top int, from *serviceToken) ([]*row, *serviceToken, error) {
	top32 := int32(top)
	opts := &aztables.ListEntitiesOptions{Filter: &filter, Top: &top32}
	if from != nil {
		opts.NextPartitionKey, opts.NextRowKey = &from.pk, &from.rk
	}
	resp, err := t.client.NewListEntitiesPager(opts).NextPage(ctx)
	if err != nil {
		if from != nil && isBadRequest(err) {
			// Our filters are built and checked here, so a 400 on a resumed
			// query is the caller's continuation token.
			return nil, nil, domain.FieldError("continuation", "was not accepted by the table service; start the listing again")
		}
		return nil, nil, classify(err, "query %s", t.name)
	}
	rows := make([]*row, 0, len(resp.Entities))
	for _, b := range resp.Entities {
		r := decodeRow(t.name, b, "")
		if r.err != nil {
			return nil, nil, r.err
		}
		rows = append(rows, r)
	}
	var next *serviceToken
	if deref(resp.NextPartitionKey) != "" || deref(resp.NextRowKey) != "" {
		next = &serviceToken{pk: deref(resp.NextPartitionKey), rk: deref(resp.NextRowKey)}
	}
	return rows, next, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
