package domain

import (
	"strconv"
	"strings"
	"time"
)

// Admin consent with /.default grants every configured permission in one
// step, so a consent Microsoft reported but whose roles (or service
// principal) our token does not show yet is replication lag, not a partial
// grant (reference identity-graph.md §2). The callback records such a
// consent as pending and re-checks it on a RecheckSchedule; only roles still
// missing after the last re-check are a finding, for operations: our own app
// registration may lack a permission, and asking the admin to consent again
// would loop.

// RecheckSchedule spaces the re-checks of a pending verification.
type RecheckSchedule struct {
	First    time.Duration // wait before the first re-check
	Attempts int           // re-checks in all; each waits twice as long as the one before
}

// DefaultRecheckSchedule is 2, 4, … 64 minutes: about two hours in all.
var DefaultRecheckSchedule = RecheckSchedule{First: 2 * time.Minute, Attempts: 6}

// OrDefault is s, or DefaultRecheckSchedule when s has no attempts or no
// first wait (a zero schedule in a service's configuration).
func (s RecheckSchedule) OrDefault() RecheckSchedule {
	if s.Attempts <= 0 || s.First <= 0 {
		return DefaultRecheckSchedule
	}
	return s
}

// Delay is the wait before re-check attempt (1-based).
func (s RecheckSchedule) Delay(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	return s.First << min(attempt-1, 20)
}

// Window is the time from the pending record to the last re-check.
func (s RecheckSchedule) Window() time.Duration {
	var d time.Duration
	for a := 1; a <= s.Attempts; a++ {
		d += s.Delay(a)
	}
	return d
}

const recheckRunPrefix = "recheck-"

// RecheckBatch is the revalidation message of re-check `attempt` of the
// verification of tenantID that has been pending since `since`. The message
// ID (run ID and batch) is deterministic per attempt, so a redelivered
// re-check schedules the next one once.
func RecheckBatch(tenantID string, since time.Time, attempt int) RevalidationBatch {
	return RevalidationBatch{SchemaVersion: 1, RunID: recheckRunPrefix + tenantID + "-" + strconv.FormatInt(since.Unix(), 10),
		Batch: attempt, TenantIDs: []string{tenantID}}
}

// Recheck identifies a re-check message.
type Recheck struct {
	Since   time.Time // the pending verification it belongs to (second precision)
	Attempt int       // 1-based
}

// ParseRecheck reports whether b is a re-check batch of tenantID.
func ParseRecheck(b *RevalidationBatch, tenantID string) (Recheck, bool) {
	rest, ok := strings.CutPrefix(b.RunID, recheckRunPrefix+tenantID+"-")
	if !ok {
		return Recheck{}, false
	}
	sec, err := strconv.ParseInt(rest, 10, 64)
	if err != nil {
		return Recheck{}, false
	}
	return Recheck{Since: time.Unix(sec, 0).UTC(), Attempt: max(b.Batch, 1)}, true
}

// Of reports whether r re-checks the verification t has pending now (an
// older chain, from an earlier pending callback, does not).
func (r Recheck) Of(t *Tenant) bool {
	return t.VerificationPending && !t.VerificationPendingSince.IsZero() && t.VerificationPendingSince.Unix() == r.Since.Unix()
}

// NotVisibleYet reports whether a check right after a reported consent
// shows what replication lag looks like: the app's service principal is
// there and enabled but roles are missing, or it is not there yet.
func (c ConsentCheck) NotVisibleYet() bool {
	return (c.Outcome == CheckDegraded && c.SPEnabled && len(c.MissingRoles) > 0) || c.Outcome == CheckRevoked
}
