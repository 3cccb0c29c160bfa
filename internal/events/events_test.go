package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onemeeting/cvi-onboarding/contracts"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(contracts.EventsV1Schema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(contracts.EventsV1, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(contracts.EventsV1)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, body []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// Every type has an example, and every example validates; a broken one does not.
func TestSchemaExamples(t *testing.T) {
	sch := compileSchema(t)
	for _, typ := range domain.EventTypes {
		raw, err := os.ReadFile(filepath.Join("..", "..", "contracts", "events.v1.examples", string(typ)+".json"))
		if err != nil {
			t.Fatalf("example for %s: %v", typ, err)
		}
		if err := validate(t, sch, raw); err != nil {
			t.Errorf("example %s: %v", typ, err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		if m["type"] != typ.CloudEventType() {
			t.Errorf("example %s has type %v", typ, m["type"])
		}
		m["type"] = "net.videosrv.cvi.tenant.unknown"
		bad, _ := json.Marshal(m)
		if validate(t, sch, bad) == nil {
			t.Errorf("example %s with an unknown type validates", typ)
		}
	}
}

func sampleTenant() *domain.Tenant {
	return &domain.Tenant{
		TenantID: "3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10", Status: domain.StatusProvisioned, StatusChanged: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		CustomerName: "Contoso", Region: "eu", AppID: "5c7a1d2e-8f3b-4a6c-9d0e-1f2a3b4c5d6e", TenantKey: "123@eu.videosrv.net",
		InstructionURI: "https://join.example/123", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")}, LastRequestID: "CRM-1",
		UpdatedAt: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	}
}

// The envelope the relay publishes is a valid CloudEvent that the schema
// accepts, with the message properties CRM relies on.
func TestMessageIsValidAgainstTheSchema(t *testing.T) {
	sch := compileSchema(t)
	tn := sampleTenant()
	var evs []domain.OutboxEvent
	commit := func(change func()) { // one write per change, as the services do
		t.Helper()
		change()
		got, err := tn.TakeEvents(tn.UpdatedAt)
		if err != nil {
			t.Fatal(err)
		}
		tn.CommittedEvents()
		evs = append(evs, got...)
	}
	commit(func() { tn.Emit(domain.EventProvisioned, nil) })
	commit(func() { tn.Emit(domain.EventConsentLinkSent, map[string]string{"expiresAt": "2026-12-08T10:00:00Z"}) })
	commit(func() {
		if _, err := tn.SetStatus(domain.StatusConsented, "ok", tn.UpdatedAt); err != nil {
			t.Fatal(err)
		}
	})
	commit(func() { tn.Emit(domain.EventLive, map[string]string{"liveSince": "2026-12-01T10:00:00Z"}) })
	commit(func() { _, _ = tn.SetStatus(domain.StatusSuspended, "billing", tn.UpdatedAt) })
	commit(func() { _ = tn.Resume("paid", tn.UpdatedAt) })
	commit(func() { _, _ = tn.SetStatus(domain.StatusDegraded, "missing role", tn.UpdatedAt) })
	commit(func() { _, _ = tn.SetStatus(domain.StatusConsented, "ok again", tn.UpdatedAt) })
	if len(evs) != 8 || evs[2].Type != domain.EventConsented || evs[3].ID != tn.TenantID+"/0000000004/live" ||
		evs[5].Type != domain.EventResumed || evs[7].Type != domain.EventRecovered {
		t.Fatalf("events = %+v", evs)
	}
	for _, e := range evs {
		m, err := Message(DefaultSource, e)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != e.ID || m.Subject != e.Type.CloudEventType() || m.CorrelationID != "CRM-1" || m.SessionID != tn.TenantID || m.ContentType != "application/cloudevents+json" {
			t.Errorf("message = %+v", m)
		}
		if err := validate(t, sch, m.Body); err != nil {
			t.Errorf("%s: %v\n%s", e.Type, err, m.Body)
		}
		var ce map[string]any
		_ = json.Unmarshal(m.Body, &ce)
		if ce["specversion"] != "1.0" || ce["id"] != e.ID || ce["subject"] != tn.TenantID || ce["datacontenttype"] != "application/json" {
			t.Errorf("envelope = %v", ce)
		}
	}
	// A consented event whose data says Degraded is refused by the schema.
	bad := evs[2]
	bad.Data = bytes.Replace(bad.Data, []byte(`"status":"Consented"`), []byte(`"status":"Degraded"`), 1)
	m, _ := Message(DefaultSource, bad)
	if validate(t, sch, m.Body) == nil {
		t.Error("consented event with status Degraded validates")
	}
}

type memOutbox struct {
	mu     sync.Mutex
	events map[string][]domain.OutboxEvent
}

func (o *memOutbox) PendingEvents(_ context.Context, p string) ([]domain.OutboxEvent, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []domain.OutboxEvent
	for _, e := range o.events[p] {
		if !e.Published {
			out = append(out, e)
		}
	}
	return out, nil
}

func (o *memOutbox) PendingEventPartitions(ctx context.Context) ([]string, error) {
	var out []string
	for p := range o.events {
		if evs, _ := o.PendingEvents(ctx, p); len(evs) > 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (o *memOutbox) MarkEventPublished(_ context.Context, e domain.OutboxEvent) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := range o.events[e.Partition] {
		if o.events[e.Partition][i].ID == e.ID {
			o.events[e.Partition][i].Published = true
		}
	}
	return nil
}

type flakyTopic struct {
	mu     sync.Mutex
	failOn string
	sent   []string
}

func (f *flakyTopic) PublishEvent(_ context.Context, m domain.EventMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.ID == f.failOn {
		return domain.Wrap(domain.CodeUnavailable, errors.New("down"), "send")
	}
	f.sent = append(f.sent, m.ID)
	return nil
}

// A failed send stops the partition there (no later event overtakes it);
// the sweep sends the rest, in order, under the same ids.
func TestRelayKeepsOrderAcrossFailures(t *testing.T) {
	tn := sampleTenant()
	for range 3 {
		tn.Emit(domain.EventUpdated, map[string]string{"changed": "contacts"})
	}
	evs, _ := tn.TakeEvents(tn.UpdatedAt)
	out := &memOutbox{events: map[string][]domain.OutboxEvent{tn.TenantID: evs}}
	pub := &flakyTopic{failOn: evs[1].ID}
	r := &Relay{Outbox: out, Publisher: pub}
	r.EventsCommitted(context.Background(), tn.TenantID)
	if !slices.Equal(pub.sent, []string{evs[0].ID}) {
		t.Fatalf("sent %v, want only the first", pub.sent)
	}
	pub.failOn = ""
	n, err := r.Sweep(context.Background())
	if err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if want := []string{evs[0].ID, evs[1].ID, evs[2].ID}; !slices.Equal(pub.sent, want) {
		t.Errorf("sent %v, want %v", pub.sent, want)
	}
	if n, _ := r.Sweep(context.Background()); n != 0 {
		t.Errorf("second sweep sent %d", n)
	}
	if !strings.HasPrefix(evs[0].ID, tn.TenantID+"/0000000001/") {
		t.Errorf("id %s", evs[0].ID)
	}
}
