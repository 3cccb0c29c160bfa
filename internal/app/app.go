// Package app wires configuration into the running handler: store, queue
// publisher, Graph clients, renderers, services and the HTTP server. main
// and the end-to-end tests build the service the same way.
package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/onemeeting/cvi-onboarding/handlers"
	"github.com/onemeeting/cvi-onboarding/internal/adminapi"
	"github.com/onemeeting/cvi-onboarding/internal/auth"
	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/consent"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/email"
	"github.com/onemeeting/cvi-onboarding/internal/events"
	"github.com/onemeeting/cvi-onboarding/internal/graph"
	"github.com/onemeeting/cvi-onboarding/internal/notify"
	"github.com/onemeeting/cvi-onboarding/internal/operations"
	"github.com/onemeeting/cvi-onboarding/internal/provisioning"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/rejections"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
	"github.com/onemeeting/cvi-onboarding/internal/status"
	"github.com/onemeeting/cvi-onboarding/internal/tablestore"
	"github.com/onemeeting/cvi-onboarding/internal/tenants"
	"github.com/onemeeting/cvi-onboarding/internal/web"
)

// Branding shown on pages and in emails.
const (
	ServiceName   = "OneMeeting CVI"
	ProviderName  = "OneMeeting"
	TrustedDomain = "videosrv.net"
)

// Options are what the environment cannot say.
type Options struct {
	Logger  *slog.Logger
	Version string
	Now     func() time.Time
	// Publisher replaces the configured one (tests).
	Publisher queue.Publisher
	// WrapLiveStore wraps the store live tracking writes through (tests
	// count its writes).
	WrapLiveStore func(domain.TenantStore) domain.TenantStore
}

// App is the wired service.
type App struct {
	Server    *handlers.Server
	Store     *tablestore.Store
	Publisher queue.Publisher
	// Events is the lifecycle-event relay; nil when the publisher has no topics.
	Events *events.Relay
	logger *slog.Logger
}

