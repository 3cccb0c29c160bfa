import { useState } from 'preact/hooks';
import { unwrap, type Status } from './api/client';
import { useCtx } from './ctx';
import { href, type Route } from './router';
import { ErrorNotice, Loading, StatusBadge, fmtDate, useFocusHeading, useLoad } from './ui';

const STATUSES: Status[] = ['Provisioned', 'Consented', 'Degraded', 'Revoked', 'Suspended', 'Offboarded'];
type SortKey = 'name' | 'status' | 'created' | 'tenantId';
const SORTS: SortKey[] = ['name', 'status', 'created', 'tenantId'];

export function Tenants({ route }: { route: Route }) {
  const { api } = useCtx();
  const h = useFocusHeading('tenants');
  const q = route.query.get('q') ?? '';
  const region = route.query.get('region') ?? '';
  const statuses = route.query.getAll('status').filter((s): s is Status => (STATUSES as string[]).includes(s));
  const cont = route.query.get('c') ?? undefined;
  const prev = route.query.getAll('p');
  // No sort parameter: the API's default order (tenant ID).
  const sort: SortKey = (SORTS as string[]).includes(route.query.get('sort') ?? '') ? (route.query.get('sort') as SortKey) : 'tenantId';
  const explicitSort = route.query.has('sort');
  const desc = route.query.get('dir') === 'desc';

  const [text, setText] = useState(q);
  const page = useLoad(
    async () =>
      (
        await unwrap(
          api.GET('/tenants', {
            params: { query: { q: q || undefined, region: region || undefined, status: statuses.length ? statuses : undefined, sort: explicitSort ? (desc ? `-${sort}` : sort) : undefined, pageSize: 50, continuation: cont } },
          }),
        )
      ).data,
    [q, region, statuses.join(','), cont, sort, desc],
  );
  const base = { q: q || undefined, region: region || undefined, status: statuses, sort: explicitSort ? sort : undefined, dir: desc ? 'desc' : undefined };
  const go = (over: Record<string, string | string[] | undefined>) => {
    location.hash = href('/tenants', { ...base, ...over });
  };
  const items = page.data?.items ?? [];
  const sortHeader = (key: SortKey, label: string, cls?: string) => (
    <th scope="col" class={cls} aria-sort={sort === key ? (desc ? 'descending' : 'ascending') : 'none'}>
      <a href={href('/tenants', { ...base, sort: key, dir: sort === key && !desc ? 'desc' : undefined })}>
        {label}
        {sort === key ? (desc ? ' ▼' : ' ▲') : ''}
      </a>
    </th>
  );

  return (
    <section aria-labelledby="h-tenants">
      <h1 id="h-tenants" tabIndex={-1} ref={h}>
        Tenants
      </h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          go({ q: text.trim() || undefined });
        }}
      >
        <div class="field">
          <label for="search">Search</label>
          <input
            id="search"
            type="search"
            value={text}
            placeholder="Name, tenant ID, tenant key, domain or email"
            onInput={(e) => setText((e.target as HTMLInputElement).value)}
          />
        </div>
        <fieldset class="field">
          <legend>Status</legend>
          <div class="checks">
            {STATUSES.map((s) => (
              <label key={s}>
                <input
                  type="checkbox"
                  checked={statuses.includes(s)}
                  onChange={(e) => go({ status: (e.target as HTMLInputElement).checked ? [...statuses, s] : statuses.filter((x) => x !== s) })}
                />{' '}
                {s}
              </label>
            ))}
          </div>
        </fieldset>
        <div class="field">
          <label for="region">Region</label>
          <input
            id="region"
            value={region}
            size={6}
            onChange={(e) => go({ region: (e.target as HTMLInputElement).value.trim().toLowerCase() || undefined })}
          />
        </div>
        <button class="btn btn-primary" type="submit">
          Search
        </button>
      </form>
      <ErrorNotice error={page.error} onRetry={page.reload} context="Search" />
      <Loading show={page.loading} />
      <div class="table-wrap">
        <table>
          <caption class="sr-only">Tenants{q ? ` matching “${q}”` : ''}, sorted by {sort}</caption>
          <thead>
            <tr>
              {sortHeader('name', 'Customer')}
              {sortHeader('status', 'Status')}
              <th scope="col">Region</th>
              <th scope="col" class="wide-only">Tenant key</th>
              {sortHeader('tenantId', 'Tenant ID', 'wide-only')}
              {sortHeader('created', 'Created', 'wide-only')}
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.tenantId}>
                <td>
                  <a href={href('/tenants/' + t.tenantId)}>{t.customerName}</a>
                  {t.primaryDomain ? <div class="muted">{t.primaryDomain}</div> : null}
                </td>
                <td>
                  <StatusBadge status={t.status} />
                </td>
                <td>{t.region}</td>
                <td class="mono wide-only">{t.tenantKey}</td>
                <td class="mono wide-only">{t.tenantId}</td>
                <td class="wide-only">{fmtDate(t.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p role="status" class="muted">
        {page.data ? (items.length === 0 ? 'No tenant matches.' : `${page.data.total ?? items.length} ${(page.data.total ?? items.length) === 1 ? 'tenant matches' : 'tenants match'}.`) : ''}
      </p>
      <nav class="pager" aria-label="Pages">
        {cont ? (
          <a class="btn" href={href('/tenants', { ...base, c: prev[prev.length - 1] || undefined, p: prev.slice(0, -1) })}>
            Previous page
          </a>
        ) : null}
        {page.data?.continuation ? (
          <a class="btn" href={href('/tenants', { ...base, c: page.data.continuation, p: cont ? [...prev, cont] : prev })}>
            Next page
          </a>
        ) : null}
      </nav>
    </section>
  );
}
