import { render } from 'preact';
import { loadConfig } from './config';
import { Auth, Redirecting } from './auth';
import { makeClient } from './api/client';
import { App, Fatal, SignIn } from './app';
import { describeError } from './errors';

const root = document.getElementById('app')!;

async function start(): Promise<void> {
  let cfg;
  try {
    cfg = await loadConfig();
  } catch (e) {
    render(<Fatal message={`The console configuration could not be loaded: ${describeError(e)}`} onRetry={() => void start()} />, root);
    return;
  }
  const env = cfg.environment;
  let auth: Auth;
  try {
    auth = await Auth.start(cfg);
  } catch (e) {
    render(<SignIn environment={env} error={`Sign-in failed: ${describeError(e)}`} onSignIn={() => location.reload()} />, root);
    return;
  }
  const signIn = () => void auth.signIn().catch((e) => !(e instanceof Redirecting) && render(<SignIn environment={env} error={describeError(e)} onSignIn={signIn} />, root));
  try {
    const session = await auth.session();
    if (!session) {
      render(<SignIn environment={env} onSignIn={signIn} />, root);
      return;
    }
    const api = makeClient(cfg.apiBase, session.getToken);
    render(<App ctx={{ api, access: session.access, apiBase: cfg.apiBase, token: session.getToken }} session={session} environment={env} />, root);
  } catch (e) {
    if (e instanceof Redirecting) return;
    render(<SignIn environment={env} error={describeError(e)} onSignIn={signIn} />, root);
  }
}

void start();