// New builds the service from cfg. Nothing here needs the network except
// creating missing tables, which is retried in the background if storage is
// not reachable yet (health reports it meanwhile).
func New(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	identityClient, err := identityHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	var azureCred azcore.TokenCredential
	if cfg.TablesServiceURL != "" || cfg.ServiceBusNamespace != "" {
		azureCred, err = managedIdentity(cfg)
		if err != nil {
			return nil, err
		}
	}

	storeOpts := tablestore.Options{TablePrefix: cfg.TablePrefix, Logger: logger, Now: now}
	var store *tablestore.Store
	if cfg.TablesConnectionString != "" {
		store, err = tablestore.NewFromConnectionString(cfg.TablesConnectionString, storeOpts)
	} else {
		store, err = tablestore.NewFromServiceURL(cfg.TablesServiceURL, azureCred, storeOpts)
	}
	if err != nil {
		return nil, fmt.Errorf("table store: %w", err)
	}
	go ensureTables(ctx, store, logger)

	pub := o.Publisher
	if pub == nil {
		if cfg.LocalQueueURL != "" {
			pub = queue.NewLocal(cfg.LocalQueueURL, nil)
		} else if pub, err = queue.NewServiceBus(cfg.ServiceBusNamespace, azureCred, nil, logger); err != nil {
			return nil, err
		}
	}

	outbox := queue.Outbox{Publisher: pub}
	// One recorder for every flow's messages that can never succeed.
	rejected := &rejections.Recorder{Store: store, Outbox: outbox, OpsEmails: cfg.OperationsEmails, Logger: logger}

	// Lifecycle events: the store commits them with each change and tells
	// the relay, which publishes to the topic (a test publisher without
	// topics leaves them in the outbox).
	var relay *events.Relay
	if tp, ok := pub.(queue.TopicPublisher); ok {
		relay = &events.Relay{Outbox: store, Publisher: queue.EventTopic{Publisher: tp}, Logger: logger}
		store.SetEventSink(relay)
	}

	credOpts := graph.CredentialOptions{
		Mode: cfg.GraphCredential, AuthorityHost: cfg.AuthorityHost, ClientSecret: cfg.GraphClientSecret,
		ManagedIdentityClientID: cfg.ManagedIdentityClientID, HTTPClient: identityClient, CacheSize: cfg.CredentialCacheSize,
	}
	if cfg.GraphCertificate != "" {
		if credOpts.Certificate, err = decodeCertificate(cfg.GraphCertificate); err != nil {
			return nil, err
		}
	}
	creds, err := graph.NewCredentials(credOpts)
	if err != nil {
		return nil, fmt.Errorf("graph credentials: %w", err)
	}
	checker, err := graph.NewChecker(creds, cfg.GraphBaseURL, domain.RequiredGraphRoles, logger)
	if err != nil {
		return nil, fmt.Errorf("graph consent checker: %w", err)
	}
	// Re-validation retries throttled checks itself, outside its Graph
	// slots, so its client must not sleep on Retry-After while holding one.
	batchCredOpts := credOpts
	batchCredOpts.MaxRetries = -1
	batchCreds, err := graph.NewCredentials(batchCredOpts)
	if err != nil {
		return nil, fmt.Errorf("graph credentials for re-validation: %w", err)
	}
	batchChecker, err := graph.NewChecker(batchCreds, cfg.GraphBaseURL, domain.RequiredGraphRoles, logger)
	if err != nil {
		return nil, fmt.Errorf("graph consent checker for re-validation: %w", err)
	}
	mailer, err := graph.NewMailer(creds, cfg.OperatorTenantID, cfg.MailAppID, cfg.GraphBaseURL, logger)
	if err != nil {
		return nil, fmt.Errorf("graph mailer: %w", err)
	}

	pages, err := web.NewRenderer(web.Branding{ServiceName: ServiceName, ProviderName: ProviderName, SupportEmail: cfg.SupportEmail}, web.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("page templates: %w", err)
	}
	mails, err := email.NewRenderer(email.Branding{ServiceName: ServiceName, ProviderName: ProviderName, SupportEmail: cfg.SupportEmail, TrustedDomain: TrustedDomain})
	if err != nil {
		return nil, fmt.Errorf("email templates: %w", err)
	}

	rechecks := domain.RecheckSchedule{First: cfg.ConsentRecheckDelay, Attempts: cfg.ConsentRechecks}
	consentSvc := &consent.Service{
		Store: store, Checker: checkerAdapter{checker}, Outbox: queue.Outbox{Publisher: pub}, Regions: cfg.Regions,
		PublicBaseURL: cfg.PublicBaseURL, ConsentAuthorityURL: cfg.ConsentAuthorityURL,
		LinkTTL: cfg.ConsentLinkTTL, VerifyTimeout: cfg.ConsentVerifyTimeout, Rechecks: rechecks,
		Now: now, Logger: logger,
	}
	ipPolicy := domain.IPPolicy{AllowPrivate: cfg.AllowPrivateAdminIPs}
	provisioningSvc := &provisioning.Service{
		Store: store, Outbox: outbox, Regions: cfg.Regions, IPPolicy: ipPolicy,
		ReminderDelay: cfg.ConsentReminderDelay, Rejections: rejected, Now: now, Logger: logger,
	}
	revalidationSvc := &revalidation.Service{
		Store: store, Checker: checkerAdapter{batchChecker}, Outbox: queue.Outbox{Publisher: pub}, OpsEmails: cfg.OperationsEmails, Rejections: rejected,
		BatchSize: cfg.RevalidationBatchSize, Concurrency: cfg.RevalidationConcurrency, BatchInterval: cfg.RevalidationBatchInterval,
		AlertAfter: cfg.RevalidationAlertAfter, CheckTimeout: 2 * time.Minute, ReminderDelay: cfg.ConsentReminderDelay, Rechecks: rechecks, Now: now, Logger: logger,
		LiveReminderAfter: cfg.LiveReminderAfter,
	}
	statusSvc := &status.Service{Store: store, Outbox: outbox, PublicBaseURL: cfg.PublicBaseURL, Now: now, Logger: logger}
	// One worker per process writes live sightings off the request path.
	var liveStore domain.TenantStore = store
	if o.WrapLiveStore != nil {
		liveStore = o.WrapLiveStore(store)
	}
	live := &status.Live{Store: liveStore, Outbox: outbox, Now: now, Logger: logger}
	go live.Run(ctx)
	// v2.0 tokens only: aud is the client ID, iss the operator tenant's v2.0 issuer.
	validator, err := auth.NewValidator(auth.Config{
		Issuer:     cfg.AuthorityHost + cfg.OperatorTenantID + "/v2.0",
		ClientID:   cfg.AdminAPIClientID,
		AppIDURI:   cfg.AdminAPIAudience,
		JWKSURL:    cfg.AuthorityHost + cfg.OperatorTenantID + "/discovery/v2.0/keys",
		HTTPClient: identityClient,
		Logger:     logger,
	})
	if err != nil {
		return nil, fmt.Errorf("admin API token validation: %w", err)
	}
	tenantsSvc := &tenants.Service{
		Store: store, Outbox: queue.Outbox{Publisher: pub}, Consent: consentSvc, Status: statusSvc, Revalidation: revalidationSvc,
		Audit: domain.AuditLog{Store: store, Logger: logger, Now: now}, Now: now, Logger: logger,
	}
	admin, err := adminapi.New(adminapi.Deps{
		Auth: validator, Provisioning: provisioningSvc, Revalidation: revalidationSvc, Tenants: tenantsSvc,
		IPPolicy: ipPolicy, Regions: cfg.Regions, Now: now, Logger: logger,
		LiveReminderAfter: cfg.LiveReminderAfter,
		Operations: &operations.Service{
			Store: store, DeadLetters: deadLetters(pub), Regions: cfg.Regions, ReminderDelay: cfg.ConsentReminderDelay,
			AlertAfter: cfg.RevalidationAlertAfter, Now: now, Logger: logger,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	srv := handlers.New(handlers.Deps{
		Config: cfg, Store: store, Logger: logger, Now: now, Version: o.Version, Pages: pages, Admin: admin,
		Publisher: pub, Retry: queue.Backoff{Base: cfg.RetryBackoffBase, Max: cfg.RetryBackoffMax, MaxTotal: cfg.RetryBackoffMaxTotal},
		Provisioning: provisioningSvc,
		Events:       relay,
		Consent:      consentSvc,
		Revalidation: revalidationSvc,
		Status:       statusSvc,
		Live:         live,
		Notify: &notify.Service{
			Store: store, Sender: mailerAdapter{mailer: mailer, from: cfg.MailSender}, Renderer: mails, Links: consentSvc, Status: statusSvc, Outbox: outbox,
			Rejections: rejected, Regions: cfg.Regions, OpsEmails: cfg.OperationsEmails, Lease: 30 * time.Second, Now: now, Logger: logger,
		},
	})
	return &App{Server: srv, Store: store, Publisher: pub, Events: relay, logger: logger}, nil
}

// deadLetters is the publisher's dead-letter access, nil when it has none
// (a test publisher).
func deadLetters(pub queue.Publisher) domain.DeadLetters {
	if dl, ok := pub.(domain.DeadLetters); ok {
		return dl
	}
	return nil
}

// Close releases the publisher.
func (a *App) Close(ctx context.Context) error {
	return a.Publisher.Close(ctx)
}

// ensureTables creates missing tables, retrying while storage is unreachable.
func ensureTables(ctx context.Context, store *tablestore.Store, logger *slog.Logger) {
	delay := time.Second
	for {
		err := store.EnsureTables(ctx)
		if err == nil {
			logger.Info("tables ready")
			return
		}
		logger.Warn("creating tables failed; retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// identityHTTPClient trusts the sandbox CA when AUTHORITY_CA_FILE is set.
func identityHTTPClient(cfg *config.Config) (*http.Client, error) {
	if cfg.AuthorityCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.AuthorityCAFile)
	if err != nil {
		return nil, fmt.Errorf("read AUTHORITY_CA_FILE: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("AUTHORITY_CA_FILE holds no PEM certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 64
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}

func managedIdentity(cfg *config.Config) (azcore.TokenCredential, error) {
	opts := &azidentity.ManagedIdentityCredentialOptions{}
	if cfg.ManagedIdentityClientID != "" {
		opts.ID = azidentity.ClientID(cfg.ManagedIdentityClientID)
	}
	cred, err := azidentity.NewManagedIdentityCredential(opts)
	if err != nil {
		return nil, fmt.Errorf("managed identity credential: %w", err)
	}
	return cred, nil
}

// decodeCertificate accepts PEM as is, or base64 (a Key Vault certificate
// secret is a base64 PFX).
func decodeCertificate(s string) ([]byte, error) {
	if len(s) > 10 && s[:10] == "-----BEGIN" {
		return []byte(s), nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("GRAPH_CLIENT_CERTIFICATE is neither PEM nor base64: %w", err)
	}
	return b, nil
}

// checkerAdapter presents the Graph checker as the domain interface.
type checkerAdapter struct{ c *graph.Checker }

func (a checkerAdapter) CheckConsent(ctx context.Context, tenantID, appID string, o domain.CheckOptions) (domain.ConsentCheck, error) {
	r, err := a.c.Check(ctx, tenantID, appID, graph.CheckOptions{LowPriority: o.LowPriority, Fresh: o.Fresh})
	if err != nil {
		return domain.ConsentCheck{}, err
	}
	return domain.ConsentCheck{Outcome: domain.CheckOutcome(r.Outcome), Roles: r.Roles, MissingRoles: r.MissingRoles,
		SPEnabled: r.SPEnabled, Detail: r.Detail, AADSTS: r.AADSTS, RolesUnknown: r.RolesUnknown}, nil
}

// mailerAdapter sends domain mail from the configured mailbox.
type mailerAdapter struct {
	mailer *graph.Mailer
	from   string
}

func (a mailerAdapter) SendMail(ctx context.Context, m domain.OutgoingMail) error {
	gm := graph.Mail{From: a.from, To: m.To, Cc: m.Cc, Subject: m.Subject, HTML: m.HTML, Text: m.Text, Kind: string(m.Kind)}
	for _, att := range m.Attachments {
		gm.Attachments = append(gm.Attachments, graph.Attachment{Name: att.Name, ContentType: att.ContentType, Content: att.Content})
	}
	return a.mailer.Send(ctx, gm)
}
