import type { Contact, Tenant } from './api/client';

// The edit form of a tenant's admin IPs and contacts, as kept in sessionStorage while being edited.
export interface EditState {
  tenantId: string;
  etag: string;
  ips: string;
  contacts: { name: string; email: string; role: Contact['role'] }[];
}

export function editStateFrom(t: Tenant): EditState {
  return {
    tenantId: t.tenantId,
    etag: t.etag,
    ips: t.allowedIps.join('\n'),
    contacts: t.contacts.map((c) => ({ name: c.name ?? '', email: c.email, role: c.role })),
  };
}

export function isEditState(x: unknown): x is EditState {
  if (typeof x !== 'object' || x === null) return false;
  const e = x as Record<string, unknown>;
  return (
    typeof e.tenantId === 'string' &&
    typeof e.etag === 'string' &&
    typeof e.ips === 'string' &&
    Array.isArray(e.contacts) &&
    e.contacts.every((c) => typeof c === 'object' && c !== null && typeof (c as Contact).email === 'string' && typeof (c as Contact).role === 'string')
  );
}

/** The PATCH body: one IP or range per line (commas also split), blank contact rows dropped. */
export function patchBody(e: EditState): { allowedIps: string[]; contacts: Contact[] } {
  return {
    allowedIps: e.ips
      .split(/[\n,]/)
      .map((s) => s.trim())
      .filter(Boolean),
    contacts: e.contacts
      .filter((c) => c.email.trim() || c.name.trim())
      .map((c) => (c.name.trim() ? { name: c.name.trim(), email: c.email.trim(), role: c.role } : { email: c.email.trim(), role: c.role })),
  };
}
