package funchost

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// Dead letters carry their sequence number, and DELETE removes exactly the
// one named (the local stand-in for completing it on $deadletterqueue).
func TestDeleteDeadLetterBySequenceNumber(t *testing.T) {
	t.Parallel()
	f := startHost(t, map[string]string{"ProvisionTenant": provisionFn}, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}, func(c *Config) { c.MaxDeliveryCount = 1 })
	for _, id := range []string{"a", "b"} {
		if _, err := f.h.Enqueue("provisioning", Message{MessageID: id, Body: `{}`}); err != nil {
			t.Fatal(err)
		}
	}
	waitIdle(t, f.h)
	dl := f.h.DeadLetters("provisioning")
	if len(dl) != 2 || dl[0].SequenceNumber == 0 || dl[0].SequenceNumber == dl[1].SequenceNumber {
		t.Fatalf("dead letters = %+v", dl)
	}
	var a DeadLetter
	for _, d := range dl {
		if d.MessageID == "a" {
			a = d
		}
	}
	url := f.h.URL() + "/admin/queues/provisioning/deadletter/"
	resp := do(t, http.MethodDelete, url+strconv.FormatInt(a.SequenceNumber, 10), "", nil)
	var got DeadLetter
	if resp.Status != http.StatusOK || json.Unmarshal([]byte(resp.Body), &got) != nil || got.MessageID != "a" {
		t.Fatalf("DELETE = %d %s", resp.Status, resp.Body)
	}
	if left := f.h.DeadLetters("provisioning"); len(left) != 1 || left[0].MessageID != "b" {
		t.Errorf("left = %+v", left)
	}
	if resp := do(t, http.MethodDelete, url+strconv.FormatInt(a.SequenceNumber, 10), "", nil); resp.Status != http.StatusNotFound {
		t.Errorf("second DELETE = %d", resp.Status)
	}
	if resp := do(t, http.MethodDelete, url+"x", "", nil); resp.Status != http.StatusBadRequest {
		t.Errorf("bad number = %d", resp.Status)
	}
	if resp := do(t, http.MethodDelete, f.h.URL()+"/admin/queues/nope/deadletter/1", "", nil); resp.Status != http.StatusNotFound {
		t.Errorf("unknown queue = %d", resp.Status)
	}
}
