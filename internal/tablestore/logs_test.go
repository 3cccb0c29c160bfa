package tablestore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func TestAuditNewestFirstPaging(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	a, b := tenantID(1), tenantID(2)
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	var want []string
	for i := range 23 {
		at := base.Add(time.Duration(i/2) * time.Second) // pairs share a timestamp
		ev := domain.AuditEvent{ID: fmt.Sprintf("ev%02d", i), TenantID: a, At: at, Action: "tenant.updated",
			Actor: "operator:x", FromState: domain.StatusProvisioned, ToState: domain.StatusConsented,
			Reason: "r", SourceIP: "203.0.113.7", Details: map[string]string{"i": fmt.Sprint(i)}}
		must(t, s.AppendAudit(ctx, ev))
		want = append(want, ev.ID)
	}
	must(t, s.AppendAudit(ctx, domain.AuditEvent{ID: "ev00", TenantID: a, At: base, Action: "tenant.updated"})) // retry: no-op
	must(t, s.AppendAudit(ctx, domain.AuditEvent{TenantID: b, Action: "other tenant"}))

	// Newest first; the row key is inverted time then ID, so events with the
	// same timestamp come in ascending ID order.
	slices.SortStableFunc(want, func(x, y string) int {
		var i, j int
		fmt.Sscanf(x, "ev%d", &i)
		fmt.Sscanf(y, "ev%d", &j)
		if i/2 != j/2 {
			return j/2 - i/2
		}
		return i - j
	})
	var got []string
	token := ""
	for pages := 1; ; pages++ {
		page, err := s.ListAudit(ctx, a, 5, token)
		must(t, err)
		if len(page.Items) > 5 {
			t.Fatalf("page of %d", len(page.Items))
		}
		for _, ev := range page.Items {
			if ev.TenantID != a || ev.Details["i"] == "" || ev.At.IsZero() || ev.ToState != domain.StatusConsented {
				t.Fatalf("event not round-tripped: %+v", ev)
			}
			got = append(got, ev.ID)
		}
		if page.Next == "" {
			break
		}
		if pages > 10 {
			t.Fatal("too many pages")
		}
		token = page.Next
		// A token is bound to its tenant.
		_, err = s.ListAudit(ctx, b, 5, token)
		wantCode(t, err, domain.CodeInvalid)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	page, err := s.ListAudit(ctx, b, 0, "")
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].ID == "" || page.Items[0].At.IsZero() {
		t.Fatalf("tenant b audit = %+v; want one event with generated ID and time", page.Items)
	}
}

func TestRejectionsNewestFirst(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	base := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		must(t, s.AddRejection(ctx, domain.Rejection{ID: fmt.Sprintf("m/%d", i), At: base.Add(time.Duration(i) * time.Minute),
			Source: "queue:provisioning", MessageID: "msg", Reason: "bad", Field: "tenantId", BodyPrefix: "{\"x\":"}))
	}
	var got []string
	token := ""
	for {
		page, err := s.ListRejections(ctx, 2, token)
		must(t, err)
		for _, r := range page.Items {
			if r.Source != "queue:provisioning" || r.Field != "tenantId" || r.BodyPrefix != "{\"x\":" {
				t.Fatalf("rejection not round-tripped: %+v", r)
			}
			got = append(got, r.ID)
		}
		if page.Next == "" {
			break
		}
		token = page.Next
	}
	if want := []string{"m/4", "m/3", "m/2", "m/1", "m/0"}; !slices.Equal(got, want) {
		t.Fatalf("got %v; want %v", got, want)
	}
	_, err := s.ListRejections(ctx, 2, encodeToken(tokenRuns, "", "a", "b"))
	wantCode(t, err, domain.CodeInvalid)
}

func TestRevalidationRuns(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	base := time.Date(2025, 5, 1, 2, 0, 0, 0, time.UTC)
	var runs []*domain.RevalidationRun
	for i := range 5 {
		r := &domain.RevalidationRun{RunID: fmt.Sprintf("run-%d", i), StartedAt: base.Add(time.Duration(i) * time.Hour), Trigger: "timer", Tenants: 100 * i}
		must(t, s.CreateRevalidationRun(ctx, r))
		if r.ETag == "" {
			t.Fatal("create did not set the ETag")
		}
		runs = append(runs, r)
	}
	wantCode(t, s.CreateRevalidationRun(ctx, &domain.RevalidationRun{RunID: "run-2", StartedAt: base.Add(time.Minute)}), domain.CodeConflict)

	got, err := s.GetRevalidationRun(ctx, "run-3")
	must(t, err)
	if *got != *runs[3] {
		t.Fatalf("get %+v; want %+v", got, runs[3])
	}
	stale := *got
	got.FinishedAt = base.Add(4 * time.Hour)
	got.Checked, got.Batches, got.Transitions, got.Failures = 300, 1, 2, 3
	must(t, s.UpdateRevalidationRun(ctx, got))
	stale.Checked = 1
	wantCode(t, s.UpdateRevalidationRun(ctx, &stale), domain.CodePreconditionFailed)
	again, err := s.GetRevalidationRun(ctx, "run-3")
	must(t, err)
	if *again != *got {
		t.Fatalf("after update %+v; want %+v", again, got)
	}
	_, err = s.GetRevalidationRun(ctx, "missing")
	wantCode(t, err, domain.CodeNotFound)

	var ids []string
	token := ""
	for {
		page, err := s.ListRevalidationRuns(ctx, 2, token)
		must(t, err)
		for _, r := range page.Items {
			ids = append(ids, r.RunID)
		}
		if page.Next == "" {
			break
		}
		token = page.Next
	}
	if want := []string{"run-4", "run-3", "run-2", "run-1", "run-0"}; !slices.Equal(ids, want) {
		t.Fatalf("runs listed %v; want %v (pointer rows must not appear)", ids, want)
	}
}

func TestInvertedTimeOrdersNewestFirst(t *testing.T) {
	t.Parallel()
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Nanosecond)
	if !(invertedTime(t2) < invertedTime(t1)) || len(invertedTime(t1)) != 19 || len(invertedTime(time.Time{})) != 19 {
		t.Fatalf("inverted times %s %s", invertedTime(t1), invertedTime(t2))
	}
}
