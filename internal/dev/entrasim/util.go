package entrasim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

const (
	graphResource     = "https://graph.microsoft.com"
	graphAppID        = "00000003-0000-0000-c000-000000000000"
	graphDefaultScope = graphResource + "/.default"
)

// permission is one Microsoft Graph permission (reference identity-graph.md §3).
type permission struct {
	name        string
	id          string
	kind        string // "Application" (app role) or "Delegated" (scope)
	description string // admin-consent display text
	required    bool   // requested from customer tenants
}

// permissions is an immutable table.
var permissions = []permission{
	{"User.Read.All", "df021288-bdef-4463-88db-98f22de89214", "Application", "Read all users' full profiles", true},
	{"Calls.Initiate.All", "284383ee-7f6e-4e40-a2a8-e85dcb029101", "Application", "Initiate outgoing 1 to 1 calls from the app", true},
	{"Calls.InitiateGroupCall.All", "4c277553-8a09-487b-8023-29ee378d8324", "Application", "Initiate outgoing group calls from the app", true},
	{"Calls.JoinGroupCall.All", "f6b49018-60ab-4f81-83bd-22caeabfed2d", "Application", "Join group calls and meetings as an app", true},
	{"Calls.JoinGroupCallAsGuest.All", "fd7ccf6b-3d28-418b-9701-cd10f5cd2fd4", "Application", "Join group calls and meetings as a guest", true},
	{"Calls.AccessMedia.All", "a7a681dc-756e-4909-b988-f160edc6655f", "Application", "Access media streams in a call as an app", true},
	{"OnlineMeetings.Read.All", "c1684f21-1984-47fa-9d61-2dc8c296bb70", "Application", "Read online meeting details", true},
	{"OnlineMeetings.ReadWrite.All", "b8bb2037-6e08-44ac-a4ea-4674e010e2a4", "Application", "Read and create online meetings", true},
	{"User.Read", "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "Delegated", "Sign in and read user profile", true},
	{"Mail.Send", "b633e1c5-b582-4048-a93e-9f11b44c7e96", "Application", "Send mail as any user", false},
}

// appRoleID maps a role name to its Graph app-role ID. Names outside the table
// (set through SetRoles) get a stable made-up ID so assignments stay listable.
func appRoleID(name string) string {
	for _, p := range permissions {
		if p.kind == "Application" && strings.EqualFold(p.name, name) {
			return p.id
		}
	}
	sum := sha256.Sum256([]byte("sandbox-role:" + name))
	return formatGUID(sum[:16])
}

func formatGUID(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:16])
	return string(buf[:])
}

// encodeQuery encodes key/value pairs in the given order (url.Values sorts),
// skipping empty values.
func encodeQuery(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(kv[i]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(kv[i+1]))
	}
	return b.String()
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func hasRole(roles []string, want ...string) bool {
	for _, r := range roles {
		for _, w := range want {
			if strings.EqualFold(r, w) {
				return true
			}
		}
	}
	return false
}
