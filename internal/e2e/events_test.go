package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/onemeeting/cvi-onboarding/internal/dev/entrasim"
	"github.com/onemeeting/cvi-onboarding/internal/dev/funchost"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/testkit"
)

// withCRMSubscription creates the topic and the crm subscription, as
// cmd/devstack (and the Bicep) do, before anything is published.
func (s *stack) withCRMSubscription() {
	s.t.Helper()
	s.host.CreateTopic(queue.TenantEvents)
	if err := s.host.CreateSubscription(queue.TenantEvents, "crm"); err != nil {
		s.t.Fatal(err)
	}
}

// crmEvents is what the crm subscription received about subject (all when
// subject is ""), read through the host's admin surface as CRM's test
// tooling would.
func (s *stack) crmEvents(subject string) []funchost.TopicMessage {
	s.t.Helper()
	resp, err := http.Get(s.host.URL() + "/admin/topics/" + queue.TenantEvents + "/subscriptions/crm/messages")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		s.t.Fatalf("list crm messages: %d %s", resp.StatusCode, b)
	}
	var all []funchost.TopicMessage
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		s.t.Fatal(err)
	}
	var out []funchost.TopicMessage
	for _, m := range all {
		if subject == "" || m.SessionID == subject {
			out = append(out, m)
		}
	}
	return out
}

var (
	eventSchemaOnce sync.Once
	eventSchema     *jsonschema.Schema
	eventSchemaErr  error
)

func compiledEventSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	eventSchemaOnce.Do(func() {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(contracts.EventsV1Schema()))
		if err != nil {
			eventSchemaErr = err
			return
		}
		c := jsonschema.NewCompiler()
		if eventSchemaErr = c.AddResource(contracts.EventsV1, doc); eventSchemaErr == nil {
			eventSchema, eventSchemaErr = c.Compile(contracts.EventsV1)
		}
	})
	if eventSchemaErr != nil {
		t.Fatal(eventSchemaErr)
	}
	return eventSchema
}

// checkEvents asserts each message is a schema-valid CloudEvent whose
// message properties match it, that ids are distinct, and returns the
// short types in order.
func checkEvents(t testing.TB, msgs []funchost.TopicMessage, tenantID string) []string {
	t.Helper()
	sch := compiledEventSchema(t)
	var types []string
	seen := map[string]bool{}
	for _, m := range msgs {
		inst, err := jsonschema.UnmarshalJSON(strings.NewReader(m.Body))
		if err != nil {
			t.Fatalf("message %s: %v", m.MessageID, err)
		}
		if err := eventSchema.Validate(inst); err != nil {
			t.Errorf("message %s is not valid against events.v1.schema.json: %v\n%s", m.MessageID, err, m.Body)
		}
		_ = sch
		var ce struct {
			ID, Type, Subject string
			Data              struct {
				RequestID string `json:"requestId"`
			}
		}
		if err := json.Unmarshal([]byte(m.Body), &ce); err != nil {
			t.Fatal(err)
		}
		if ce.ID != m.MessageID || ce.Type != m.Subject || ce.Data.RequestID != m.CorrelationID || m.ContentType != "application/cloudevents+json" {
			t.Errorf("message %s: properties (id %s, subject %s, correlation %s, content type %s) do not match the event %+v",
				m.MessageID, m.MessageID, m.Subject, m.CorrelationID, m.ContentType, ce)
		}
		if tenantID != "" && (ce.Subject != tenantID || m.SessionID != tenantID) {
			t.Errorf("message %s: subject %s session %s, want tenant %s", m.MessageID, ce.Subject, m.SessionID, tenantID)
		}
		if seen[ce.ID] {
			t.Errorf("event id %s published twice", ce.ID)
		}
		seen[ce.ID] = true
		types = append(types, strings.TrimPrefix(ce.Type, domain.EventTypePrefix))
	}
	return types
}

