package revalidation

import (
	"errors"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/testkit/teststore"
)

// Transient failures leave the status alone and count once per run; the
// streak reaching AlertAfter alerts operations once, keyed by the streak.
func TestFailureStreakAlertsOnceAtAlertAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(string) (domain.ConsentCheck, error) {
		return domain.ConsentCheck{}, domain.Errorf(domain.CodeUnavailable, "Graph throttled")
	})
	tn := e.tenant(domain.StatusConsented, time.Time{})
	for run := 1; run <= 4; run++ {
		b := domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-" + strconv.Itoa(run), TenantIDs: []string{tn.TenantID}}
		e.handle(b)
		if run == 2 {
			e.handle(b) // redelivered: the run counts once
		}
	}
	got := teststore.Tenant(t, e.store, tn.TenantID)
	if got.Status != domain.StatusConsented || got.ConsecutiveCheckFailures != 4 || got.LastCheckError != "Graph throttled" {
		t.Fatalf("tenant = %s, %d failures, last error %q", got.Status, got.ConsecutiveCheckFailures, got.LastCheckError)
	}
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	wantKey := "ops-alert:check-failing:" + tn.TenantID + ":" + strconv.FormatInt(got.CheckFailingSince.Unix(), 10)
	if len(alerts) != 1 || alerts[0].IdempotencyKey != wantKey || alerts[0].Alert.Facts["since"] == "" {
		t.Fatalf("alerts = %+v, want one keyed %s", alerts, wantKey)
	}
}

// A failure on our side (not transient) alerts operations once per run and
// distinct error, and records nothing on the tenant.
func TestOurOwnCheckErrorAlertsPerRunAndError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(string) (domain.ConsentCheck, error) {
		return domain.ConsentCheck{}, errors.New("invalid client secret")
	})
	a, b := e.tenant(domain.StatusConsented, time.Time{}), e.tenant(domain.StatusConsented, time.Time{})
	e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-own", TenantIDs: []string{a.TenantID, b.TenantID}})
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	key := regexp.MustCompile(`^ops-alert:check-error:run-own:[0-9a-f]{8}$`)
	if len(alerts) != 2 || alerts[0].IdempotencyKey != alerts[1].IdempotencyKey || !key.MatchString(alerts[0].IdempotencyKey) {
		t.Fatalf("alerts = %+v, want one key (per run and error) twice", alerts)
	}
	if got := teststore.Tenant(t, e.store, a.TenantID); got.ConsecutiveCheckFailures != 0 || got.LastCheckError != "" || got.Status != domain.StatusConsented {
		t.Errorf("tenant recorded our own failure: %+v", got)
	}
}

// Unreadable token roles are told to operations once per run, however many
// tenants and batches show it; a Degraded tenant with missing roles is not
// taken for recovered on such a check.
func TestRolesUnknownWarnsOncePerRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, always(domain.ConsentCheck{Outcome: domain.CheckConsented, SPEnabled: true, RolesUnknown: true}))
	deg := e.tenant(domain.StatusDegraded, time.Time{}, func(t *domain.Tenant) { t.MissingRoles = domain.RequiredGraphRoles[:1] })
	ok := e.tenant(domain.StatusConsented, time.Time{})
	e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-ru", TenantIDs: []string{deg.TenantID}})
	e.handle(domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-ru", Batch: 1, TenantIDs: []string{ok.TenantID}})
	alerts := e.out.OfKind(domain.EmailOpsAlert)
	if len(alerts) != 1 || alerts[0].IdempotencyKey != "ops-alert:roles-unknown:run-ru" {
		t.Fatalf("alerts = %+v", alerts)
	}
	if got := teststore.Tenant(t, e.store, deg.TenantID); got.Status != domain.StatusDegraded || !got.RolesUnknown || len(got.MissingRoles) != 1 {
		t.Errorf("degraded tenant = %s rolesUnknown=%v missing %v", got.Status, got.RolesUnknown, got.MissingRoles)
	}
	if got := teststore.Tenant(t, e.store, ok.TenantID); got.Status != domain.StatusConsented || !got.RolesUnknown {
		t.Errorf("consented tenant = %s rolesUnknown=%v", got.Status, got.RolesUnknown)
	}
}
