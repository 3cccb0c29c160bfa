package funchost

import (
	"net/http"
	"strconv"
)

// handleDeleteDeadLetter removes one dead letter by its sequence number: the
// local stand-in for receiving it from <queue>/$deadletterqueue with PeekLock
// and completing it, which is how a resubmit removes it on Service Bus
// (learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues).
func (h *Host) handleDeleteDeadLetter(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queue")
	q, ok := h.existingQueue(name)
	if !ok {
		writeError(w, http.StatusNotFound, "no queue named %q", name)
		return
	}
	seq, err := strconv.ParseInt(r.PathValue("sequenceNumber"), 10, 64)
	if err != nil || seq <= 0 {
		writeError(w, http.StatusBadRequest, "sequenceNumber: %q is not a positive whole number", r.PathValue("sequenceNumber"))
		return
	}
	dl, found := q.removeDeadLetter(seq)
	if !found {
		writeError(w, http.StatusNotFound, "queue %s has no dead letter with sequence number %d", q.name, seq)
		return
	}
	h.logger.Info("dead letter removed", "queue", q.name, "sequenceNumber", seq, "messageId", dl.MessageID)
	writeJSON(w, http.StatusOK, dl)
}

// DeleteDeadLetter removes the dead letter with sequence number seq.
func (h *Host) DeleteDeadLetter(queueName string, seq int64) bool {
	q, ok := h.existingQueue(queueName)
	if !ok {
		return false
	}
	_, found := q.removeDeadLetter(seq)
	return found
}

func (q *queue) removeDeadLetter(seq int64) (DeadLetter, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, dl := range q.deadLetters {
		if dl.SequenceNumber == seq {
			q.deadLetters = append(q.deadLetters[:i:i], q.deadLetters[i+1:]...)
			q.signalLocked()
			return dl, true
		}
	}
	return DeadLetter{}, false
}
