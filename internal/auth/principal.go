package auth

import (
	"fmt"
	"slices"
)

// App roles defined on the admin API's app registration.
const (
	RoleRead      = "Tenants.Read"
	RoleReadWrite = "Tenants.ReadWrite"
)

// Principal is the authenticated caller: a user (delegated token) or an
// application (app-only token) of the operator tenant.
type Principal struct {
	ObjectID string   // oid: the user's or service principal's object ID (stable; use for audit)
	Name     string   // name (users) or app_displayname / azp / appid (apps)
	TenantID string   // tid
	AppID    string   // azp (v2) or appid (v1): the client application that obtained the token
	Roles    []string // roles: app roles granted to the caller on this API
	Subject  string   // sub: pairwise per application, not the same as ObjectID
}

// HasRole reports whether p holds role, directly or through a role that
// implies it (Tenants.ReadWrite implies Tenants.Read).
func (p Principal) HasRole(role string) bool {
	if role == "" {
		return false
	}
	for _, granted := range p.Roles {
		if granted == role || slices.Contains(impliedRoles(granted), role) {
			return true
		}
	}
	return false
}

// impliedRoles lists the roles a granted role confers besides itself.
func impliedRoles(granted string) []string {
	switch granted {
	case RoleReadWrite:
		return []string{RoleRead}
	default:
		return nil
	}
}

// Require returns nil when p holds role, else an error wrapping ErrForbidden
// (a *MissingRoleError) naming the missing role.
func Require(p Principal, role string) error {
	if p.HasRole(role) {
		return nil
	}
	return fmt.Errorf("principal %q: %w", p.ObjectID, &MissingRoleError{Role: role})
}