func operatorCall(t *testing.T, s *stack, method, path, body string) {
	t.Helper()
	token, err := s.sb.MintOperatorToken(entrasim.OperatorClaims{OID: "11111111-aaaa-4bbb-8ccc-222222222222", Name: "Olivia Operator", Roles: []string{"Tenants.ReadWrite"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, s.host.URL()+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
}

// A tenant's whole life: every change publishes exactly one event, in
// order, each valid against the contract; a repeated provisioning request
// and a re-validation batch delivered twice publish nothing new.
func TestLifecycleEventsInOrderOncePerChange(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.withCRMSubscription()
	id := newTenantID()
	s.consentedTenant(id) // provisioned, consent link emailed, consented

	// The same provisioning request again, as a redelivery would.
	s.runFunction("ProvisionTenant", testkit.JSON(t, example(t, id, "CRM-"+id[:8])))
	s.waitIdle()

	// Live: invites carry the join page with a Video ID; three requests, one change.
	for _, videoID := range []string{"123456789", "123456789", "555000111"} {
		if resp, _ := s.get(s.host.URL()+"/api/join/"+s.tenant(id).TenantKeyCode+"?conf="+videoID, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("join page: %d", resp.StatusCode)
		}
	}
	testkit.Eventually(t, 10*time.Second, "liveSince recorded", func() bool { return !s.tenant(id).LiveSince.IsZero() })
	s.waitIdle()

	// Degraded, with the batch delivered twice.
	s.sb.SetRoles(id, euAppID, domain.RequiredGraphRoles[1:])
	batch := testkit.JSON(t, domain.RevalidationBatch{SchemaVersion: 1, RunID: "run-events", Batch: 0, TenantIDs: []string{id}})
	for i := range 2 {
		if _, err := s.host.Enqueue(queue.Revalidation, funchost.Message{MessageID: "batch-" + itoa(i), Body: batch}); err != nil {
			t.Fatal(err)
		}
	}
	s.waitIdle()
	s.sb.SetRoles(id, euAppID, domain.RequiredGraphRoles)
	if _, err := s.app.Server.Revalidation.StartRun(context.Background(), "run-events-fixed", "test"); err != nil {
		t.Fatal(err)
	}
	s.waitIdle()
	operatorCall(t, s, http.MethodPost, "/api/admin/tenants/"+id+"/suspend", `{"reason":"billing hold"}`)
	operatorCall(t, s, http.MethodPost, "/api/admin/tenants/"+id+"/resume", "")
	operatorCall(t, s, http.MethodDelete, "/api/admin/tenants/"+id, "")
	s.waitIdle()

	msgs := s.crmEvents(id)
	got := strings.Join(checkEvents(t, msgs, id), ",")
	want := "provisioned,consent-link-sent,consented,live,degraded,recovered,suspended,resumed,offboarded"
	if got != want {
		t.Fatalf("crm received %s\nwant         %s", got, want)
	}
	for i, m := range msgs {
		if wantID := fmt.Sprintf("%s/%010d/", id, i+1); !strings.HasPrefix(m.MessageID, wantID) {
			t.Errorf("event %d id %s, want prefix %s (one sequence number per committed change)", i, m.MessageID, wantID)
		}
	}
	if st := s.host.AllTopicStats(); len(st) != 1 || st[0].Sent != len(msgs) {
		t.Errorf("topic stats %+v: every published message should be a distinct change", st)
	}
}

// Five deliveries of one provisioning request: one provisioned event, one
// consent-link-sent; a rejected request publishes provisioning-rejected.
func TestSameRequestFiveTimesPublishesOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.withCRMSubscription()
	id := newTenantID()
	body := testkit.JSON(t, example(t, id, "CRM-five-"+id[:8]))
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: fmt.Sprintf("five-%d-%s", i, id), Body: body}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	s.waitIdle()
	if got := strings.Join(checkEvents(t, s.crmEvents(id), id), ","); got != "provisioned,consent-link-sent" {
		t.Fatalf("crm received %q, want provisioned,consent-link-sent", got)
	}

	bad := example(t, id, "CRM-bad-"+id[:8])
	bad["region"] = "xx"
	for i := range 2 { // redelivered under the same message ID: one rejection, one event
		_ = i
		if _, err := s.host.Enqueue(queue.Provisioning, funchost.Message{MessageID: "bad-" + id, Body: testkit.JSON(t, bad)}); err != nil {
			t.Fatal(err)
		}
		s.waitIdle()
	}
	var rejected []funchost.TopicMessage
	for _, m := range s.crmEvents("") {
		if m.Subject == domain.EventProvisioningRejected.CloudEventType() {
			rejected = append(rejected, m)
		}
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0].Body, `"field":"region"`) || rejected[0].CorrelationID != "CRM-bad-"+id[:8] {
		t.Fatalf("rejection events = %+v", rejected)
	}
	checkEvents(t, rejected, "")
}

