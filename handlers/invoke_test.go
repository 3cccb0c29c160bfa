package handlers

import (
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Payload shapes captured from the Functions host (reference §2).
func TestQueueBodyUnwrapsHostEncodings(t *testing.T) {
	body := `{"schemaVersion":1,"requestId":"r"}`
	once, _ := json.Marshal(body)
	twice, _ := json.Marshal(string(once))
	b64, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte(body)))
	invalidUTF8 := []byte{'{', 0xff, '}'}
	b64Bin, _ := json.Marshal(base64.StdEncoding.EncodeToString(invalidUTF8))
	cases := map[string]struct {
		raw  string
		want string
	}{
		"string containing json": {string(once), body},
		"escaped twice":          {string(twice), body},
		"json object":            {body, body},
		"base64 json":            {string(b64), body},
		"base64 binary":          {string(b64Bin), string(invalidUTF8)},
		"plain text":             {`"test"`, "test"},
	}
	for name, tc := range cases {
		if got := string(queueBody(json.RawMessage(tc.raw))); got != tc.want {
			t.Errorf("%s: got %q want %q", name, got, tc.want)
		}
	}
}

func TestMessageInfoFromHostMetadata(t *testing.T) {
	md := map[string]json.RawMessage{
		"MessageId":             json.RawMessage(`"\"abc-123\""`),
		"DeliveryCount":         json.RawMessage(`"3"`),
		"ApplicationProperties": json.RawMessage(`{"kind":"consent-link"}`),
		"requestId":             json.RawMessage(`"\"spoof\""`), // body properties echo into Metadata
	}
	info := messageInfo(md)
	if info.MessageID != "abc-123" || info.DeliveryCount != 3 || info.Kind != "consent-link" {
		t.Errorf("info = %+v", info)
	}
}

// A JSON body's top-level keys overwrite system Metadata keys (case-insensitive,
// system spelling kept); those values must not be read as Service Bus data.
func TestMessageInfoIgnoresKeysTheBodyOverwrote(t *testing.T) {
	body := `{"messageId":"spoof","DELIVERYCOUNT":9,"applicationProperties":{"kind":"forged"},"requestId":"r1"}`
	once, _ := json.Marshal(body)
	twice, _ := json.Marshal(string(once))
	payload := `{"Data":{"msg":` + string(twice) + `},"Metadata":{` +
		`"MessageId":"\"spoof\"","DeliveryCount":"\"9\"","ApplicationProperties":{"kind":"forged"},` +
		`"UserProperties":{"kind":"consent-link"},"requestId":"\"r1\"","SequenceNumber":"4",` +
		`"sys":{"MethodName":"SendEmail"}}}`
	req, err := readInvokeRequest(httptest.NewRequest("POST", "/SendEmail", strings.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	info := messageInfo(req.Metadata)
	if info.MessageID != "" || info.DeliveryCount != 0 || info.Kind != "consent-link" {
		t.Errorf("info = %+v, want the overwritten MessageId/DeliveryCount/ApplicationProperties ignored and UserProperties used", info)
	}
	if _, ok := req.Metadata["SequenceNumber"]; !ok || req.Metadata["sys"] == nil {
		t.Errorf("system keys the body did not overwrite were dropped: %v", req.Metadata)
	}
	if got := string(queueBody(req.Data["msg"])); got != body {
		t.Errorf("body = %q", got)
	}

	// Without colliding body keys the system values are read.
	payload = `{"Data":{"msg":"\"{\\\"requestId\\\":\\\"r1\\\"}\""},"Metadata":{"MessageId":"\"abc\"","DeliveryCount":"2"}}`
	req, err = readInvokeRequest(httptest.NewRequest("POST", "/SendEmail", strings.NewReader(payload)))
	if err != nil {
		t.Fatal(err)
	}
	if info := messageInfo(req.Metadata); info.MessageID != "abc" || info.DeliveryCount != 2 {
		t.Errorf("info = %+v (body %q)", info, queueBody(req.Data["msg"]))
	}
}

func TestTimerInfoOffsetLessTimes(t *testing.T) {
	raw := json.RawMessage(`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-11-25T18:00:00","LastUpdated":"2026-11-25T12:00:00"},"IsPastDue":true}`)
	info := timerInfo(raw)
	if !info.IsPastDue || !info.Last.IsZero() || !info.Next.Equal(time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("timer = %+v", info)
	}
}

// WebJobs.Extensions 5.x: times carry +00:00; a first run has Last at the zero time.
func TestTimerInfoOffsetTimes(t *testing.T) {
	raw := json.RawMessage(`{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00+00:00","Next":"2026-11-25T18:00:00+00:00","LastUpdated":"0001-01-01T00:00:00+00:00"},"IsPastDue":true}`)
	info := timerInfo(raw)
	if !info.IsPastDue || !info.Last.IsZero() || !info.Next.Equal(time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC)) {
		t.Errorf("timer = %+v", info)
	}
}

func TestClientIPTakesPlatformHop(t *testing.T) {
	cases := []struct {
		xff  []string
		hops int
		want string
		ok   bool
	}{
		{[]string{"203.0.113.7:51234"}, 1, "203.0.113.7", true},
		{[]string{"198.51.100.1, 203.0.113.7:51234"}, 1, "203.0.113.7", true}, // forged first entry ignored
		{[]string{"198.51.100.1", "203.0.113.7:1"}, 1, "203.0.113.7", true},
		{[]string{"[2001:db8::5]:443"}, 1, "2001:db8::5", true},
		{[]string{"2001:db8::5"}, 1, "2001:db8::5", true},
		{[]string{"10.0.0.1:1, 203.0.113.7:2, 198.51.100.9:3"}, 2, "203.0.113.7", true},
		{nil, 1, "", false},
		{[]string{"garbage"}, 1, "", false},
		{[]string{"203.0.113.7:1"}, 2, "", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/api/adminconsent", nil)
		r.RemoteAddr = "127.0.0.1:9999"
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, err := ClientIP(r, tc.hops)
		if (err == nil) != tc.ok || (tc.ok && got != netip.MustParseAddr(tc.want)) {
			t.Errorf("XFF %v hops %d: got %v, %v", tc.xff, tc.hops, got, err)
		}
	}
}
