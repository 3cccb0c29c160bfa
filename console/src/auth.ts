import { PublicClientApplication, CacheLookupPolicy, type AccountInfo } from '@azure/msal-browser';
import type { ConsoleConfig } from './config';
import { accessFromRoles, rolesFromToken, type Access } from './roles';

const RETURN_KEY = 'cvi-console.return-hash';

/** Thrown when the browser is leaving for the sign-in page; callers just stop. */
export class Redirecting extends Error {
  constructor() {
    super('Signing in again…');
  }
}

export interface Session {
  account: AccountInfo;
  access: Access;
  getToken(forceRefresh?: boolean): Promise<string>;
  signOut(): Promise<void>;
}

// Sign-in with Microsoft Entra ID (authorization code + PKCE, redirect flow) through msal-browser.
export class Auth {
  private constructor(
    private readonly pca: PublicClientApplication,
    private readonly cfg: ConsoleConfig,
  ) {}

  static async start(cfg: ConsoleConfig): Promise<Auth> {
    const pca = new PublicClientApplication({
      auth: {
        clientId: cfg.clientId,
        authority: cfg.authority,
        knownAuthorities: cfg.knownAuthorities,
        redirectUri: cfg.redirectUri ?? new URL('/console/', location.origin).toString(),
        // We return to the screen ourselves (RETURN_KEY), which works with hash routes.
        navigateToLoginRequestUrl: false,
      },
      cache: { cacheLocation: 'sessionStorage' },
    });
    await pca.initialize();
    const result = await pca.handleRedirectPromise();
    if (result?.account) pca.setActiveAccount(result.account);
    if (result) {
      const back = sessionStorage.getItem(RETURN_KEY);
      sessionStorage.removeItem(RETURN_KEY);
      history.replaceState(null, '', back && back.startsWith('#/') ? back : '#/');
    }
    return new Auth(pca, cfg);
  }

  account(): AccountInfo | undefined {
    return this.pca.getActiveAccount() ?? this.pca.getAllAccounts()[0];
  }

  async signIn(): Promise<never> {
    sessionStorage.setItem(RETURN_KEY, location.hash || '#/');
    await this.pca.loginRedirect({ scopes: this.cfg.scopes, prompt: 'select_account' });
    throw new Redirecting();
  }

  /** A token for the admin API: from the cache, renewed silently with the refresh token, else by redirect. */
  async token(forceRefresh = false): Promise<string> {
    const account = this.account();
    if (!account) return this.signIn();
    try {
      const r = await this.pca.acquireTokenSilent({
        scopes: this.cfg.scopes,
        account,
        forceRefresh,
        // No hidden iframe: the CSP's frame-ancestors 'none' at the authority makes it time out.
        cacheLookupPolicy: forceRefresh ? CacheLookupPolicy.RefreshToken : CacheLookupPolicy.AccessTokenAndRefreshToken,
      });
      return r.accessToken;
    } catch {
      // Renewal failed (refresh token expired or revoked): sign in again. Open forms keep their state
      // in sessionStorage, so nothing typed is lost.
      sessionStorage.setItem(RETURN_KEY, location.hash || '#/');
      await this.pca.acquireTokenRedirect({ scopes: this.cfg.scopes, account });
      throw new Redirecting();
    }
  }

  async session(): Promise<Session | undefined> {
    const account = this.account();
    if (!account) return undefined;
    const token = await this.token();
    return {
      account,
      access: accessFromRoles(rolesFromToken(token)),
      getToken: (f) => this.token(f),
      signOut: async () => {
        await this.pca.clearCache({ account });
        location.hash = '#/';
        location.reload();
      },
    };
  }
}
