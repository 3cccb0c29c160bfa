import { useState } from 'preact/hooks';
import { unwrap, type Rejection } from './api/client';
import { useCtx } from './ctx';
import { fieldErrorMap } from './errors';
import { clearForm, loadForm, saveForm } from './formstate';
import { href, type Route } from './router';
import { ErrorNotice, Loading, StatusBadge, fmtDate, useFocusHeading, useLoad } from './ui';

function usePaged(route: Route) {
  const cont = route.query.get('c') ?? undefined;
  const prev = route.query.getAll('p');
  return { cont, prev };
}

function Pager({ path, base, cont, prev, next }: { path: string; base: Record<string, string | undefined>; cont?: string; prev: string[]; next?: string | null }) {
  return (
    <nav class="pager" aria-label="Pages">
      {cont ? (
        <a class="btn" href={href(path, { ...base, c: prev[prev.length - 1] || undefined, p: prev.slice(0, -1) })}>
          Previous page
        </a>
      ) : null}
      {next ? (
        <a class="btn" href={href(path, { ...base, c: next, p: cont ? [...prev, cont] : prev })}>
          Next page
        </a>
      ) : null}
    </nav>
  );
}

/** The raw request as pretty JSON when it parses, else as it came. */
export function prettyBody(body: string | undefined): string {
  if (!body) return '';
  try {
    return JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    return body;
  }
}

export function Rejections({ route }: { route: Route }) {
  const { api, access } = useCtx();
  const h = useFocusHeading('rejections');
  const { cont, prev } = usePaged(route);
  const page = useLoad(async () => (await unwrap(api.GET('/rejections', { params: { query: { pageSize: 50, continuation: cont } } }))).data, [cont]);
  return (
    <section aria-labelledby="h-rej">
      <h1 id="h-rej" tabIndex={-1} ref={h}>
        Rejected provisioning requests
      </h1>
      <ErrorNotice error={page.error} onRetry={page.reload} context="Rejected requests" />
      <Loading show={page.loading} />
      {page.data && page.data.items.length === 0 ? <p>No rejected request.</p> : null}
      <ul class="cards-list">
        {(page.data?.items ?? []).map((r) => (
          <RejectionItem key={r.id} r={r} canWrite={access.canWrite} />
        ))}
      </ul>
      <Pager path="/rejections" base={{}} cont={cont} prev={prev} next={page.data?.continuation} />
    </section>
  );
}

