package tablestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/onemeeting/cvi-onboarding/internal/domain"
)

func TestEntityLimits(t *testing.T) {
	t.Parallel()
	check := func(e *entity) error { _, err := e.marshal(); return err }

	// Property count: 252 custom properties pass, 253 fail.
	e := newEntity("t", "pk", "rk")
	for i := range maxCustomProps {
		e.int32(fmt.Sprintf("P%d", i), i)
	}
	must(t, check(e))
	wantCode(t, check(e.int32("OneTooMany", 1)), domain.CodeInvalid)

	// String size is counted in UTF-16: 32768 ASCII chars = 64 KiB pass.
	must(t, check(newEntity("t", "pk", "").str("S", strings.Repeat("a", 32768))))
	wantCode(t, check(newEntity("t", "pk", "").str("S", strings.Repeat("a", 32769))), domain.CodeInvalid)
	// A non-BMP rune is two UTF-16 units (4 bytes), though 4 bytes in UTF-8 too.
	must(t, check(newEntity("t", "pk", "").str("S", strings.Repeat("😀", 16384))))
	wantCode(t, check(newEntity("t", "pk", "").str("S", strings.Repeat("😀", 16384)+"a")), domain.CodeInvalid)
	// 'é' is 2 bytes in UTF-8 but one UTF-16 unit: 32768 of them still fit.
	must(t, check(newEntity("t", "pk", "").str("S", strings.Repeat("é", 32768))))

	// Whole entity: 16 properties of 64 KiB exceed 1 MiB; 15 do not.
	big := strings.Repeat("a", 32766)
	e = newEntity("t", "pk", "rk")
	for i := range 15 {
		e.str(fmt.Sprintf("S%02d", i), big)
	}
	must(t, check(e))
	e.str("S15", big)
	err := check(e)
	wantCode(t, err, domain.CodeInvalid)
	if !strings.Contains(err.Error(), "1048576") {
		t.Fatalf("error %q does not state the limit", err)
	}

	// Keys.
	wantCode(t, check(newEntity("t", "a/b", "")), domain.CodeInvalid)
	wantCode(t, check(newEntity("t", "a", "x#y")), domain.CodeInvalid)
	wantCode(t, check(newEntity("t", "a\tb", "")), domain.CodeInvalid)
	wantCode(t, check(newEntity("t", "", "")), domain.CodeInvalid)
	wantCode(t, check(newEntity("t", strings.Repeat("k", 513), "")), domain.CodeInvalid)
	must(t, check(newEntity("t", strings.Repeat("k", 512), "")))

	// Invalid UTF-8 and repeated names.
	wantCode(t, check(newEntity("t", "pk", "").str("S", "\xff")), domain.CodeInvalid)
	wantCode(t, check(newEntity("t", "pk", "").str("S", "a").str("S", "b")), domain.CodeInvalid)
}

func TestEntityEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 3600))
	b, err := newEntity("t", "pk", "rk").str("S", "v").str("Empty", "").time("T", at).time("Zero", time.Time{}).
		int64("N", 1<<40).boolean("B", true).boolean("F", false).marshal()
	must(t, err)
	got := string(b)
	for _, want := range []string{`"T":"2025-01-02T02:04:05.1234567Z"`, `"T@odata.type":"Edm.DateTime"`, `"N":"1099511627776"`, `"N@odata.type":"Edm.Int64"`, `"B":true`} {
		if !strings.Contains(got, want) {
			t.Fatalf("%s lacks %s", got, want)
		}
	}
	for _, absent := range []string{"Empty", "Zero", `"F"`} {
		if strings.Contains(got, absent) {
			t.Fatalf("%s holds %s", got, absent)
		}
	}
	r := decodeRow("t", b, "")
	if r.time("T") != storedTime(at) || r.int64("N") != 1<<40 || !r.boolean("B") || r.str("S") != "v" || r.err != nil {
		t.Fatalf("decode: %v %v %v %v", r.time("T"), r.int64("N"), r.boolean("B"), r.err)
	}
	bad := decodeRow("t", []byte(`{"T":"yesterday"}`), "")
	_ = bad.time("T")
	wantCode(t, bad.err, domain.CodeInternal)
}

func TestEscapeKey(t *testing.T) {
	t.Parallel()
	inputs := []string{"plain-key:1", "a/b", "a%2Fb", "a\\b", "#?", "\x00\x1f\x7f", "\u0085", "~x", "é", "a b", "'", strings.Repeat("x", 1000), strings.Repeat("y", 1000)}
	seen := map[string]string{}
	for _, in := range inputs {
		k := escapeKey(in)
		if err := checkKey("k", k, false); err != nil {
			t.Fatalf("escapeKey(%q) = %q is not a valid key: %v", in, k, err)
		}
		if len(k) > maxEscapedKey+2 {
			t.Fatalf("escapeKey(%q) is %d long", in, len(k))
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("escapeKey(%q) == escapeKey(%q) == %q", in, prev, k)
		}
		seen[k] = in
	}
	if escapeKey("consent-link:abc:1") != "consent-link:abc:1" || escapeKey("a/b") != "a%2Fb" {
		t.Fatal("common keys should stay readable")
	}
	if !strings.HasPrefix(escapeKey(strings.Repeat("x", 1000)), "~") {
		t.Fatal("long keys should be hashed")
	}
}

