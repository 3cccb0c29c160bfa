// Runtime configuration, served by the function app at /console/config.json (no inline script under the CSP).
export interface ConsoleConfig {
  /** Entra ID authority, e.g. https://login.microsoftonline.com/<tenant> or the sandbox's TLS URL. */
  authority: string;
  /** The console's SPA app registration (client ID). */
  clientId: string;
  /** Scopes to request for the admin API, e.g. ["api://<admin api client id>/.default"]. */
  scopes: string[];
  /** The admin API base path or URL, e.g. "/api/admin". */
  apiBase: string;
  /** Where Entra ID sends the browser back (defaults to <origin>/console/). */
  redirectUri?: string;
  /** Hosts msal-browser may trust as authorities besides login.microsoftonline.com (the sandbox). */
  knownAuthorities?: string[];
  /** Shown in the header, e.g. "SANDBOX". */
  environment?: string;
}

export function parseConfig(raw: unknown): ConsoleConfig {
  if (typeof raw !== 'object' || raw === null) throw new Error('config.json is not a JSON object');
  const c = raw as Record<string, unknown>;
  const str = (k: string) => {
    const v = c[k];
    if (typeof v !== 'string' || v === '') throw new Error(`config.json: "${k}" must be a non-empty string`);
    return v;
  };
  const scopes = c.scopes;
  if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => typeof s === 'string')) {
    throw new Error('config.json: "scopes" must be a non-empty list of strings');
  }
  const known = c.knownAuthorities;
  return {
    authority: str('authority'),
    clientId: str('clientId'),
    scopes: scopes as string[],
    apiBase: str('apiBase').replace(/\/+$/, ''),
    redirectUri: typeof c.redirectUri === 'string' ? c.redirectUri : undefined,
    knownAuthorities: Array.isArray(known) ? known.filter((k): k is string => typeof k === 'string') : undefined,
    environment: typeof c.environment === 'string' ? c.environment : c.sandbox === true ? 'SANDBOX' : undefined,
  };
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch(new URL('config.json', document.baseURI).toString(), { cache: 'no-store' });
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  return parseConfig(await res.json());
}
