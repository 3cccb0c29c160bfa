import createClient from 'openapi-fetch';
import type { paths, components } from './schema';
import { ApiError, type Problem } from '../errors';

export type Schemas = components['schemas'];
export type Tenant = Schemas['Tenant'];
export type Status = Schemas['Status'];
export type AuditEvent = Schemas['AuditEvent'];
export type Contact = Schemas['Contact'];
export type Rejection = Schemas['Rejection'];
export type RevalidationRun = Schemas['RevalidationRun'];

export type TokenSource = (forceRefresh?: boolean) => Promise<string>;

/** The generated client for the admin API: a spec change that breaks a call breaks `tsc`. */
export function makeClient(baseUrl: string, token: TokenSource) {
  const client = createClient<paths>({
    baseUrl,
    // A 401 from an expired token is retried once with a renewed token.
    fetch: async (req: Request) => {
      const retry = req.clone();
      req.headers.set('Authorization', `Bearer ${await token()}`);
      let res = await safeFetch(req);
      if (res.status === 401) {
        retry.headers.set('Authorization', `Bearer ${await token(true)}`);
        res = await safeFetch(retry);
      }
      return res;
    },
  });
  return client;
}

async function safeFetch(req: Request): Promise<Response> {
  try {
    return await fetch(req);
  } catch {
    throw new ApiError(0, undefined, 'network unreachable');
  }
}

export type Client = ReturnType<typeof makeClient>;

/** Unwraps an openapi-fetch result: the data, or an ApiError carrying the problem+json. */
export async function unwrap<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<{ data: T; response: Response }> {
  const r = await p;
  if (r.response.ok && r.data !== undefined) return { data: r.data, response: r.response };
  if (r.response.ok) return { data: undefined as T, response: r.response };
  // openapi-fetch has already parsed the problem+json body into `error`.
  const problem = typeof r.error === 'object' && r.error !== null ? (r.error as Problem) : undefined;
  throw new ApiError(r.response.status, problem, `HTTP ${r.response.status}`, r.response.headers.get('Retry-After') ?? undefined);
}