func TestPlanBatchesObeysAzureRules(t *testing.T) {
	t.Parallel()
	var ops []batchOp
	for i := range 250 {
		pk := fmt.Sprintf("p%d", i%3)
		ops = append(ops, upsertOp(newEntity("t", pk, fmt.Sprintf("r%d", i)).str("V", "x")))
	}
	ops = append(ops, deleteOp("t", "p0", "r0")) // same row twice: must not share a transaction
	batches, err := planBatches(ops)
	must(t, err)
	total := 0
	for _, b := range batches {
		if len(b.actions) == 0 || len(b.actions) > maxBatchOps {
			t.Fatalf("batch of %d operations", len(b.actions))
		}
		rows := map[string]bool{}
		for _, a := range b.actions {
			s := string(a.Entity)
			if !strings.Contains(s, `"PartitionKey":"`+b.pk+`"`) {
				t.Fatalf("batch for %s holds %s", b.pk, s)
			}
			if rows[s[strings.Index(s, `"RowKey"`):]] {
				t.Fatalf("row twice in one batch: %s", s)
			}
			rows[s[strings.Index(s, `"RowKey"`):]] = true
		}
		total += len(b.actions)
	}
	if total != len(ops) {
		t.Fatalf("planned %d operations of %d", total, len(ops))
	}

	// Size: 100 entities of ~50 KB exceed 4 MB and are split.
	ops = nil
	for i := range 100 {
		ops = append(ops, upsertOp(newEntity("t", "p", fmt.Sprint(i)).str("V", strings.Repeat("z", 25000)).str("W", strings.Repeat("z", 25000))))
	}
	batches, err = planBatches(ops)
	must(t, err)
	if len(batches) < 2 {
		t.Fatalf("%d batches for 100×50 KB; want a split below 4 MB", len(batches))
	}
	for _, b := range batches {
		size := 0
		for _, a := range b.actions {
			size += len(a.Entity)
		}
		if size > maxBatchBytes {
			t.Fatalf("batch of %d bytes", size)
		}
	}
	// An invalid entity fails planning, before anything is sent.
	_, err = planBatches([]batchOp{upsertOp(newEntity("t", "a/b", ""))})
	wantCode(t, err, domain.CodeInvalid)
	if aztables.TransactionTypeDelete != deleteOp("t", "p", "r").kind {
		t.Fatal("deleteOp kind")
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	resp := func(status int, code string) error {
		return &azcore.ResponseError{StatusCode: status, ErrorCode: code}
	}
	cases := []struct {
		err  error
		want domain.Code
	}{
		{resp(404, "ResourceNotFound"), domain.CodeNotFound},
		{resp(409, "EntityAlreadyExists"), domain.CodeConflict},
		{resp(409, "TableBeingDeleted"), domain.CodeUnavailable},
		{resp(412, "UpdateConditionNotSatisfied"), domain.CodePreconditionFailed},
		{resp(429, ""), domain.CodeUnavailable},
		{resp(503, "ServerBusy"), domain.CodeUnavailable},
		{resp(500, ""), domain.CodeUnavailable},
		{resp(400, "InvalidInput"), domain.CodeInternal},
		{resp(403, "AuthorizationPermissionMismatch"), domain.CodeInternal},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, domain.CodeUnavailable},
		{fmt.Errorf("x: %w", syscall.ECONNRESET), domain.CodeUnavailable},
		{context.DeadlineExceeded, domain.CodeUnavailable},
		{io.ErrUnexpectedEOF, domain.CodeUnavailable},
		{errors.New("something odd"), domain.CodeInternal},
	}
	for _, c := range cases {
		err := classify(c.err, "op on %s", "table")
		if got := domain.ErrorCode(err); got != c.want {
			t.Errorf("classify(%v) = %s; want %s", c.err, got, c.want)
		}
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), "op on table") {
			t.Errorf("classify(%v) = %v lost the cause or the context", c.err, err)
		}
	}

	// A failed transaction: outer 202, inner 409.
	body := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n--changesetresponse_2\r\n" +
		"Content-Type: application/http\r\n\r\nHTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n{}\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n"
	raw := &http.Response{StatusCode: 202, Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}}
	if got := domain.ErrorCode(classify(&azcore.ResponseError{StatusCode: 202, RawResponse: raw}, "tx")); got != domain.CodeConflict {
		t.Fatalf("transaction failure classified %s; want conflict", got)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tok := encodeToken("k", "a", "1!8!b-c*")
	parts, err := decodeToken(tok, "k", 2)
	must(t, err)
	// A quote is never in a service continuation (issue 11, item 10).
	_, err = decodeToken(encodeToken("k", "a", "b'c"), "k", 2)
	wantCode(t, err, domain.CodeInvalid)
	if parts[0] != "a" || parts[1] != "1!8!b-c*" {
		t.Fatalf("parts %v", parts)
	}
	_, err = decodeToken(tok, "other", 2)
	wantCode(t, err, domain.CodeInvalid)
	_, err = decodeToken(tok, "k", 3)
	wantCode(t, err, domain.CodeInvalid)
	_, err = decodeToken("%%%", "k", 2)
	wantCode(t, err, domain.CodeInvalid)
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not base64url", tok)
	}
}
