// App roles of the admin API (see internal/adminapi/openapi.yaml): the UI offers what the roles allow;
// the API enforces them regardless.
export const READ = 'Tenants.Read';
export const READ_WRITE = 'Tenants.ReadWrite';

export interface Access {
  canRead: boolean;
  canWrite: boolean;
  label: string;
}

export function accessFromRoles(roles: readonly string[] | undefined): Access {
  const r = new Set(roles ?? []);
  const canWrite = r.has(READ_WRITE);
  const canRead = canWrite || r.has(READ);
  return { canRead, canWrite, label: canWrite ? 'read and write' : canRead ? 'read only' : 'no access' };
}

/** The roles claim of a JWT access token (decoded only to choose what to show; never trusted for access). */
export function rolesFromToken(token: string): string[] {
  const part = token.split('.')[1];
  if (!part) return [];
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    const claims = JSON.parse(json) as { roles?: unknown };
    return Array.isArray(claims.roles) ? claims.roles.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
