package domain

import (
	"testing"
	"time"
)

// A service configured without a schedule (or with half of one) re-checks
// on the default; a full schedule is kept.
func TestRecheckScheduleOrDefault(t *testing.T) {
	for _, s := range []RecheckSchedule{{}, {First: time.Minute}, {Attempts: 3}, {First: -time.Minute, Attempts: 3}, {First: time.Minute, Attempts: -1}} {
		if got := s.OrDefault(); got != DefaultRecheckSchedule {
			t.Errorf("%+v.OrDefault() = %+v; want the default", s, got)
		}
	}
	own := RecheckSchedule{First: 10 * time.Second, Attempts: 2}
	if got := own.OrDefault(); got != own {
		t.Errorf("%+v.OrDefault() = %+v; want it kept", own, got)
	}
}
