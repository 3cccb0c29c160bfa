import { useEffect, useState } from 'preact/hooks';
import { unwrap, type AuditEvent, type Schemas, type Tenant } from './api/client';
import { useCtx } from './ctx';
import { ApiError, describeError, fieldErrorMap } from './errors';
import { clearForm, loadForm, saveForm } from './formstate';
import { editStateFrom, isEditState, patchBody, type EditState } from './editform';
import { href } from './router';
import { Confirm, ErrorNotice, Loading, StatusBadge, fmtDate, useFocusHeading, useLoad } from './ui';

type Dialog = 'link' | 'suspend' | 'resume' | 'offboard' | null;

export function TenantDetail({ id }: { id: string }) {
  const { api, access } = useCtx();
  const h = useFocusHeading('tenant-' + id);
  const tenant = useLoad(async () => (await unwrap(api.GET('/tenants/{tenantId}', { params: { path: { tenantId: id } } }))).data, [id]);
  const events = useLoad(
    async () => (await unwrap(api.GET('/tenants/{tenantId}/events', { params: { path: { tenantId: id }, query: { pageSize: 100 } } }))).data.items,
    [id],
  );
  const emails = useLoad(async () => (await unwrap(api.GET('/tenants/{tenantId}/emails', { params: { path: { tenantId: id } } }))).data.items, [id]);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [message, setMessage] = useState<string>('');
  const [actionError, setActionError] = useState<unknown>(null);
  const [checkResult, setCheckResult] = useState<Schemas['RevalidationOutcome'] | null>(null);
  const [checking, setChecking] = useState(false);
  const t = tenant.data;

  const refresh = () => {
    tenant.reload();
    events.reload();
    emails.reload();
  };
  const done = (msg: string) => {
    setDialog(null);
    setActionError(null);
    setMessage(msg);
    refresh();
  };

  const recheck = async () => {
    setChecking(true);
    setCheckResult(null);
    setActionError(null);
    setMessage('Checking consent with Microsoft Graph…');
    try {
      const { data } = await unwrap(api.POST('/tenants/{tenantId}/revalidate', { params: { path: { tenantId: id } }, body: {} }));
      setCheckResult(data);
      setMessage('');
      refresh();
    } catch (e) {
      setActionError(e);
      setMessage('');
    } finally {
      setChecking(false);
    }
  };

  const downloadPs = async () => {
    setActionError(null);
    try {
      const r = await api.GET('/tenants/{tenantId}/powershell', { params: { path: { tenantId: id } }, parseAs: 'blob' });
      if (!r.response.ok) await unwrap(Promise.resolve(r));
      const blob = r.data as Blob;
      const cd = r.response.headers.get('Content-Disposition') ?? '';
      const name = /filename="?([^";]+)"?/.exec(cd)?.[1] ?? `onemeeting-cvi-${t?.tenantKeyCode ?? id}.ps1`;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      setMessage(`Downloaded ${name}.`);
    } catch (e) {
      setActionError(e);
    }
  };

  const copyJoin = async () => {
    if (!t) return;
    try {
      await navigator.clipboard.writeText(t.instructionUri);
      setMessage('Join URL copied to the clipboard.');
    } catch {
      setMessage(`Copy this join URL: ${t.instructionUri}`);
    }
  };

  if (!t) {
    return (
      <section aria-labelledby="h-detail">
        <h1 id="h-detail" tabIndex={-1} ref={h}>
          Tenant {id}
        </h1>
        <ErrorNotice error={tenant.error} onRetry={tenant.reload} context="Loading the tenant" />
        <Loading show={tenant.loading} />
      </section>
    );
  }
  const offboarded = t.status === 'Offboarded';
  const checks = (events.data ?? []).filter((e) => /check|revalidat|verif/i.test(e.action));

  return (
    <section aria-labelledby="h-detail">
      <p>
        <a href={href('/tenants')}>← Tenants</a>
      </p>
      <h1 id="h-detail" tabIndex={-1} ref={h}>
        {t.customerName} <StatusBadge status={t.status} />
      </h1>
      <ErrorNotice error={tenant.error} onRetry={tenant.reload} />
      <div class="live" role="status" aria-live="polite">
        {message}
      </div>
      <ErrorNotice error={actionError} context="Action failed" />
      {checkResult ? <CheckResult r={checkResult} /> : null}

      <section aria-labelledby="h-actions" class="toolbar">
        <h2 id="h-actions" class="sr-only">
          Actions
        </h2>
        {access.canWrite && !offboarded ? (
          <>
            <button class="btn btn-primary" type="button" onClick={() => setDialog('link')} disabled={t.status === 'Suspended'}>
              Resend consent link
            </button>
            <button class="btn" type="button" onClick={recheck} disabled={checking}>
              {checking ? 'Re-checking…' : 'Re-check now'}
            </button>
            {t.status === 'Suspended' ? (
              <button class="btn" type="button" onClick={() => setDialog('resume')}>
                Resume
              </button>
            ) : (
              <button class="btn" type="button" onClick={() => setDialog('suspend')}>
                Suspend
              </button>
            )}
            <button class="btn btn-danger" type="button" onClick={() => setDialog('offboard')}>
              Offboard
            </button>
          </>
        ) : null}
        <button class="btn" type="button" onClick={downloadPs}>
          Download PowerShell
        </button>
        <button class="btn" type="button" onClick={copyJoin}>
          Copy join URL
        </button>
      </section>

      <Fields t={t} />
      {access.canWrite && !offboarded ? <EditIpsContacts tenant={t} onSaved={(nt) => done(`Saved. ${nt.allowedIps.length} IP ranges, ${nt.contacts.length} contacts.`)} onReload={refresh} /> : null}

      <section aria-labelledby="h-checks">
        <h2 id="h-checks">Consent checks</h2>
        <p>
          Last check: {fmtDate(t.lastCheckAt)} {t.lastCheckOutcome ? `— ${t.lastCheckOutcome}` : ''} {t.lastCheckError ? `(${t.lastCheckError})` : ''};{' '}
          {t.consecutiveCheckFailures} consecutive failures.
        </p>
        <Timeline items={checks} empty="No consent check recorded." />
      </section>
      <section aria-labelledby="h-emails">
        <h2 id="h-emails">Emails sent</h2>
        <ErrorNotice error={emails.error} onRetry={emails.reload} context="Emails" />
        {emails.data && emails.data.length === 0 ? <p class="muted">No email recorded.</p> : null}
        <ul class="timeline">
          {(emails.data ?? []).map((m) => (
            <li key={m.key}>
              <time dateTime={m.updatedAt}>{fmtDate(m.updatedAt)}</time> <strong>{m.kind}</strong>: {m.status}
              {m.detail ? ` — ${m.detail}` : ''}
            </li>
          ))}
        </ul>
      </section>
      <section aria-labelledby="h-audit">
        <h2 id="h-audit">Audit timeline</h2>
        <ErrorNotice error={events.error} onRetry={events.reload} context="Audit timeline" />
        <Timeline items={events.data ?? []} empty="No events." />
      </section>

      {dialog === 'link' ? <LinkDialog id={id} onClose={() => setDialog(null)} onDone={done} /> : null}
      {dialog === 'suspend' || dialog === 'resume' || dialog === 'offboard' ? (
        <ReasonDialog kind={dialog} id={id} name={t.customerName} onClose={() => setDialog(null)} onDone={done} />
      ) : null}
    </section>
  );
}

