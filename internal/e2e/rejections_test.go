package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// manyUnknownFields is a ~60 KB JSON object: 2,500 unknown fields and then
// the fields of a valid message (rest, an object body without its braces).
// Provisioning reports every unknown field, so its rejection reason is far
// over Azure's 64 KiB property limit.
func manyUnknownFields(t *testing.T, rest string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	for i := range 2500 {
		fmt.Fprintf(&b, `"unknown_%04d":"xxxxxx",`, i)
	}
	b.WriteString(rest + "}")
	if n := b.Len(); n < 55_000 || n > domain.MaxMessageBytes {
		t.Fatalf("body is %d bytes; want about 60 KB, under the %d limit", n, domain.MaxMessageBytes)
	}
	return b.String()
}

// multiByteAt1024 is a bad message (unknown field "note") whose two-byte
// 'é' occupies bytes 1023-1024, so a 1024-byte prefix cuts it in half.
func multiByteAt1024(t *testing.T, rest string) string {
	t.Helper()
	head := `{"note":"`
	body := head + strings.Repeat("a", 1023-len(head)) + "é" + strings.Repeat("b", 100) + `",` + rest + "}"
	if body[1023:1025] != "é" {
		t.Fatal("é is not at bytes 1023-1024")
	}
	return body
}

// The three queue functions complete a permanently bad message with a
// stored rejection and an operations alert, however large its reason and
// wherever its body prefix is cut; nothing is retried or dead-lettered.
func TestBadMessagesAreRecordedAndAlertedInEveryQueueFunction(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	id := newTenantID()
	prov := testkit.JSON(t, example(t, id, "CRM-rej-"+id[:8]))
	email := testkit.JSON(t, domain.EmailJob{SchemaVersion: 1, Kind: domain.EmailOpsAlert, Recipients: []string{"ops@videosrv.net"},
		IdempotencyKey: "ops-alert:rej-test:" + id, Alert: &domain.Alert{Subject: "x", Detail: "y"}})
	batch := testkit.JSON(t, domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-rej-" + id[:8], TenantIDs: []string{id}})
	inner := func(obj string) string { return strings.TrimSuffix(strings.TrimPrefix(obj, "{"), "}") }

	type bad struct{ queue, name, body string }
	var cases []bad
	for _, q := range []struct{ name, obj string }{{queue.Provisioning, prov}, {queue.Email, email}, {queue.Revalidation, batch}} {
		cases = append(cases,
			bad{q.name, "fields-" + id[:8], manyUnknownFields(t, inner(q.obj))},
			bad{q.name, "utf8-" + id[:8], multiByteAt1024(t, inner(q.obj))})
	}
	before := lastSeq(s.sb)
	stats := map[string]funchost.QueueStats{}
	for _, q := range []string{queue.Provisioning, queue.Email, queue.Revalidation} {
		stats[q] = s.host.QueueStats(q)
	}
	for _, c := range cases {
		if _, err := s.host.Enqueue(c.queue, funchost.Message{MessageID: c.queue + "-" + c.name, Body: c.body}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIdle()

	for _, q := range []string{queue.Provisioning, queue.Revalidation} {
		st := s.host.QueueStats(q)
		if d := st.Deliveries - stats[q].Deliveries; d != 2 || st.DeadLettered != stats[q].DeadLettered {
			t.Errorf("%s: %d deliveries for 2 messages, %d dead-lettered; want no retries", q, d, st.DeadLettered-stats[q].DeadLettered)
		}
	}
	// The email queue also carried the six alerts.
	if st, was := s.host.QueueStats(queue.Email), stats[queue.Email]; st.DeadLettered != was.DeadLettered || st.Deliveries-was.Deliveries != st.Completed-was.Completed {
		t.Errorf("email queue: %+v (before %+v); want no retries or dead letters", st, stats[queue.Email])
	}

	rejs := allRejections(t, s)
	for _, c := range cases {
		msgID := c.queue + "-" + c.name
		// Rejection IDs derive from the message, so a redelivery maps to
		// the same record.
		wantID := map[string]string{queue.Provisioning: msgID, queue.Email: "email-" + msgID,
			queue.Revalidation: domain.RejectionID("revalidation", "", []byte(c.body))}[c.queue]
		var found *domain.Rejection
		for i, r := range rejs {
			if r.ID == wantID {
				found = &rejs[i]
			}
		}
		if found == nil {
			t.Errorf("%s %s: no rejection %s stored", c.queue, c.name, wantID)
			continue
		}
		if found.Reason == "" || !strings.HasPrefix(c.body, found.BodyPrefix) || len(found.BodyPrefix) > domain.RejectionBodyPrefixBytes {
			t.Errorf("%s %s: rejection reason %d bytes, body prefix %d bytes (a cut character?)", c.queue, c.name, len(found.Reason), len(found.BodyPrefix))
		}
		if c.queue == queue.Provisioning && strings.HasPrefix(c.name, "fields") && !strings.Contains(found.Reason, "[cut:") {
			t.Errorf("provisioning: a %d-byte reason was not cut to Azure's limit", len(found.Reason))
		}
		// The alert names the rejection.
		rejID := found.ID
		testkit.Eventually(t, 10*time.Second, "ops alert for "+rejID, func() bool {
			for _, m := range s.mailsTo("ops@videosrv.net", before) {
				if strings.Contains(m.Subject, "rejected") && strings.Contains(m.HTMLBody, rejID) {
					return true
				}
			}
			return false
		})
	}
}

func allRejections(t *testing.T, s *stack) []domain.Rejection {
	t.Helper()
	var out []domain.Rejection
	cont := ""
	for {
		page, err := s.app.Store.ListRejections(context.Background(), 100, cont)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page.Items...)
		if cont = page.Next; cont == "" {
			return out
		}
	}
}

// The timer's sweep completes consent emails provisioning never sent (its
// message lost after the tenant was created): a missing consent link and a
// reminder never scheduled, each sent once although two runs re-queue them
// before either is delivered.
func TestSweepSendsMissingConsentEmailsOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{settings: map[string]string{"REVALIDATION_SCHEDULE": "0 0 * * * *"}})
	ctx := context.Background()
	now := s.clock.Now().UTC()
	noLink, noReminder := newTenantID(), newTenantID()
	for _, c := range []struct {
		id      string
		created time.Time
		invited bool
	}{{noLink, now.Add(-2 * time.Hour), false}, {noReminder, now.Add(-80 * time.Hour), true}} {
		req := "CRM-sweep-" + c.id[:8]
		tn := &domain.Tenant{TenantID: c.id, Status: domain.StatusProvisioned, StatusReason: "provisioning request " + req, StatusChanged: c.created,
			CustomerName: "Sweep Ltd", Region: "eu", AppID: euAppID, TenantKeyCode: "5" + c.id[:8], TenantKey: "5" + c.id[:8] + "@eu.teams.videosrv.net",
			InstructionURI: s.cfg.PublicBaseURL.String() + "/api/join/5" + c.id[:8], AllowedIPs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			Contacts: []domain.Contact{{Name: "Admin", Email: adminEmail(c.id), Role: domain.RoleAdmin}}, LastRequestID: req, CreatedAt: c.created, UpdatedAt: c.created}
		if c.invited {
			tn.InviteIssuedAt, tn.InviteExpiresAt, tn.InviteHash = c.created, c.created.Add(336*time.Hour), "00"+c.id[:8]
		}
		if err := s.app.Store.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		rec := &domain.ProvisioningRecord{RequestID: req, TenantID: c.id, BodyHash: "x", ReceivedAt: c.created, KeyCode: tn.TenantKeyCode, CompletedAt: c.created, Outcome: "created"}
		if err := s.app.Store.CreateProvisioningRecord(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	before := lastSeq(s.sb)
	s.runFunction("RevalidateConsent", "")
	s.clock.Advance(time.Hour) // the next tick: a new run that sweeps again
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	count := func(id, subject string) int {
		n := 0
		for _, m := range s.mailsTo(adminEmail(id), before) {
			if strings.HasPrefix(m.Subject, subject) {
				n++
			}
		}
		return n
	}
	if n, all := count(noLink, "Action needed"), len(s.mailsTo(adminEmail(noLink), before)); n != 1 || all != 1 {
		t.Errorf("tenant without a link: %d consent-link emails, %d in all; want 1 and 1", n, all)
	}
	if n, all := count(noReminder, "Reminder"), len(s.mailsTo(adminEmail(noReminder), before)); n != 1 || all != 1 {
		t.Errorf("tenant without a reminder: %d reminders, %d in all; want 1 and 1", n, all)
	}
	if s.tenant(noLink).InviteIssuedAt.IsZero() {
		t.Error("the swept consent link was not issued")
	}
	// Later runs find the work done.
	before = lastSeq(s.sb)
	s.clock.Advance(time.Hour)
	s.runFunction("RevalidateConsent", "")
	s.waitIdle()
	if got := len(s.mailsTo(adminEmail(noLink), before)) + len(s.mailsTo(adminEmail(noReminder), before)); got != 0 {
		t.Errorf("a third run sent %d more emails", got)
	}
}