// failingTopic is the local publisher whose topic sends fail while down is
// set: the crash (or outage) between commit and publish.
type failingTopic struct {
	*queue.Local
	down atomic.Bool
	// lostAck makes the next send reach the topic but report failure (the
	// relay dies before marking it published).
	lostAck atomic.Bool
}

func (f *failingTopic) PublishTopic(ctx context.Context, topic string, m queue.TopicMessage) error {
	if f.down.Load() {
		return domain.Wrap(domain.CodeUnavailable, errors.New("service bus unreachable (test)"), "send to topic %s", topic)
	}
	err := f.Local.PublishTopic(ctx, topic, m)
	if err == nil && f.lostAck.CompareAndSwap(true, false) {
		return domain.Wrap(domain.CodeUnavailable, errors.New("connection lost after send (test)"), "send to topic %s", topic)
	}
	return err
}

// Changes committed while publishing fails are published later by the
// RelayEvents sweep, exactly once and in order; a send whose ack is lost is
// re-sent under the same id and dropped by the topic's duplicate detection.
func TestEventsCommittedDuringOutagePublishedBySweep(t *testing.T) {
	t.Parallel()
	var pub *failingTopic
	s := newStack(t, stackOptions{publisher: func(l *queue.Local) queue.Publisher {
		pub = &failingTopic{Local: l}
		return pub
	}})
	s.withCRMSubscription()
	pub.down.Store(true)
	id := newTenantID()
	s.provisioned(id)
	s.waitIdle()
	if got := s.crmEvents(id); len(got) != 0 {
		t.Fatalf("published during the outage: %d", len(got))
	}
	pending, err := s.app.Store.PendingEvents(context.Background(), id)
	if err != nil || len(pending) != 2 {
		t.Fatalf("outbox holds %d events (%v), want 2", len(pending), err)
	}
	pub.down.Store(false)
	pub.lostAck.Store(true) // the first event is sent but not marked: sent again, same id
	s.runFunction("RelayEvents", "")
	s.waitIdle()
	s.runFunction("RelayEvents", "")
	s.waitIdle()
	s.runFunction("RelayEvents", "")
	s.waitIdle()
	if got := strings.Join(checkEvents(t, s.crmEvents(id), id), ","); got != "provisioned,consent-link-sent" {
		t.Fatalf("after the sweep crm received %q", got)
	}
	if st := s.host.AllTopicStats(); st[0].Duplicates != 1 {
		t.Errorf("duplicates dropped by the topic = %d, want 1 (the re-send after the lost ack, under the same id)", st[0].Duplicates)
	}
	if pending, _ := s.app.Store.PendingEvents(context.Background(), id); len(pending) != 0 {
		t.Errorf("still pending after the sweeps: %d", len(pending))
	}
}

// A change that loses its ETag race commits nothing, so publishes nothing;
// redone on a fresh read it publishes once.
func TestNoEventForUncommittedChange(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.withCRMSubscription()
	id := newTenantID()
	s.provisioned(id)
	s.waitIdle()
	ctx := context.Background()
	winner, loser := s.tenant(id), s.tenant(id)
	// The winner's write is no lifecycle change (a check result, say).
	winner.LastCheckAt = time.Now()
	if err := s.app.Store.UpdateTenant(ctx, winner); err != nil {
		t.Fatal(err)
	}
	if _, err := loser.SetStatus(domain.StatusSuspended, "stale", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.app.Store.UpdateTenant(ctx, loser); domain.ErrorCode(err) != domain.CodePreconditionFailed {
		t.Fatalf("stale write: %v, want PreconditionFailed", err)
	}
	s.runFunction("RelayEvents", "")
	s.waitIdle()
	if got := strings.Join(checkEvents(t, s.crmEvents(id), id), ","); got != "provisioned,consent-link-sent" {
		t.Fatalf("after the lost race crm received %q, want provisioned,consent-link-sent", got)
	}
	if _, err := domain.UpdateTenant(ctx, s.app.Store, id, func(cur *domain.Tenant) (bool, error) {
		return cur.SetStatus(domain.StatusSuspended, "again", time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(checkEvents(t, s.crmEvents(id), id), ","); got != "provisioned,consent-link-sent,suspended" {
		t.Fatalf("after the retry crm received %q", got)
	}
}
