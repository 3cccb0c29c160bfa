import { describe, expect, it } from 'vitest';
import { accessFromRoles, rolesFromToken } from './roles';
import { ApiError, describeError, fieldErrorMap } from './errors';
import { clearForm, loadForm, saveForm, type Store } from './formstate';
import { editStateFrom, isEditState, patchBody } from './editform';
import { parseConfig } from './config';
import { parseHash, href } from './router';
import type { Tenant } from './api/client';

function jwt(claims: object): string {
  const b64 = (o: object) => btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify(o)))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${b64({ alg: 'RS256' })}.${b64(claims)}.sig`;
}

describe('role gating', () => {
  it('offers actions only with Tenants.ReadWrite', () => {
    expect(accessFromRoles(['Tenants.ReadWrite'])).toMatchObject({ canRead: true, canWrite: true });
    expect(accessFromRoles(['Tenants.Read'])).toMatchObject({ canRead: true, canWrite: false });
    expect(accessFromRoles([])).toMatchObject({ canRead: false, canWrite: false });
    expect(accessFromRoles(['tenants.readwrite'])).toMatchObject({ canWrite: false }); // role values are case-sensitive
  });
  it('reads roles from the access token', () => {
    expect(rolesFromToken(jwt({ roles: ['Tenants.Read'], name: 'Zoë' }))).toEqual(['Tenants.Read']);
    expect(rolesFromToken(jwt({ scp: 'x' }))).toEqual([]);
    expect(rolesFromToken('not-a-jwt')).toEqual([]);
  });
});

describe('error formatting', () => {
  it('shows the problem detail in plain words', () => {
    const e = new ApiError(409, { type: 'urn:onemeeting-cvi:problem:conflict', title: 'Conflict', status: 409, detail: 'the tenant is offboarded' }, 'x');
    expect(describeError(e)).toBe('the tenant is offboarded.');
    expect(e.retryable).toBe(false);
  });
  it('falls back to the title, then to a plain description of the status', () => {
    expect(describeError(new ApiError(400, { title: 'Bad request', status: 400 }, 'x'))).toBe('Bad request.');
    expect(describeError(new ApiError(403, undefined, 'x'))).toBe('Your role does not allow this.');
  });
  it('marks network failures and 5xx as retryable with a retry hint', () => {
    const net = new ApiError(0, undefined, 'x');
    expect(net.retryable).toBe(true);
    expect(describeError(net)).toMatch(/network/);
    const busy = new ApiError(503, { detail: 'storage is unavailable', status: 503 }, 'x', '5');
    expect(busy.retryable).toBe(true);
    expect(describeError(busy)).toBe('storage is unavailable. Retry in 5 s.');
  });
  it('maps field errors by field', () => {
    const e = new ApiError(400, { status: 400, errors: [{ field: 'allowedIps[0]', message: 'not an IP' }, { field: 'allowedIps[0]', message: 'private' }] }, 'x');
    expect(fieldErrorMap(e).get('allowedIps[0]')).toBe('not an IP; private');
  });
});

class MemStore implements Store {
  m = new Map<string, string>();
  getItem(k: string) {
    return this.m.get(k) ?? null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, v);
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

const tenant: Tenant = {
  tenantId: '3f2b8c1e-6d4a-4b7e-9a51-2c0d7e8f9a10', status: 'Consented', customerName: 'Contoso', region: 'eu', appId: 'a', tenantKey: 'k@d', tenantKeyCode: 'k',
  instructionUri: 'https://x/k', allowedIps: ['203.0.113.7', '198.51.100.16/28'], contacts: [{ email: 'a@contoso.com', role: 'admin', name: 'A' }],
  verificationPending: false, consecutiveCheckFailures: 0, createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z', etag: 'W/"1"',
};

describe('form persistence', () => {
  it('keeps a half-filled edit form across a reload (sign-in redirect) until cleared', () => {
    const s = new MemStore();
    const form = { ...editStateFrom(tenant), ips: '203.0.113.9\n' };
    saveForm('edit.x', form, s);
    expect(loadForm('edit.x', isEditState, s)).toEqual(form);
    clearForm('edit.x', s);
    expect(loadForm('edit.x', isEditState, s)).toBeUndefined();
  });
  it('drops stored state of the wrong shape', () => {
    const s = new MemStore();
    saveForm('edit.x', { tenantId: 1 }, s);
    expect(loadForm('edit.x', isEditState, s)).toBeUndefined();
    expect(s.m.size).toBe(0);
  });
  it('builds the PATCH body from the form', () => {
    const f = { ...editStateFrom(tenant), ips: ' 203.0.113.9 \n\n198.51.100.0/24, 192.0.2.1', contacts: [{ name: '', email: 'b@c.com', role: 'admin' as const }, { name: ' ', email: ' ', role: 'billing' as const }] };
    expect(patchBody(f)).toEqual({ allowedIps: ['203.0.113.9', '198.51.100.0/24', '192.0.2.1'], contacts: [{ email: 'b@c.com', role: 'admin' }] });
  });
});

describe('config and routes', () => {
  it('validates config.json', () => {
    expect(() => parseConfig({ authority: 'https://a', clientId: 'c', scopes: [], apiBase: '/api/admin' })).toThrow(/scopes/);
    expect(parseConfig({ authority: 'https://a', clientId: 'c', scopes: ['s'], apiBase: '/api/admin/', sandbox: true })).toMatchObject({ apiBase: '/api/admin', environment: 'SANDBOX' });
  });
  it('round-trips hash routes', () => {
    const r = parseHash(href('/tenants', { q: 'con to', status: ['Degraded', 'Revoked'] }));
    expect(r.path).toEqual(['tenants']);
    expect(r.query.get('q')).toBe('con to');
    expect(r.query.getAll('status')).toEqual(['Degraded', 'Revoked']);
  });
});
