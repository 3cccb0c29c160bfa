package revalidation

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ncrontab parses the Functions host's six-field schedules.
var ncrontab = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// RunID names the schedule occurrence a timer tick belongs to: the latest
// scheduled time at or before now. Two firings of the same tick (overlap,
// host restart, a second instance) get the same ID.
func RunID(schedule string, now time.Time) (string, error) {
	sched, err := ncrontab.Parse(schedule)
	if err != nil {
		return "", fmt.Errorf("parse schedule %q: %w", schedule, err)
	}
	now = now.UTC()
	// Walk forward from a day back; stop early for very frequent schedules.
	occurrence := time.Time{}
	for t, i := sched.Next(now.Add(-24*time.Hour)), 0; !t.After(now) && i < 100000; t, i = sched.Next(t), i+1 {
		occurrence = t
	}
	if occurrence.IsZero() {
		occurrence = now.Truncate(time.Second)
	}
	return "run-" + occurrence.Format("20060102T150405Z"), nil
}
