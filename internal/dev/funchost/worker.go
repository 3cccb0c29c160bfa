package funchost

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// runListener delivers fn's queue messages with at most MaxConcurrentCalls at once.
// A message taken from the queue is locked (in flight) until completed or abandoned,
// so no two invocations ever see it at the same time.
func (h *Host) runListener(ctx context.Context, fn *function, q *queue) {
	slots := make(chan struct{}, h.cfg.MaxConcurrentCalls)
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		// Like the real host, no message is received while the handler
		// process is down (it restarts the worker before listening again).
		if !h.gate.wait(ctx) {
			return
		}
		env, ok := q.next(ctx)
		if !ok {
			return
		}
		if !h.gate.isUp() { // the handler died while this listener waited for a message
			q.release(env)
			<-slots
			continue
		}
		if !h.startInvocation() {
			q.release(env)
			return
		}
		go func() {
			defer h.invocations.Done()
			defer func() { <-slots }()
			h.deliver(fn, q, env)
		}()
	}
}

// deliver runs one serviceBusTrigger invocation and completes or abandons the message.
func (h *Host) deliver(fn *function, q *queue, env *envelope) {
	invocationID := uuid.NewString()
	start := time.Now()
	payload := serviceBusPayload(fn, env, uuid.NewString(), start)
	out := h.invoke(h.invokeCtx, fn, invocationID, payload)
	if out.ok() {
		if err := h.applyResult(fn, invocationID, out.Body); err != nil {
			out.Err = err
		}
	}
	attrs := []any{
		"function", fn.Name, "invocationId", invocationID, "trigger", triggerServiceBus,
		"queue", q.name, "messageId", env.msg.MessageID, "deliveryCount", env.deliveryCount,
		"status", out.Status, "durationMs", time.Since(start).Milliseconds(),
	}
	if out.ok() {
		q.complete(env)
		// Debug: the handler logs the business event and its own request line.
		h.logger.Debug("invocation succeeded; message completed", attrs...)
		return
	}
	failure := out.failure()
	if out.Status == 0 && h.cfg.Handler != nil {
		// The connection failed: if the handler process just died, let the
		// supervisor notice first, so the redelivery waits for the restarted
		// handler instead of burning deliveries against a dead port.
		h.gate.waitDown(time.Second)
	}
	delay := h.cfg.RedeliveryDelay(env.deliveryCount)
	if q.abandon(env, failure, delay, time.Now()) {
		h.logger.Error("invocation failed; message dead-lettered (MaxDeliveryCountExceeded)",
			append(attrs, "maxDeliveryCount", q.maxDelivery, "error", failure)...)
		return
	}
	h.logger.Warn("invocation failed; message abandoned and redelivered at once", append(attrs, "error", failure, "redeliveryInMs", delay.Milliseconds())...)
}

// runTimer fires fn on its NCRONTAB schedule (UTC) until ctx ends. Like the
// host's TimerListener with useMonitor, a saved Next that has passed (downtime)
// or an occurrence missed while the previous run was still going fires at once
// with IsPastDue true.
func (h *Host) runTimer(ctx context.Context, fn *function) {
	if st := h.timerStatusOf(fn.Name); !st.Next.IsZero() && st.Next.Before(time.Now()) {
		h.fireTimer(fn, time.Now().UTC(), true, true)
	} else if fn.RunOnStartup {
		h.fireTimer(fn, time.Now().UTC(), false, true)
	}
	for {
		next := h.timerStatusOf(fn.Name).Next
		if next.IsZero() {
			next = fn.Schedule.Next(time.Now().UTC())
		}
		pastDue := false
		if wait := time.Until(next); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		} else {
			// The occurrence passed while the previous run was still going.
			pastDue = true
			next = time.Now().UTC()
		}
		if ctx.Err() != nil {
			return
		}
		h.fireTimer(fn, next, pastDue, true)
	}
}

func (h *Host) setTimerStatus(name string, st timerStatus) {
	h.timersMu.Lock()
	defer h.timersMu.Unlock()
	*h.timers[name] = st
}

func (h *Host) timerStatusOf(name string) timerStatus {
	h.timersMu.Lock()
	defer h.timersMu.Unlock()
	return *h.timers[name]
}

// fireTimer invokes a timer function once. Like the host, it passes the status saved
// after the previous run and, for scheduled runs, saves the new one afterwards
// (Next computed from this occurrence, so a long run leaves a past Next behind).
// Failures are logged, never retried.
func (h *Host) fireTimer(fn *function, occurrence time.Time, pastDue, updateStatus bool) {
	h.busy.Add(1)
	defer h.busy.Add(-1)
	if !h.gate.isUp() { // the handler is restarting: give it the start timeout
		waitCtx, cancel := context.WithTimeout(h.invokeCtx, h.cfg.HandlerStartTimeout)
		h.gate.wait(waitCtx)
		cancel()
	}
	invocationID := uuid.NewString()
	start := time.Now()
	payload := timerPayload(fn, h.timerStatusOf(fn.Name), pastDue, start)
	out := h.invoke(h.invokeCtx, fn, invocationID, payload)
	if out.ok() {
		if err := h.applyResult(fn, invocationID, out.Body); err != nil {
			out.Err = err
		}
	}
	if updateStatus {
		now := time.Now().UTC()
		h.setTimerStatus(fn.Name, timerStatus{Last: occurrence, Next: fn.Schedule.Next(occurrence), LastUpdated: now})
	}
	attrs := []any{
		"function", fn.Name, "invocationId", invocationID, "trigger", triggerTimer, "isPastDue", pastDue,
		"status", out.Status, "durationMs", time.Since(start).Milliseconds(),
	}
	level, msg := slog.LevelDebug, "invocation succeeded"
	if !updateStatus {
		level, msg = slog.LevelInfo, "manual run succeeded"
	}
	if !out.ok() {
		level, msg = slog.LevelError, "invocation failed (timers are not retried)"
		attrs = append(attrs, "error", out.failure())
	}
	h.logger.Log(context.Background(), level, msg, attrs...)
}
