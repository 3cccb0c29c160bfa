package revalidation

import (
	"testing"
	"time"
)

func TestRunIDNamesTheOccurrence(t *testing.T) {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	cases := []struct{ schedule, now, want string }{
		{"0 0 */6 * * *", "2026-11-25T12:00:03Z", "run-20261125T120000Z"},
		{"0 0 */6 * * *", "2026-11-25T17:59:59Z", "run-20261125T120000Z"},
		{"0 0 */6 * * *", "2026-11-25T18:00:00Z", "run-20261125T180000Z"},
		{"0 */5 * * * *", "2026-11-25T10:07:30Z", "run-20261125T100500Z"},
	}
	for _, tc := range cases {
		got, err := RunID(tc.schedule, at(tc.now))
		if err != nil || got != tc.want {
			t.Errorf("RunID(%q, %s) = %q, %v; want %q", tc.schedule, tc.now, got, err, tc.want)
		}
	}
	if _, err := RunID("every six hours", time.Now()); err == nil {
		t.Error("bad schedule accepted")
	}
}
