package status

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

// Live records that a tenant's meeting invites carry its InstructionUri:
// Teams only puts it there once the CVI policy is in effect, so a join-page
// request with a real Video ID proves the tenant is live.
//
// Seen never blocks and never touches the store: an in-process throttle lets
// at most one write per tenant per Interval through to a bounded queue, which
// one background worker drains. The throttle is per instance, so with N
// instances a tenant gets at most N writes per Interval; the write itself
// is ETag-checked and skips a record another instance refreshed already.
type Live struct {
	Store  domain.TenantStore
	Outbox domain.Outbox
	// Interval between lastInviteSeen writes per tenant (default 1 h).
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger

	mu    sync.Mutex
	last  map[string]time.Time // tenant → when a write was last let through
	queue chan sighting
	once  sync.Once
}

type sighting struct {
	tenantID string
	at       time.Time
}

// liveQueueSize bounds the pending writes; a full queue drops the sighting
// (the next request after the throttle window tries again).
const liveQueueSize = 256

func (l *Live) interval() time.Duration {
	if l.Interval > 0 {
		return l.Interval
	}
	return time.Hour
}

func (l *Live) init() {
	l.once.Do(func() {
		l.last = make(map[string]time.Time)
		l.queue = make(chan sighting, liveQueueSize)
	})
}

// Seen notes a join-page request with a real Video ID for t (as read for
// the page). It returns at once.
func (l *Live) Seen(t *domain.Tenant) {
	l.init()
	now := l.Now().UTC()
	iv := l.interval()
	// Already recorded recently: nothing to do, not even the lock.
	if !t.LiveSince.IsZero() && now.Sub(t.LastInviteSeen) < iv {
		return
	}
	l.mu.Lock()
	if last, ok := l.last[t.TenantID]; ok && now.Sub(last) < iv {
		l.mu.Unlock()
		return
	}
	l.last[t.TenantID] = now
	l.mu.Unlock()
	select {
	case l.queue <- sighting{tenantID: t.TenantID, at: now}:
	default:
		l.mu.Lock()
		delete(l.last, t.TenantID)
		l.mu.Unlock()
		l.Logger.Warn("live tracking queue full; sighting dropped", "tenantId", t.TenantID)
	}
}

// Run writes queued sightings until ctx ends.
func (l *Live) Run(ctx context.Context) {
	l.init()
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-l.queue:
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := l.record(wctx, s); err != nil {
				l.Logger.Error("recording a meeting invite sighting failed", "tenantId", s.tenantID, "err", err)
				l.mu.Lock()
				delete(l.last, s.tenantID) // let the next request try again
				l.mu.Unlock()
			}
			cancel()
		}
	}
}

// record writes lastInviteSeen (and liveSince the first time); the first one
// is audited and emails the admins "you're live" once (idempotency key).
func (l *Live) record(ctx context.Context, s sighting) error {
	first := false
	t, err := domain.UpdateTenant(ctx, l.Store, s.tenantID, func(t *domain.Tenant) (bool, error) {
		first = false
		if t.Status == domain.StatusOffboarded {
			return false, nil
		}
		if !t.LiveSince.IsZero() && s.at.Sub(t.LastInviteSeen) < l.interval() {
			return false, nil // another instance wrote it
		}
		if t.LiveSince.IsZero() {
			first = true
			t.LiveSince = s.at
			// In the same write: the event is published iff liveSince committed.
			t.Emit(domain.EventLive, map[string]string{"liveSince": s.at.UTC().Format(time.RFC3339)})
		}
		t.LastInviteSeen = s.at
		return true, nil
	})
	if err != nil {
		return err
	}
	if !first {
		return nil
	}
	l.Logger.Info("tenant is live", "tenantId", t.TenantID, "liveSince", t.LiveSince)
	e := domain.AuditEvent{ID: "live-" + t.TenantID, TenantID: t.TenantID, At: t.LiveSince, Action: "tenant.live", Actor: "system:join-page",
		Details: map[string]string{"liveSince": t.LiveSince.Format(time.RFC3339)}}
	domain.AuditLog{Store: l.Store, Logger: l.Logger, Now: l.Now}.Record(ctx, e)
	var to []string
	for _, c := range t.AdminContacts() {
		to = append(to, c.Email)
	}
	if len(to) == 0 {
		return nil
	}
	// The same job as the re-validation sweep's catch-up, which re-queues
	// it if we die right here.
	return l.Outbox.SendEmail(ctx, domain.LiveJob(t.TenantID, to), time.Time{})
}
