package domain

import (
	"testing"
	"time"
)

// The key formats are what Service Bus duplicate detection and the email
// worker's de-duplication match on; changing one re-sends mail in flight.
func TestJobKeysKeepTheirFormats(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 5, time.UTC)
	tn := &Tenant{TenantID: "t1", Status: StatusRevoked, StatusChanged: at, VerificationPendingSince: at,
		Contacts: []Contact{{Role: RoleAdmin, Email: "a@x"}, {Role: RoleTechnical, Email: "a@x"}, {Role: RoleBilling, Email: "b@x"}}}
	revoked, ok := TransitionJob(tn, []string{"a@x"}, Alert{Subject: "s"})
	degraded := *tn
	degraded.Status = StatusDegraded
	deg, okDeg := TransitionJob(&degraded, nil, Alert{})
	consented := *tn
	consented.Status = StatusConsented
	_, okCons := TransitionJob(&consented, nil, Alert{})
	if !ok || !okDeg || okCons {
		t.Fatalf("TransitionJob ok = %v, %v, %v; want true, true, false", ok, okDeg, okCons)
	}
	for _, c := range []struct{ got, want string }{
		{OperatorConsentLinkJob("t1", nil, "r1").IdempotencyKey, "consent-link:t1:operator:r1"},
		{ConsentAgainJob("t1", nil, at).IdempotencyKey, "consent-again:t1:2026-12-01T10:00:00.000000005Z"},
		{ConsentConfirmedJob(tn, at).IdempotencyKey, "consent-confirmed:t1:1796119200"},
		{PendingConsentConfirmedJob(tn).IdempotencyKey, "consent-confirmed:t1:pending:1796119200"},
		{revoked.IdempotencyKey, "consent-revoked:->Revoked:t1:1796119200000000005"},
		{deg.IdempotencyKey, "consent-degraded:->Degraded:t1:1796119200000000005"},
		{LiveJob("t1", nil).IdempotencyKey, "live:t1"},
		{LiveReminderJob("t1", nil).IdempotencyKey, "live-reminder:t1"},
		{ConsentReminderJob("t1", nil, "r1").IdempotencyKey, "consent-reminder:t1:r1"},
		{ConsentLinkJob("t1", []string{"B@x", "a@x"}).IdempotencyKey, ConsentLinkKey("t1", []string{"a@x", "b@x"})},
		{OpsAlertKey("check-failing", "t1", "17"), "ops-alert:check-failing:t1:17"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
	if r := ConsentConfirmedJob(tn, at).Recipients; len(r) != 2 || r[0] != "a@x" || r[1] != "b@x" {
		t.Errorf("recipients %v, want [a@x b@x]", r)
	}
	many := make([]string, 30)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@x"
	}
	if got := len(OpsAlertJob("k", "", many, Alert{}).Recipients); got != MaxRecipients {
		t.Errorf("%d recipients kept, want %d", got, MaxRecipients)
	}
	if j := ConsentLinkJob("t1", []string{"a@x"}); j.SchemaVersion != 1 || j.Kind != EmailConsentLink {
		t.Errorf("job %+v", j)
	}
}
