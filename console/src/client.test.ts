import { afterEach, describe, expect, it, vi } from 'vitest';
import { makeClient, unwrap } from './api/client';
import { ApiError } from './errors';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

function json(status: number, body: unknown, type = 'application/json') {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}

describe('API client', () => {
  it('retries a 401 once with a renewed token', async () => {
    const seen: string[] = [];
    globalThis.fetch = vi.fn(async (req: Request) => {
      seen.push(req.headers.get('Authorization') ?? '');
      return seen.length === 1 ? json(401, { type: 'urn:onemeeting-cvi:problem:unauthenticated', title: 'Unauthorized', status: 401 }, 'application/problem+json') : json(200, { items: [], continuation: null });
    }) as typeof fetch;
    const token = vi.fn(async (force?: boolean) => (force ? 'fresh' : 'stale'));
    const api = makeClient('http://x/api/admin', token);
    const { data } = await unwrap(api.GET('/rejections', {}));
    expect(data.items).toEqual([]);
    expect(seen).toEqual(['Bearer stale', 'Bearer fresh']);
    expect(token).toHaveBeenLastCalledWith(true);
  });
  it('turns problem+json into an ApiError with its detail and field errors', async () => {
    globalThis.fetch = vi.fn(async () =>
      json(400, { type: 'urn:onemeeting-cvi:problem:validation', title: 'Bad request', status: 400, detail: 'allowedIps[0] is not an IP', errors: [{ field: 'allowedIps[0]', message: 'not an IP' }] }, 'application/problem+json'),
    ) as typeof fetch;
    const api = makeClient('http://x/api/admin', async () => 't');
    const err = await unwrap(api.GET('/rejections', {})).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(400);
    expect(err.problem.detail).toBe('allowedIps[0] is not an IP');
    expect(err.fieldErrors()).toEqual([{ field: 'allowedIps[0]', message: 'not an IP' }]);
  });
  it('reports a lost network as a retryable ApiError with status 0', async () => {
    globalThis.fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    const api = makeClient('http://x/api/admin', async () => 't');
    const err = await unwrap(api.GET('/rejections', {})).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(0);
    expect(err.retryable).toBe(true);
  });
});
