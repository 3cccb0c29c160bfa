package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onemeeting/cvi-onboarding/internal/config"
	"github.com/onemeeting/cvi-onboarding/internal/domain"
	"github.com/onemeeting/cvi-onboarding/internal/queue"
	"github.com/onemeeting/cvi-onboarding/internal/revalidation"
)

// runStore keeps revalidation runs in memory; no tenants to list.
type runStore struct {
	domain.TenantStore // only the methods below are called
	mu                 sync.Mutex
	runs               map[string]domain.RevalidationRun
}

func (s *runStore) CreateRevalidationRun(_ context.Context, r *domain.RevalidationRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.RunID]; ok {
		return domain.Errorf(domain.CodeConflict, "run %s exists", r.RunID)
	}
	s.runs[r.RunID] = *r
	return nil
}

func (s *runStore) GetRevalidationRun(_ context.Context, id string) (*domain.RevalidationRun, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.runs[id]
	return &r, nil
}

func (s *runStore) UpdateRevalidationRun(_ context.Context, r *domain.RevalidationRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[r.RunID] = *r
	return nil
}

func (s *runStore) ListTenants(context.Context, domain.TenantFilter, int, string) (domain.Page[*domain.Tenant], error) {
	return domain.Page[*domain.Tenant]{}, nil
}

type nopPublisher struct{}

func (nopPublisher) Publish(context.Context, string, ...queue.Message) error { return nil }
func (nopPublisher) Close(context.Context) error                             { return nil }

// A second RevalidateConsent run for the same schedule occurrence (a manual
// run through the local host's /admin/functions, or a timer fired twice)
// says in its log line that it was de-duplicated.
func TestRevalidateConsentSaysWhenDeduplicated(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	clock := func() time.Time { now = now.Add(time.Second); return now }
	svc := &revalidation.Service{Store: &runStore{runs: map[string]domain.RevalidationRun{}}, Outbox: queue.Outbox{Publisher: nopPublisher{}}, BatchSize: 50, Now: clock, Logger: slog.New(slog.DiscardHandler)}
	s := &Server{Deps: Deps{Config: &config.Config{RevalidationSchedule: "0 0 */6 * * *"}, Revalidation: svc, Now: clock, Logger: slog.New(slog.DiscardHandler)}}
	payload := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00+00:00","Next":"2026-12-01T12:00:00+00:00","LastUpdated":"0001-01-01T00:00:00+00:00"},"IsPastDue":false}},"Metadata":{"sys":{}}}`
	var logs []string
	for range 2 {
		rec := httptest.NewRecorder()
		s.handleRevalidateConsent().ServeHTTP(rec, httptest.NewRequest("POST", "/RevalidateConsent", strings.NewReader(payload)))
		var res InvokeResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != 200 || len(res.Logs) != 1 {
			t.Fatalf("answer = %d %s (%v)", rec.Code, rec.Body, err)
		}
		logs = append(logs, res.Logs[0])
	}
	if strings.Contains(logs[0], "de-duplicated") {
		t.Errorf("first run says de-duplicated: %q", logs[0])
	}
	if !strings.Contains(logs[1], "de-duplicated, nothing sent") || !strings.Contains(logs[1], "run-20261201T060000Z") {
		t.Errorf("second run = %q, want it to say it was de-duplicated", logs[1])
	}
}
