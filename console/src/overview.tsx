import { unwrap, type Schemas } from './api/client';
import { useCtx } from './ctx';
import { href } from './router';
import { ErrorNotice, Loading, StatusBadge, fmtDate, useFocusHeading, useLoad } from './ui';

const STATUSES = ['Provisioned', 'Consented', 'Degraded', 'Revoked', 'Suspended', 'Offboarded'] as const;

export function fmtSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined) return '—';
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  const h = s / 3600;
  return h < 48 ? `${h.toFixed(1)} h` : `${(h / 24).toFixed(1)} days`;
}

export function Overview() {
  const { api } = useCtx();
  const h = useFocusHeading('overview');
  const ov = useLoad(async () => (await unwrap(api.GET('/overview'))).data, []);
  const o = ov.data;
  return (
    <section aria-labelledby="h-overview">
      <h1 id="h-overview" tabIndex={-1} ref={h}>
        Overview
      </h1>
      <ErrorNotice error={ov.error} onRetry={ov.reload} context="Overview" />
      <Loading show={ov.loading && !o} />
      {o ? <OverviewBody o={o} /> : null}
    </section>
  );
}

function OverviewBody({ o }: { o: Schemas['Overview'] }) {
  const f = o.funnel;
  const run = o.lastRevalidationRun;
  return (
    <>
      <p class="muted">
        {o.total} tenants; computed {fmtDate(o.generatedAt)}.
      </p>
      <div class="cards">
        <section class="card" aria-labelledby="h-status">
          <h2 id="h-status">By status</h2>
          <dl class="counts">
            {STATUSES.map((s) => (
              <div key={s}>
                <dt>
                  <a href={href('/tenants', { status: s })}>{s}</a>
                </dt>
                <dd>{o.byStatus[s]}</dd>
              </div>
            ))}
          </dl>
        </section>
        <section class="card" aria-labelledby="h-region">
          <h2 id="h-region">By region</h2>
          <dl class="counts">
            {Object.entries(o.byRegion)
              .sort()
              .map(([r, n]) => (
                <div key={r}>
                  <dt>
                    <a href={href('/tenants', { region: r })}>{r}</a>
                  </dt>
                  <dd>{n}</dd>
                </div>
              ))}
          </dl>
        </section>
        <section class="card" aria-labelledby="h-funnel">
          <h2 id="h-funnel">Onboarding funnel</h2>
          <ol class="funnel">
            <li>Provisioned: {f.provisioned}</li>
            <li>Link opened: {f.linkOpened}</li>
            <li>Consented: {f.consented}</li>
            <li>Verified: {f.verified}</li>
          </ol>
          <p>
            Time to consent ({f.timeToConsent.count} tenants): median {fmtSeconds(f.timeToConsent.medianSeconds)}, p90 {fmtSeconds(f.timeToConsent.p90Seconds)}
          </p>
        </section>
        <section class="card" aria-labelledby="h-run">
          <h2 id="h-run">Last re-validation run</h2>
          {run ? (
            <>
              <p>
                <a href={href('/runs/' + encodeURIComponent(run.run.runId))}>{fmtDate(run.run.startedAt)}</a> ({run.run.trigger}): {run.state},{' '}
                {Math.round(run.percent)} % — {run.run.checked} of {run.run.tenants} checked, {run.run.transitions} status changes, {run.run.transientFailures}{' '}
                transient failures
              </p>
              <progress max={100} value={run.percent} aria-label="Run progress" />
            </>
          ) : (
            <p>No run yet.</p>
          )}
        </section>
      </div>
      <section aria-labelledby="h-attention">
        <h2 id="h-attention">
          Needs attention ({o.needsAttentionTotal})
        </h2>
        {o.needsAttention.length === 0 ? <p>Nothing needs attention.</p> : null}
        <ul class="attention">
          {o.needsAttention.map((a, i) => (
            <li key={i}>
              {a.kind === 'rejected-request' ? (
                <a href={href('/rejections')}>Rejected provisioning request</a>
              ) : a.tenantId ? (
                <a href={href('/tenants/' + a.tenantId)}>{a.customerName ?? a.tenantId}</a>
              ) : (
                <span>{a.customerName}</span>
              )}{' '}
              {a.status ? <StatusBadge status={a.status} /> : null} <span class="kind">{a.kind}</span>: {a.detail}
              {a.since ? <span class="muted"> since {fmtDate(a.since)}</span> : null}
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
