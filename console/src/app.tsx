import { useEffect, useState } from 'preact/hooks';
import { AppCtx, type Ctx } from './ctx';
import type { Session } from './auth';
import { useRoute, href, type Route } from './router';
import { Overview } from './overview';
import { Tenants } from './tenants';
import { TenantDetail } from './detail';
import { Audit, Rejections, RunDetail, Runs } from './records';

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/tenants', 'Tenants'],
  ['/rejections', 'Rejected requests'],
  ['/runs', 'Re-validation runs'],
  ['/audit', 'Audit log'],
];

function Screen({ route }: { route: Route }) {
  const [a, b] = route.path;
  if (!a) return <Overview />;
  if (a === 'tenants' && b) return <TenantDetail id={b} />;
  if (a === 'tenants') return <Tenants route={route} />;
  if (a === 'rejections') return <Rejections route={route} />;
  if (a === 'runs' && b) return <RunDetail id={b} />;
  if (a === 'runs') return <Runs route={route} />;
  if (a === 'audit') return <Audit route={route} />;
  return (
    <section>
      <h1>Not found</h1>
      <p>
        There is no such screen. <a href="#/">Go to the overview</a>.
      </p>
    </section>
  );
}

export function App({ ctx, session, environment }: { ctx: Ctx; session: Session; environment?: string }) {
  const route = useRoute();
  const [offline, setOffline] = useState(!navigator.onLine);
  useEffect(() => {
    const on = () => setOffline(false);
    const off = () => setOffline(true);
    addEventListener('online', on);
    addEventListener('offline', off);
    return () => {
      removeEventListener('online', on);
      removeEventListener('offline', off);
    };
  }, []);
  const current = '/' + (route.path[0] ?? '');
  return (
    <AppCtx.Provider value={ctx}>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>
        Skip to content
      </a>
      <header class="top">
        <div class="brand">
          OneMeeting CVI console {environment ? <span class="env">{environment}</span> : null}
        </div>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([p, label]) => (
              <li key={p}>
                <a href={href(p)} aria-current={current === p ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span>
            {session.account.name ?? session.account.username} ({session.access.label})
          </span>{' '}
          <button class="btn btn-small" type="button" onClick={() => session.signOut()}>
            Sign out
          </button>
        </div>
      </header>
      {offline ? (
        <div class="banner banner-retry" role="alert">
          <p>You are offline. The console retries when the network is back.</p>
        </div>
      ) : null}
      <main id="main" tabIndex={-1}>
        {!session.access.canRead ? (
          <div class="notice notice-error" role="alert">
            <p>Your account has no role for the admin API (Tenants.Read or Tenants.ReadWrite). Ask an administrator to assign one.</p>
          </div>
        ) : (
          <Screen route={route} />
        )}
      </main>
    </AppCtx.Provider>
  );
}

export function SignIn({ onSignIn, environment, error }: { onSignIn: () => void; environment?: string; error?: string }) {
  return (
    <main id="main" class="signin">
      <h1>OneMeeting CVI operator console {environment ? <span class="env">{environment}</span> : null}</h1>
      <p>Sign in with your Microsoft Entra ID work account.</p>
      {error ? (
        <div class="notice notice-error" role="alert">
          <p>{error}</p>
        </div>
      ) : null}
      <button class="btn btn-primary" type="button" onClick={onSignIn}>
        Sign in
      </button>
    </main>
  );
}

export function Fatal({ message, onRetry }: { message: string; onRetry: () => void }) {
  return (
    <main id="main" class="signin">
      <h1>The console could not start</h1>
      <div class="banner banner-retry" role="alert">
        <p>{message}</p>
        <button class="btn" type="button" onClick={onRetry}>
          Retry
        </button>
      </div>
    </main>
  );
}
