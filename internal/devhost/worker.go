package devhost

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
		env, ok := q.next(ctx)
		if !ok {
			return
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
		h.logger.Info("invocation succeeded; message completed", attrs...)
		return
	}
	failure := out.failure()
	delay := h.cfg.RedeliveryDelay(env.deliveryCount)
	if q.abandon(env, failure, delay, h.cfg.MaxDeliveryCount, time.Now()) {
		h.logger.Error("invocation failed; message dead-lettered (MaxDeliveryCountExceeded)", append(attrs, "error", failure)...)
		return
	}
	h.logger.Warn("invocation failed; message abandoned", append(attrs, "error", failure, "redeliveryIn", delay.String())...)
}

// runTimer fires fn on its NCRONTAB schedule (UTC) until ctx ends.
func (h *Host) runTimer(ctx context.Context, fn *function) {
	if fn.RunOnStartup {
		h.fireTimer(fn, time.Now().UTC(), true)
	}
	for {
		next := fn.Schedule.Next(time.Now().UTC())
		wait := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-wait.C:
		}
		h.fireTimer(fn, next, true)
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
// after the previous run and, for scheduled runs, saves the new one afterwards.
// Failures are logged, never retried.
func (h *Host) fireTimer(fn *function, occurrence time.Time, updateStatus bool) {
	h.busy.Add(1)
	defer h.busy.Add(-1)
	invocationID := uuid.NewString()
	start := time.Now()
	payload := timerPayload(fn, h.timerStatusOf(fn.Name), start)
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
		"function", fn.Name, "invocationId", invocationID, "trigger", triggerTimer,
		"status", out.Status, "durationMs", time.Since(start).Milliseconds(),
	}
	level, msg := slog.LevelInfo, "invocation succeeded"
	if !out.ok() {
		level, msg = slog.LevelError, "invocation failed (timers are not retried)"
		attrs = append(attrs, "error", out.failure())
	}
	h.logger.Log(context.Background(), level, msg, attrs...)
}
