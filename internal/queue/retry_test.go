package queue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestPlanGrowsWithJitterAndCaps(t *testing.T) {
	for _, jitter := range []float64{0, 0.5, 0.999} {
		b := Backoff{Base: time.Second, Max: 8 * time.Second, MaxTotal: time.Hour, Jitter: func() float64 { return jitter }}
		st := RetryState{OriginalMessageID: "m1"}
		now := t0
		var prev time.Duration
		for i := 1; i <= 8; i++ {
			p := b.Plan(st, now, 0)
			if p.GiveUp {
				t.Fatalf("attempt %d gave up", i)
			}
			if p.Next.Attempt != i || p.Next.OriginalMessageID != "m1" || !p.Next.FirstFailure.Equal(t0) {
				t.Fatalf("attempt %d: next = %+v", i, p.Next)
			}
			ceil := min(time.Second<<(i-1), 8*time.Second)
			if p.Delay < ceil/2 || p.Delay >= ceil+1 {
				t.Errorf("jitter %.3f attempt %d: delay %s outside [%s, %s]", jitter, i, p.Delay, ceil/2, ceil)
			}
			if p.Delay < prev && ceil < 8*time.Second {
				t.Errorf("attempt %d: delay %s shrank from %s before the cap", i, p.Delay, prev)
			}
			prev = p.Delay
			now = now.Add(p.Delay)
			st = p.Next
		}
	}
}

func TestPlanGivesUpAfterMaxTotal(t *testing.T) {
	b := Backoff{Base: time.Minute, Max: time.Hour, MaxTotal: 24 * time.Hour, Jitter: func() float64 { return 0.5 }}
	st := RetryState{Attempt: 40, OriginalMessageID: "m1", FirstFailure: t0}
	// Close to the end the last copy is due exactly at the deadline.
	p := b.Plan(st, t0.Add(24*time.Hour-time.Minute), 0)
	if p.GiveUp || p.Delay != time.Minute {
		t.Fatalf("near the end: %+v", p)
	}
	p = b.Plan(st, t0.Add(24*time.Hour), 0)
	if !p.GiveUp || p.Elapsed != 24*time.Hour {
		t.Fatalf("at the end: %+v", p)
	}
}

func TestPlanHonoursRetryAfter(t *testing.T) {
	b := Backoff{Base: time.Second, Max: time.Minute, MaxTotal: time.Hour, Jitter: func() float64 { return 0 }}
	if p := b.Plan(RetryState{OriginalMessageID: "m"}, t0, 30*time.Second); p.Delay != 30*time.Second {
		t.Errorf("Retry-After 30s: delay %s", p.Delay)
	}
	if p := b.Plan(RetryState{OriginalMessageID: "m"}, t0, time.Hour); p.Delay != time.Minute {
		t.Errorf("Retry-After 1h: delay %s, want the 1m cap", p.Delay)
	}
}

