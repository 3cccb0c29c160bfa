package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

type healthReport struct {
	Status  string        `json:"status"`
	Version string        `json:"version,omitempty"`
	Time    time.Time     `json:"time"`
	Store   storeHealth   `json:"store"`
	Config  configSummary `json:"config"`
}

type storeHealth struct {
	Reachable bool   `json:"reachable"`
	LatencyMS int64  `json:"latencyMs"`
	Error     string `json:"error,omitempty"`
}

type configSummary struct {
	Valid           bool     `json:"valid"`
	Regions         []string `json:"regions"`
	Queues          string   `json:"queues"`
	GraphCredential string   `json:"graphCredential"`
	AuthorityHost   string   `json:"authorityHost"`
}

// handleHealth reports store reachability and configuration. The handler
// only starts with a valid configuration, so a running handler reports it
// valid and summarises what it runs with (never secrets).
func (s *Server) handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		rep := healthReport{Status: "ok", Version: s.Version, Time: s.Now().UTC()}
		start := time.Now()
		err := s.Store.Ping(ctx)
		rep.Store.LatencyMS = time.Since(start).Milliseconds()
		if err != nil {
			rep.Status = "unavailable"
			rep.Store.Error = err.Error()
			s.Logger.Warn("health: store unreachable", "err", err)
		} else {
			rep.Store.Reachable = true
		}
		cfg := s.Config
		rep.Config = configSummary{Valid: true, Regions: cfg.RegionOrder, GraphCredential: cfg.GraphCredential, AuthorityHost: cfg.AuthorityHost, Queues: "service-bus"}
		if cfg.LocalQueueURL != "" {
			rep.Config.Queues = "local-dev-host"
		}
		status := http.StatusOK
		if rep.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(rep)
	})
}