function RejectionItem({ r, canWrite }: { r: Rejection; canWrite: boolean }) {
  const { api } = useCtx();
  const key = 'rejection.' + r.id;
  const [editing, setEditing] = useState(() => loadForm(key, (x): x is string => typeof x === 'string') !== undefined);
  const [text, setText] = useState(() => loadForm(key, (x): x is string => typeof x === 'string') ?? prettyBody(r.bodyPrefix));
  const [err, setErr] = useState<unknown>(null);
  const [parseErr, setParseErr] = useState('');
  const [result, setResult] = useState<string>('');
  const [busy, setBusy] = useState(false);
  const fe = [...fieldErrorMap(err).entries()];
  const submit = async (e: Event) => {
    e.preventDefault();
    setErr(null);
    setParseErr('');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (ex) {
      setParseErr(`The corrected request is not valid JSON: ${(ex as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      const { data } = await unwrap(api.POST('/tenants', { body }));
      clearForm(key);
      setEditing(false);
      setResult(`Tenant ${data.outcome}: ${data.tenant.customerName}`);
      location.hash = href('/tenants/' + data.tenant.tenantId);
    } catch (ex) {
      setErr(ex);
    } finally {
      setBusy(false);
    }
  };
  const tid = `rej-${r.id.replace(/[^a-zA-Z0-9_-]/g, '_')}`;
  return (
    <li class="card">
      <h2 class="h3">
        {fmtDate(r.at)} — {r.source}
        {r.requestId ? ` — ${r.requestId}` : ''}
      </h2>
      <p>
        {r.field ? (
          <>
            Field <code>{r.field}</code>:{' '}
          </>
        ) : null}
        {r.reason}
      </p>
      {r.tenantId ? (
        <p>
          Tenant: <a href={href('/tenants/' + r.tenantId)}>{r.tenantId}</a>
        </p>
      ) : null}
      <details>
        <summary>Raw request</summary>
        <pre class="raw">{r.bodyPrefix ?? '(empty)'}</pre>
      </details>
      {canWrite && r.source !== 'queue:email' ? (
        editing ? (
          <form onSubmit={submit} class="edit">
            <label for={tid}>Corrected request (provisioning v1 JSON)</label>
            <textarea
              id={tid}
              rows={12}
              class="mono"
              value={text}
              aria-invalid={!!parseErr || fe.length > 0}
              aria-describedby={`${tid}-err`}
              onInput={(e) => {
                const v = (e.target as HTMLTextAreaElement).value;
                setText(v);
                saveForm(key, v);
              }}
            />
            <div id={`${tid}-err`}>
              {parseErr ? <p class="field-error">{parseErr}</p> : null}
              <ErrorNotice error={err} context="Create tenant" />
              {fe.length ? (
                <ul class="field-error">
                  {fe.map(([f, m]) => (
                    <li key={f}>
                      <code>{f}</code>: {m}
                    </li>
                  ))}
                </ul>
              ) : null}
            </div>
            <div class="actions">
              <button class="btn btn-primary" type="submit" disabled={busy}>
                {busy ? 'Creating…' : 'Create tenant'}
              </button>
              <button
                class="btn"
                type="button"
                onClick={() => {
                  clearForm(key);
                  setEditing(false);
                }}
              >
                Cancel
              </button>
            </div>
          </form>
        ) : (
          <button class="btn" type="button" onClick={() => setEditing(true)}>
            Create tenant from a corrected request
          </button>
        )
      ) : null}
      {result ? <p role="status">{result}</p> : null}
    </li>
  );
}

export function Runs({ route }: { route: Route }) {
  const { api } = useCtx();
  const h = useFocusHeading('runs');
  const { cont, prev } = usePaged(route);
  const page = useLoad(async () => (await unwrap(api.GET('/revalidation-runs', { params: { query: { pageSize: 50, continuation: cont } } }))).data, [cont]);
  return (
    <section aria-labelledby="h-runs">
      <h1 id="h-runs" tabIndex={-1} ref={h}>
        Re-validation runs
      </h1>
      <ErrorNotice error={page.error} onRetry={page.reload} context="Runs" />
      <Loading show={page.loading} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Trigger</th>
              <th scope="col">Tenants</th>
              <th scope="col">Batches</th>
              <th scope="col">Checked</th>
              <th scope="col">Changes</th>
              <th scope="col">Transient failures</th>
            </tr>
          </thead>
          <tbody>
            {(page.data?.items ?? []).map((r) => (
              <tr key={r.runId}>
                <td>
                  <a href={href('/runs/' + encodeURIComponent(r.runId))}>{fmtDate(r.startedAt)}</a>
                </td>
                <td>{r.trigger}</td>
                <td>{r.tenants}</td>
                <td>{r.batches}</td>
                <td>{r.checked}</td>
                <td>{r.transitions}</td>
                <td>{r.transientFailures}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page.data && page.data.items.length === 0 ? <p>No run yet.</p> : null}
      <Pager path="/runs" base={{}} cont={cont} prev={prev} next={page.data?.continuation} />
    </section>
  );
}

export function RunDetail({ id }: { id: string }) {
  const { api } = useCtx();
  const h = useFocusHeading('run-' + id);
  const run = useLoad(async () => (await unwrap(api.GET('/revalidation-runs/{runId}', { params: { path: { runId: id } } }))).data, [id]);
  const d = run.data;
  return (
    <section aria-labelledby="h-run">
      <p>
        <a href={href('/runs')}>← Runs</a>
      </p>
      <h1 id="h-run" tabIndex={-1} ref={h}>
        Re-validation run {d ? fmtDate(d.run.startedAt) : id}
      </h1>
      <ErrorNotice error={run.error} onRetry={run.reload} context="Run" />
      <Loading show={run.loading && !d} />
      {d ? (
        <>
          <p>
            {d.run.trigger}: {d.state}, {Math.round(d.percent)} % — {d.run.tenants} tenants in {d.run.batches} batches, {d.run.checked} checked, {d.run.transitions}{' '}
            status changes, {d.run.transientFailures} transient failures. Listed {fmtDate(d.run.listedAt)}.
          </p>
          <progress max={100} value={d.percent} aria-label="Run progress" />
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col">Status</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Checked</th>
                  <th scope="col">Failure</th>
                </tr>
              </thead>
              <tbody>
                {d.tenants.map((t) => (
                  <tr key={t.tenantId}>
                    <td>
                      <a href={href('/tenants/' + t.tenantId)}>{t.customerName}</a>
                    </td>
                    <td>
                      <StatusBadge status={t.status} />
                    </td>
                    <td>
                      {t.lastCheckOutcome ?? '—'}
                      {t.missingRoles?.length ? ` (missing ${t.missingRoles.join(', ')})` : ''}
                    </td>
                    <td>{fmtDate(t.lastCheckAt)}</td>
                    <td>
                      {t.lastCheckError ?? ''}
                      {t.consecutiveCheckFailures ? ` (${t.consecutiveCheckFailures} in a row)` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {d.tenantsTruncated ? <p class="muted">Only the first 1000 tenants are shown.</p> : null}
        </>
      ) : null}
    </section>
  );
}

export function Audit({ route }: { route: Route }) {
  const { api } = useCtx();
  const h = useFocusHeading('audit');
  const { cont, prev } = usePaged(route);
  const actor = route.query.get('actor') ?? '';
  const action = route.query.get('action') ?? '';
  const from = route.query.get('from') ?? '';
  const to = route.query.get('to') ?? '';
  const [f, setF] = useState({ actor, action, from: from.slice(0, 16), to: to.slice(0, 16) });
  const page = useLoad(
    async () =>
      (
        await unwrap(
          api.GET('/events', {
            params: { query: { actor: actor || undefined, action: action || undefined, from: from || undefined, to: to || undefined, pageSize: 100, continuation: cont } },
          }),
        )
      ).data,
    [actor, action, from, to, cont],
  );
  const base = { actor: actor || undefined, action: action || undefined, from: from || undefined, to: to || undefined };
  const iso = (local: string) => (local ? new Date(local + 'Z').toISOString() : undefined);
  return (
    <section aria-labelledby="h-audit-log">
      <h1 id="h-audit-log" tabIndex={-1} ref={h}>
        Audit log
      </h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          location.hash = href('/audit', { actor: f.actor.trim() || undefined, action: f.action.trim() || undefined, from: iso(f.from), to: iso(f.to) });
        }}
      >
        <div class="field">
          <label for="f-actor">Actor</label>
          <input id="f-actor" value={f.actor} placeholder="operator:<object id>" onInput={(e) => setF({ ...f, actor: (e.target as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="f-action">Action</label>
          <input id="f-action" value={f.action} placeholder="tenant.suspended or consent." onInput={(e) => setF({ ...f, action: (e.target as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="f-from">From (UTC)</label>
          <input id="f-from" type="datetime-local" value={f.from} onInput={(e) => setF({ ...f, from: (e.target as HTMLInputElement).value })} />
        </div>
        <div class="field">
          <label for="f-to">To (UTC)</label>
          <input id="f-to" type="datetime-local" value={f.to} onInput={(e) => setF({ ...f, to: (e.target as HTMLInputElement).value })} />
        </div>
        <button class="btn btn-primary" type="submit">
          Filter
        </button>
      </form>
      <ErrorNotice error={page.error} onRetry={page.reload} context="Audit log" />
      <Loading show={page.loading} />
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Tenant</th>
              <th scope="col">Action</th>
              <th scope="col">Actor</th>
              <th scope="col">Change</th>
            </tr>
          </thead>
          <tbody>
            {(page.data?.items ?? []).map((e) => (
              <tr key={e.id}>
                <td>{fmtDate(e.at)}</td>
                <td>
                  <a class="mono" href={href('/tenants/' + e.tenantId)}>
                    {e.tenantId.slice(0, 8)}…
                  </a>
                </td>
                <td>{e.action}</td>
                <td>{e.actorName ? `${e.actorName} (${e.actor})` : e.actor}</td>
                <td>
                  {e.fromStatus || e.toStatus ? `${e.fromStatus ?? '?'} → ${e.toStatus ?? '?'}` : ''}
                  {e.reason ? ` “${e.reason}”` : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {page.data && page.data.items.length === 0 ? <p>No event matches.</p> : null}
      <Pager path="/audit" base={base} cont={cont} prev={prev} next={page.data?.continuation} />
    </section>
  );
}
