// Package revalidation re-checks every consented tenant's consent on a
// schedule: the timer lists tenants (streaming) and fans out batches; each
// batch checks its tenants with bounded concurrency. Only transitions are
// written and alerted; transient failures never change a status and alert
// operations only after several consecutive runs. What a check result means
// for a tenant is the domain's rule (domain.Tenant.Verdict, ApplyCheck).
//
// One file per job: fanout.go (the timer: runs, batches), batch.go (one
// batch), check.go (one tenant: check, apply, notify the transition),
// alerts.go (operations alerts, failure streaks), sweep.go (consent and
// live emails nobody else will complete).
package revalidation

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Service runs revalidation.
type Service struct {
	Store     domain.TenantStore
	Checker   domain.ConsentChecker
	Outbox    Outbox
	OpsEmails []string
	// Rejections records a batch message that can never be handled.
	Rejections domain.RejectionRecorder
	// BatchSize tenants per message; Concurrency checks at once per batch;
	// BatchInterval spaces scheduled batches to spread Graph load.
	BatchSize     int
	Concurrency   int
	BatchInterval time.Duration
	// AlertAfter consecutive transient failures (in distinct runs) alert ops.
	AlertAfter int
	// ReminderDelay is provisioning's consent-reminder delay, and
	// SweepGrace how long provisioning gets to send consent emails itself
	// before the sweep (sweep.go) completes them (default 1 h).
	ReminderDelay time.Duration
	SweepGrace    time.Duration
	// LiveReminderAfter: a consented tenant not live after this long gets
	// one reminder (sweep.go); zero sends none.
	LiveReminderAfter time.Duration
	// CheckTimeout bounds one tenant's check attempt.
	CheckTimeout time.Duration
	// Attempts per tenant and run for transient failures (default 3); the
	// wait between attempts (the server's Retry-After, else a short
	// back-off) is spent outside the Graph slots.
	Attempts int
	// Rechecks spaces the re-checks of a pending consent verification
	// (zero: domain.DefaultRecheckSchedule).
	Rechecks domain.RecheckSchedule
	Now      func() time.Time
	Logger   *slog.Logger

	slotsOnce sync.Once
	slots     chan struct{}

	rolesUnknownRuns onceSet // runs already warned about unreadable tokens
}

// Outbox is where the service hands email jobs and batches: domain.Outbox,
// plus the sweep's re-queue of a job under a message ID of its own.
type Outbox interface {
	domain.Outbox
	domain.EmailRequeuer
}

// audit records e through the one audit writer.
func (s *Service) audit(ctx context.Context, e domain.AuditEvent) {
	domain.AuditLog{Store: s.Store, Logger: s.Logger, Now: s.Now}.Record(ctx, e)
}