function Fields({ t }: { t: Tenant }) {
  const rows: [string, string | undefined][] = [
    ['Tenant ID', t.tenantId],
    ['Tenant key', t.tenantKey],
    ['Key code', t.tenantKeyCode],
    ['Join URL', t.instructionUri],
    ['Status reason', t.statusReason],
    ['Status changed', fmtDate(t.statusChangedAt)],
    ['Resumes to', t.suspendedFrom],
    ['Primary domain', t.primaryDomain],
    ['Region', t.region],
    ['Entra app', t.appId],
    ['Allowed IPs', t.allowedIps.join(', ')],
    ['Contacts', t.contacts.map((c) => `${c.name ? c.name + ' ' : ''}<${c.email}> (${c.role})`).join('; ')],
    ['Link issued', fmtDate(t.inviteIssuedAt)],
    ['Link expires', fmtDate(t.inviteExpiresAt)],
    ['Consented', fmtDate(t.consentedAt)],
    ['Verification pending', t.verificationPending ? 'yes' : 'no'],
    ['Granted roles', t.grantedRoles?.join(', ')],
    ['Missing roles', t.missingRoles?.join(', ')],
    ['Last request', t.lastRequestId],
    ['Created', fmtDate(t.createdAt)],
    ['Updated', fmtDate(t.updatedAt)],
  ];
  return (
    <section aria-labelledby="h-fields">
      <h2 id="h-fields">Details</h2>
      <dl class="fields">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd class={k === 'Tenant ID' || k === 'Join URL' || k === 'Tenant key' ? 'mono' : ''}>{v || '—'}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function Timeline({ items, empty }: { items: AuditEvent[]; empty: string }) {
  if (items.length === 0) return <p class="muted">{empty}</p>;
  return (
    <ol class="timeline">
      {items.map((e) => (
        <li key={e.id}>
          <time dateTime={e.at}>{fmtDate(e.at)}</time> <strong>{e.action}</strong> by {e.actorName ? `${e.actorName} (${e.actor})` : e.actor}
          {e.fromStatus || e.toStatus ? ` — ${e.fromStatus ?? '?'} → ${e.toStatus ?? '?'}` : ''}
          {e.reason ? ` — “${e.reason}”` : ''}
          {e.details && Object.keys(e.details).length ? (
            <div class="muted small">
              {Object.entries(e.details)
                .map(([k, v]) => `${k}: ${v}`)
                .join('; ')}
            </div>
          ) : null}
        </li>
      ))}
    </ol>
  );
}

function CheckResult({ r }: { r: Schemas['RevalidationOutcome'] }) {
  return (
    <div class="notice notice-info" role="status" data-testid="check-result">
      <p>
        <strong>Re-check result: </strong>
        {r.skipped
          ? `skipped (${r.skipReason ?? 'not checkable'})`
          : r.transientFailure
            ? `could not reach a conclusion: ${r.error ?? 'transient failure'}; nothing changed`
            : `${r.check?.outcome ?? 'done'}; status ${r.transition ? `changed ${r.from} → ${r.to}` : `stays ${r.to}`}`}
        {r.check?.missingRoles?.length ? `; missing roles: ${r.check.missingRoles.join(', ')}` : ''}
        {r.check?.aadsts ? `; AADSTS${r.check.aadsts}` : ''}
        {r.check?.detail ? ` — ${r.check.detail}` : ''}
      </p>
    </div>
  );
}

function LinkDialog({ id, onClose, onDone }: { id: string; onClose: () => void; onDone: (m: string) => void }) {
  const { api } = useCtx();
  const [email, setEmail] = useState(true);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const [link, setLink] = useState<string | null>(null);
  const submit = async () => {
    setBusy(true);
    setErr(null);
    try {
      const { data, response } = await unwrap(api.POST('/tenants/{tenantId}/consent-link', { params: { path: { tenantId: id } }, body: { email } }));
      if (response.status === 202 && 'recipients' in data) onDone(`Consent link emailed to ${data.recipients.join(', ')}; it expires no earlier than ${fmtDate(data.expiresAt)}.`);
      else if ('url' in data) setLink(data.url);
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  if (link) {
    return (
      <Confirm title="New consent link" confirmLabel="Done" onConfirm={() => onDone('A new consent link was issued; the previous one no longer works.')} onCancel={() => onDone('A new consent link was issued.')}>
        <p>Pass this link to the customer's admin. It is a secret and only works from their allowed IPs.</p>
        <label for="new-link">Consent link</label>
        <input id="new-link" class="mono" readOnly value={link} onFocus={(e) => (e.target as HTMLInputElement).select()} />
      </Confirm>
    );
  }
  return (
    <Confirm title="Resend consent link" confirmLabel="Issue new link" busy={busy} error={err} onConfirm={submit} onCancel={onClose}>
      <p>A new link is minted; the previous link stops working at once.</p>
      <label class="check">
        <input type="checkbox" checked={email} onChange={(e) => setEmail((e.target as HTMLInputElement).checked)} /> Email it to the tenant's admin contacts
      </label>
    </Confirm>
  );
}

function ReasonDialog(props: { kind: 'suspend' | 'resume' | 'offboard'; id: string; name: string; onClose: () => void; onDone: (m: string) => void }) {
  const { api } = useCtx();
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<unknown>(null);
  const [missing, setMissing] = useState(false);
  const required = props.kind === 'offboard';
  const submit = async () => {
    if (required && !reason.trim()) {
      setMissing(true);
      document.getElementById('reason')?.focus();
      return;
    }
    setBusy(true);
    setErr(null);
    const body = reason.trim() ? { reason: reason.trim() } : {};
    const path = { path: { tenantId: props.id } };
    try {
      if (props.kind === 'suspend') await unwrap(api.POST('/tenants/{tenantId}/suspend', { params: path, body }));
      else if (props.kind === 'resume') await unwrap(api.POST('/tenants/{tenantId}/resume', { params: path, body }));
      else await unwrap(api.DELETE('/tenants/{tenantId}', { params: path, body }));
      props.onDone(props.kind === 'suspend' ? 'Suspended: consent links are refused.' : props.kind === 'resume' ? 'Resumed.' : 'Offboarded.');
    } catch (e) {
      setErr(e);
    } finally {
      setBusy(false);
    }
  };
  const verb = props.kind === 'suspend' ? 'Suspend' : props.kind === 'resume' ? 'Resume' : 'Offboard';
  const fe = fieldErrorMap(err).get('reason');
  return (
    <Confirm title={`${verb} ${props.name}?`} confirmLabel={verb} danger={props.kind !== 'resume'} busy={busy} error={err} onConfirm={submit} onCancel={props.onClose}>
      {props.kind === 'offboard' ? <p>Offboarding is final: the tenant becomes read-only and its consent links are refused.</p> : null}
      {props.kind === 'suspend' ? <p>Consent links are refused while suspended; resume returns it to its current status.</p> : null}
      <label for="reason">Reason{required ? ' (required)' : ' (optional)'}</label>
      <textarea
        id="reason"
        maxLength={500}
        aria-required={required}
        aria-invalid={missing || !!fe}
        aria-describedby={missing || fe ? 'reason-err' : undefined}
        value={reason}
        onInput={(e) => {
          setReason((e.target as HTMLTextAreaElement).value);
          setMissing(false);
        }}
      />
      {missing || fe ? (
        <p id="reason-err" class="field-error">
          {fe ?? 'Give a reason for offboarding.'}
        </p>
      ) : null}
    </Confirm>
  );
}

function EditIpsContacts({ tenant, onSaved, onReload }: { tenant: Tenant; onSaved: (t: Tenant) => void; onReload: () => void }) {
  const { api } = useCtx();
  const key = 'edit.' + tenant.tenantId;
  const [open, setOpen] = useState(() => !!loadForm(key, isEditState));
  const [form, setForm] = useState<EditState>(() => loadForm(key, isEditState) ?? editStateFrom(tenant));
  const [err, setErr] = useState<unknown>(null);
  const [conflict, setConflict] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (open) saveForm(key, form);
  }, [form, open]);
  const update = (f: EditState) => setForm(f);
  const fe = fieldErrorMap(err);

  const save = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    setConflict(null);
    try {
      const { data } = await unwrap(
        api.PATCH('/tenants/{tenantId}', { params: { path: { tenantId: tenant.tenantId }, header: { 'If-Match': form.etag } }, body: patchBody(form) }),
      );
      clearForm(key);
      setOpen(false);
      setForm(editStateFrom(data));
      onSaved(data);
    } catch (ex) {
      if (ex instanceof ApiError && ex.status === 412) setConflict(await whoChanged(api, tenant.tenantId, form.etag));
      else setErr(ex);
    } finally {
      setBusy(false);
    }
  };
  const reloadLatest = async () => {
    try {
      const { data } = await unwrap(api.GET('/tenants/{tenantId}', { params: { path: { tenantId: tenant.tenantId } } }));
      clearForm(key);
      setForm(editStateFrom(data));
      setConflict(null);
      onReload();
    } catch (ex) {
      setErr(ex);
    }
  };

  if (!open) {
    return (
      <p>
        <button
          class="btn"
          type="button"
          onClick={() => {
            setForm(editStateFrom(tenant));
            setOpen(true);
          }}
        >
          Edit admin IPs and contacts
        </button>
      </p>
    );
  }
  return (
    <form class="edit" onSubmit={save} aria-labelledby="h-edit">
      <h2 id="h-edit">Edit admin IPs and contacts</h2>
      {conflict ? (
        <div class="notice notice-error" role="alert">
          <p>{conflict}</p>
          <button class="btn" type="button" onClick={reloadLatest}>
            Reload the latest version
          </button>
        </div>
      ) : null}
      <ErrorNotice error={err} context="Saving" />
      <div class="field">
        <label for="ips">Allowed IPs (one address or CIDR range per line)</label>
        <textarea
          id="ips"
          rows={4}
          value={form.ips}
          aria-invalid={[...fe.keys()].some((k) => k.startsWith('allowedIps'))}
          aria-describedby="ips-err"
          onInput={(e) => update({ ...form, ips: (e.target as HTMLTextAreaElement).value })}
        />
        <p id="ips-err" class="field-error">
          {[...fe.entries()]
            .filter(([k]) => k.startsWith('allowedIps'))
            .map(([k, v]) => `${k}: ${v}`)
            .join('; ')}
        </p>
      </div>
      <fieldset>
        <legend>Contacts</legend>
        {form.contacts.map((c, i) => {
          const set = (p: Partial<EditState['contacts'][number]>) => update({ ...form, contacts: form.contacts.map((x, j) => (j === i ? { ...x, ...p } : x)) });
          const errs = [...fe.entries()].filter(([k]) => k.startsWith(`contacts[${i}]`)).map(([k, v]) => `${k}: ${v}`);
          return (
            <div class="contact-row" key={i}>
              <div class="field">
                <label for={`c-name-${i}`}>Name</label>
                <input id={`c-name-${i}`} value={c.name} onInput={(e) => set({ name: (e.target as HTMLInputElement).value })} />
              </div>
              <div class="field">
                <label for={`c-email-${i}`}>Email</label>
                <input id={`c-email-${i}`} type="email" value={c.email} aria-invalid={errs.length > 0} onInput={(e) => set({ email: (e.target as HTMLInputElement).value })} />
              </div>
              <div class="field">
                <label for={`c-role-${i}`}>Role</label>
                <select id={`c-role-${i}`} value={c.role} onChange={(e) => set({ role: (e.target as HTMLSelectElement).value as EditState['contacts'][number]['role'] })}>
                  <option value="admin">admin</option>
                  <option value="technical">technical</option>
                  <option value="billing">billing</option>
                </select>
              </div>
              <button class="btn" type="button" aria-label={`Remove contact ${i + 1}`} onClick={() => update({ ...form, contacts: form.contacts.filter((_, j) => j !== i) })}>
                Remove
              </button>
              {errs.length ? <p class="field-error">{errs.join('; ')}</p> : null}
            </div>
          );
        })}
        <button class="btn" type="button" onClick={() => update({ ...form, contacts: [...form.contacts, { name: '', email: '', role: 'admin' }] })}>
          Add contact
        </button>
        {fe.get('contacts') ? <p class="field-error">contacts: {fe.get('contacts')}</p> : null}
      </fieldset>
      <div class="actions">
        <button class="btn btn-primary" type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Save changes'}
        </button>
        <button
          class="btn"
          type="button"
          onClick={() => {
            clearForm(key);
            setOpen(false);
            setErr(null);
            setConflict(null);
          }}
        >
          Discard
        </button>
      </div>
    </form>
  );
}

/** After a 412: who changed the tenant since our version, from its audit trail. */
async function whoChanged(api: ReturnType<typeof useCtx>['api'], tenantId: string, _etag: string): Promise<string> {
  try {
    const { data } = await unwrap(api.GET('/tenants/{tenantId}/events', { params: { path: { tenantId }, query: { pageSize: 20 } } }));
    const last = data.items.find((e) => e.action !== 'consent.link-issued') ?? data.items[0];
    if (last) {
      return `Someone changed this tenant since you opened the form: ${last.action} by ${last.actorName ?? last.actor} at ${fmtDate(last.at)}. Your edits are kept here; reload to see the latest version and apply them again.`;
    }
  } catch (e) {
    return `Someone changed this tenant since you opened the form (${describeError(e)}).`;
  }
  return 'Someone changed this tenant since you opened the form.';
}