func TestReadRetryStateDefensively(t *testing.T) {
	first := t0.Add(-time.Hour).Format(time.RFC3339Nano)
	cases := []struct {
		name  string
		props map[string]any
		want  RetryState
	}{
		{"none", nil, RetryState{OriginalMessageID: "cur"}},
		{"numbers", map[string]any{PropRetryAttempt: float64(3), PropOriginalMessageID: "orig", PropRetryFirstFailure: first},
			RetryState{Attempt: 3, OriginalMessageID: "orig", FirstFailure: t0.Add(-time.Hour)}},
		{"json.Number", map[string]any{PropRetryAttempt: json.Number("4"), PropOriginalMessageID: "orig", PropRetryFirstFailure: first},
			RetryState{Attempt: 4, OriginalMessageID: "orig", FirstFailure: t0.Add(-time.Hour)}},
		{"serialized twice", map[string]any{PropRetryAttempt: `"5"`, PropOriginalMessageID: `"orig"`, PropRetryFirstFailure: `"` + first + `"`},
			RetryState{Attempt: 5, OriginalMessageID: "orig", FirstFailure: t0.Add(-time.Hour)}},
		{"garbage", map[string]any{PropRetryAttempt: "many", PropOriginalMessageID: map[string]any{"x": 1}, PropRetryFirstFailure: "yesterday"},
			RetryState{OriginalMessageID: "cur"}},
		{"negative and fractional", map[string]any{PropRetryAttempt: float64(-2)}, RetryState{OriginalMessageID: "cur"}},
		{"future start restarts the budget", map[string]any{PropRetryAttempt: float64(2), PropRetryFirstFailure: t0.Add(time.Hour).Format(time.RFC3339)},
			RetryState{Attempt: 2, OriginalMessageID: "cur", FirstFailure: t0}},
		{"huge attempt is bounded", map[string]any{PropRetryAttempt: float64(1e12)}, RetryState{OriginalMessageID: "cur"}},
		{"overlong original ID", map[string]any{PropOriginalMessageID: strings.Repeat("x", 200)}, RetryState{OriginalMessageID: "cur"}},
	}
	for _, tc := range cases {
		got := ReadRetryState(tc.props, "cur", t0)
		if got.Attempt != tc.want.Attempt || got.OriginalMessageID != tc.want.OriginalMessageID || !got.FirstFailure.Equal(tc.want.FirstFailure) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestRetryMessageIDIsDerivedAndBounded(t *testing.T) {
	st := RetryState{Attempt: 3, OriginalMessageID: "consent-link:t1"}
	if got := st.MessageID(); got != "consent-link:t1:retry:3" {
		t.Errorf("id = %q", got)
	}
	long := RetryState{Attempt: 12, OriginalMessageID: strings.Repeat("a", 128)}
	id := long.MessageID()
	if len(id) > 128 || !strings.HasSuffix(id, ":retry:12") || id == (RetryState{Attempt: 12, OriginalMessageID: strings.Repeat("b", 128)}).MessageID() {
		t.Errorf("long id = %q (%d)", id, len(id))
	}
	props := st.Properties()
	if props[PropRetryAttempt] != 3 || props[PropOriginalMessageID] != "consent-link:t1" {
		t.Errorf("props = %v", props)
	}
}

func TestPropertiesReachBothTransports(t *testing.T) {
	m := Message{ID: "x:retry:1", Kind: "consent-link", Body: []byte("{}"), ApplicationProperties: RetryState{Attempt: 1, OriginalMessageID: "x", FirstFailure: t0}.Properties()}
	sbm := toServiceBus(m)
	if sbm.ApplicationProperties[PropRetryAttempt] != 1 || sbm.ApplicationProperties[PropOriginalMessageID] != "x" || sbm.ApplicationProperties[PropKind] != "consent-link" {
		t.Errorf("service bus props = %v", sbm.ApplicationProperties)
	}
	if m.ApplicationProperties[PropKind] != nil {
		t.Errorf("the caller's map was changed: %v", m.ApplicationProperties)
	}
	rec := &Recorder{}
	_ = rec.Publish(context.Background(), Email, m, m)
	if len(rec.Sent(Email)) != 1 {
		t.Errorf("recorder kept %d copies of one message ID", len(rec.Sent(Email)))
	}
}

func TestShortIDFitsAMessageID(t *testing.T) {
	if got := ShortID("consent-link:t1"); got != "consent-link:t1" {
		t.Errorf("a short ID changed: %q", got)
	}
	long := strings.Repeat("x", 200)
	got := ShortID(long)
	if len(got) > maxMessageIDLength || got != ShortID(long) || got == ShortID(long+"y") {
		t.Errorf("ShortID of a long ID = %q: want a stable hash within %d characters", got, maxMessageIDLength)
	}
	if d := DerivedMessageID(long, "retry", "1"); d != got+":retry:1" {
		t.Errorf("DerivedMessageID = %q, want the same hash as ShortID plus the suffix", d)
	}
}
