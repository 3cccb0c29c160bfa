// End-to-end tests of the operator console in real headless Chromium (playwright-core, the system's
// /usr/bin/chromium; nothing is downloaded) against the real stack that internal/consolee2e starts.
//
// Env: CONSOLE_URL (http://127.0.0.1:<port>/console/), HOST_URL (the local Functions host),
// SANDBOX_SPKI (comma-separated base64 SHA-256 SPKI hashes of the sandbox TLS chain, so Chromium
// trusts it), WRITER_TOKEN (a sandbox operator token for seeding and out-of-band changes),
// OUTBOX_DIR (sent mail), SCREENSHOT_DIR (default /tmp/onemeeting-cvi-screenshots).
import { chromium } from 'playwright-core';
import { readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';

const here = dirname(fileURLToPath(import.meta.url));
const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`run.mjs: ${k} is not set`);
  return v;
};
const CONSOLE_URL = env('CONSOLE_URL');
const HOST_URL = env('HOST_URL');
const API = new URL('/api/admin', CONSOLE_URL).toString();
const WRITER_TOKEN = env('WRITER_TOKEN');
const OUTBOX = env('OUTBOX_DIR');
const SHOTS = env('SCREENSHOT_DIR', '/tmp/onemeeting-cvi-screenshots');
const SPKI = env('SANDBOX_SPKI', '');
mkdirSync(SHOTS, { recursive: true });
const axeSource = readFileSync(join(here, '../node_modules/axe-core/axe.min.js'), 'utf8');

const results = [];
const pages = {};
const cspViolations = [];
let failed = 0;
async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    results.push(`FAIL ${name}: ${e?.stack ?? e}`);
    for (const [label, p] of Object.entries(pages)) await p.screenshot({ path: join(SHOTS, `console-FAILED-${failed}-${label}.png`), fullPage: true }).catch(() => {});
  }
  console.log(results[results.length - 1]);
}
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}
async function eventually(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}`);
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(API + path, {
    method,
    headers: { Authorization: `Bearer ${WRITER_TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, etag: res.headers.get('etag'), body: text ? JSON.parse(text) : undefined };
}

function provisioning(name, tenantId = randomUUID()) {
  return {
    schemaVersion: 1,
    requestId: 'E2E-' + randomUUID().slice(0, 8),
    tenantId,
    customerName: name,
    primaryDomain: name.toLowerCase().replace(/[^a-z0-9]+/g, '') + '.example',
    region: 'eu',
    adminIps: ['127.0.0.1'],
    contacts: [{ name: `${name} admin`, email: `admin-${tenantId.slice(0, 8)}@contoso.com`, role: 'admin' }],
  };
}

const launchArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
if (SPKI) launchArgs.push(`--ignore-certificate-errors-spki-list=${SPKI}`);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: launchArgs, headless: true });

async function newPage(label) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(CONSOLE_URL).origin });
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  pages[label] = page;
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to (execute|apply|load)/i.test(m.text())) cspViolations.push(`${label}: ${m.text()}`);
  });
  page.on('pageerror', (e) => cspViolations.push(`${label}: page error ${e.message}`));
  return page;
}

async function signIn(page, persona) {
  await page.goto(CONSOLE_URL);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: `SANDBOX operator (${persona})` }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
}

/** Screenshots at 1280 and 390 px, and axe-core: no serious or critical violation. */
async function check(page, name) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 800 });
    await page.screenshot({ path: join(SHOTS, `console-${name}-${width}.png`), fullPage: true });
    if (width === 390) {
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      if (overflow > 1) {
        const wide = await page.evaluate(() =>
          [...document.querySelectorAll('body *')]
            .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(-3)
            .map((e) => `${e.tagName.toLowerCase()}.${e.className} "${(e.textContent ?? '').slice(0, 40)}"`),
        );
        throw new Error(`${name}: the page is ${overflow}px wider than 390 px: ${wide.join(' | ')}`);
      }
    }
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  // Page.evaluate runs through the DevTools protocol, which the page's CSP does not govern.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const bad = await page.evaluate(async () => {
    // @ts-ignore
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  assert(bad.length === 0, `${name}: axe violations:\n  ${bad.join('\n  ')}`);
}

function outboxFiles() {
  try {
    return readdirSync(OUTBOX).filter((f) => f.endsWith('.html'));
  } catch {
    return [];
  }
}

async function openTenant(page, name) {
  await page.getByRole('link', { name: 'Tenants', exact: true }).click();
  await page.getByLabel('Search').fill(name.slice(2, 12));
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByRole('link', { name }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(name) }).waitFor();
}

// ---- seed ----
const stamp = Date.now().toString(36);
const main = provisioning(`Fabrikam Widgets ${stamp}`);
const other = provisioning(`Northwind Traders ${stamp}`);
for (const p of [main, other]) {
  const r = await api('POST', '/tenants', p);
  assert(r.status === 201, `seed ${p.customerName}: ${r.status} ${JSON.stringify(r.body)}`);
}
// A rejected provisioning request (unknown region) for the rejections screen.
const bad = { ...provisioning(`Tailspin Toys ${stamp}`), region: 'mars' };
const badRes = await api('POST', '/tenants', bad);
assert(badRes.status === 400, `seed rejection: ${badRes.status}`);

const writer = await newPage('writer');
let writerAuth = '';
writer.on('request', (r) => {
  const a = r.headers()['authorization'];
  if (a && r.url().includes('/api/admin/')) writerAuth = a;
});

await step('writer signs in through the SANDBOX sign-in page', async () => {
  await signIn(writer, 'writer');
  await writer.getByText('(read and write)').waitFor();
  await writer.getByRole('heading', { name: /Needs attention/ }).waitFor();
  await check(writer, 'overview');
});

await step('search by part of the name, then open the tenant', async () => {
  await writer.getByRole('link', { name: 'Tenants', exact: true }).click();
  await writer.getByLabel('Search').fill(main.customerName.slice(3, 14).toUpperCase());
  await writer.getByRole('button', { name: 'Search', exact: true }).click();
  await writer.getByRole('link', { name: main.customerName }).waitFor();
  await eventually('the other tenant to leave the results', async () => (await writer.getByRole('link', { name: other.customerName }).count()) === 0);
  await check(writer, 'tenants');
  // By tenant ID prefix too.
  await writer.getByLabel('Search').fill(other.tenantId.slice(0, 8));
  await writer.getByRole('button', { name: 'Search', exact: true }).click();
  await writer.getByRole('link', { name: other.customerName }).waitFor();
  await openTenant(writer, main.customerName);
  await check(writer, 'tenant-detail');
});

await step('resend the consent link by email: it lands in the outbox', async () => {
  const before = new Set(outboxFiles());
  await writer.getByRole('button', { name: 'Resend consent link' }).click();
  const dlg = writer.getByRole('dialog');
  await dlg.getByLabel("Email it to the tenant's admin contacts").waitFor();
  await check(writer, 'dialog-resend');
  await dlg.getByRole('button', { name: 'Issue new link' }).press('Enter');
  await writer.getByText(/Consent link emailed to admin-/).waitFor();
  const mail = await eventually('the consent-link email', () =>
    outboxFiles().find((f) => !before.has(f) && readFileSync(join(OUTBOX, f), 'utf8').includes(main.tenantId.slice(0, 8))) ?? outboxFiles().find((f) => !before.has(f)),
  );
  const html = readFileSync(join(OUTBOX, mail), 'utf8').replace(/&amp;/g, '&');
  const link = /https?:\/\/[^"'\s<>]*\/api\/adminconsent\?[^"'\s<>]+/.exec(html)?.[0];
  assert(link, 'no consent link in the email');
  globalThis.consentLink = link;
});

await step('re-check now shows the result', async () => {
  await writer.getByRole('button', { name: 'Re-check now' }).click();
  await writer.getByTestId('check-result').waitFor();
  const txt = await writer.getByTestId('check-result').textContent();
  assert(/Re-check result/.test(txt ?? ''), `unexpected result ${txt}`);
});

await step('the emailed link works before the suspension', async () => {
  const res = await fetch(globalThis.consentLink, { redirect: 'manual' });
  const loc = res.headers.get('location') ?? '';
  assert(loc.includes('/v2.0/adminconsent'), `the fresh link does not lead to consent: ${res.status} ${loc}`);
});

await step('suspend (keyboard only): the consent link is then refused; resume', async () => {
  await writer.getByRole('button', { name: 'Suspend' }).focus();
  await writer.keyboard.press('Enter');
  const dlg = writer.getByRole('dialog');
  await dlg.getByLabel(/Reason/).focus();
  await writer.keyboard.type('customer asked for a pause');
  await writer.keyboard.press('Tab');
  await writer.keyboard.press('Enter');
  await writer.getByRole('heading', { level: 1, name: /Suspended/ }).waitFor();
  const res = await fetch(globalThis.consentLink, { redirect: 'manual' });
  const loc = res.headers.get('location') ?? '';
  assert(!loc.includes('/v2.0/adminconsent'), `the suspended tenant's link still leads to Microsoft's consent page: ${res.status} ${loc}`);
  await writer.getByRole('button', { name: 'Resume' }).click();
  await writer.getByRole('dialog').getByRole('button', { name: 'Resume' }).click();
  await writer.getByRole('heading', { level: 1, name: /Provisioned/ }).waitFor();
});

await step('download the PowerShell and copy the join URL', async () => {
  const [dl] = await Promise.all([writer.waitForEvent('download'), writer.getByRole('button', { name: 'Download PowerShell' }).click()]);
  assert(dl.suggestedFilename().endsWith('.ps1'), `download named ${dl.suggestedFilename()}`);
  await writer.getByRole('button', { name: 'Copy join URL' }).click();
  await writer.getByText(/Join URL copied|Copy this join URL/).waitFor();
  const clip = await writer.evaluate(() => navigator.clipboard.readText().catch(() => ''));
  assert(clip === '' || clip.includes('/api/join/'), `clipboard holds ${clip}`);
});

await step('an API error shows the problem detail next to the field', async () => {
  await writer.getByRole('button', { name: 'Edit admin IPs and contacts' }).click();
  await writer.getByLabel(/Allowed IPs/).fill('not-an-ip');
  await writer.getByRole('button', { name: 'Save changes' }).click();
  await eventually('a field error', async () => ((await writer.locator('#ips-err').textContent()) ?? '').includes('allowedIps'));
  await writer.getByRole('alert').first().waitFor();
  await check(writer, 'api-error');
});

await step('an ETag conflict says who changed it and offers reload', async () => {
  const cur = await api('GET', `/tenants/${main.tenantId}`);
  const oob = await api('PATCH', `/tenants/${main.tenantId}`, { customerName: main.customerName + ' Ltd' }, { 'If-Match': cur.etag });
  assert(oob.status === 200, `out-of-band patch ${oob.status}`);
  await writer.getByLabel(/Allowed IPs/).fill('127.0.0.1\n203.0.113.9');
  await writer.getByRole('button', { name: 'Save changes' }).click();
  await writer.getByText(/Someone changed this tenant since you opened the form: tenant\.updated by /).waitFor();
  await check(writer, 'etag-conflict');
  await writer.getByRole('button', { name: 'Reload the latest version' }).click();
  await eventually('the reloaded name', async () => ((await writer.getByRole('heading', { level: 1 }).textContent()) ?? '').includes(' Ltd'));
  await writer.getByLabel(/Allowed IPs/).fill('127.0.0.1\n203.0.113.9');
  await writer.getByRole('button', { name: 'Save changes' }).click();
  await writer.getByText(/Saved\. 2 IP ranges/).waitFor();
  const after = await api('GET', `/tenants/${main.tenantId}`);
  assert(after.body.allowedIps.some((ip) => ip.startsWith('203.0.113.9')), `IP not saved: ${after.body.allowedIps}`);
  main.customerName += ' Ltd';
});

await step('an expired token renews silently', async () => {
  let tokenCalls = 0;
  const onReq = (r) => r.url().includes('/oauth2/v2.0/token') && tokenCalls++;
  writer.on('request', onReq);
  const n = await writer.evaluate(() => {
    let n = 0;
    for (const k of Object.keys(sessionStorage)) {
      if (!k.toLowerCase().includes('accesstoken')) continue;
      const v = JSON.parse(sessionStorage.getItem(k));
      v.expiresOn = '1';
      v.extendedExpiresOn = '1';
      sessionStorage.setItem(k, JSON.stringify(v));
      n++;
    }
    return n;
  });
  assert(n > 0, 'no access token in the msal cache');
  await writer.getByRole('button', { name: 'Re-check now' }).click();
  await writer.getByTestId('check-result').waitFor();
  writer.off('request', onReq);
  assert(tokenCalls > 0, 'no token renewal was requested');
});

await step('a session that cannot renew asks to sign in again and keeps the half-filled form', async () => {
  await writer.getByRole('button', { name: 'Edit admin IPs and contacts' }).click();
  await writer.getByLabel(/Allowed IPs/).fill('127.0.0.1\n198.51.100.77');
  await writer.evaluate(() => {
    for (const k of Object.keys(sessionStorage)) {
      const l = k.toLowerCase();
      if (l.includes('refreshtoken')) sessionStorage.removeItem(k);
      if (l.includes('accesstoken')) {
        const v = JSON.parse(sessionStorage.getItem(k));
        v.expiresOn = '1';
        v.extendedExpiresOn = '1';
        sessionStorage.setItem(k, JSON.stringify(v));
      }
    }
  });
  let sawAuthorize = false;
  const onNav = (r) => r.isNavigationRequest() && r.url().includes('/oauth2/v2.0/authorize') && (sawAuthorize = true);
  writer.on('request', onNav);
  await writer.getByRole('button', { name: 'Save changes' }).click();
  // The sandbox shows its persona page, or (with its session cookie) signs in at once, like Entra ID.
  const persona = writer.getByRole('button', { name: 'SANDBOX operator (writer)' });
  await eventually('the return from sign-in', async () => {
    if (await persona.isVisible().catch(() => false)) await persona.click();
    return sawAuthorize && writer.url().startsWith(CONSOLE_URL) && (await writer.getByLabel(/Allowed IPs/).isVisible().catch(() => false));
  });
  writer.off('request', onNav);
  const kept = await writer.getByLabel(/Allowed IPs/).inputValue();
  assert(kept.includes('198.51.100.77'), `form lost after sign-in: ${kept}`);
  await writer.getByRole('button', { name: 'Save changes' }).click();
  await writer.getByText(/Saved\./).waitFor();
});

await step('lost network shows a retry banner, never a blank screen', async () => {
  await writer.route('**/api/admin/overview', (r) => r.abort('internetdisconnected'));
  await writer.getByRole('link', { name: 'Overview' }).click();
  await writer.getByRole('button', { name: 'Retry' }).waitFor();
  await writer.getByText(/network is unreachable/).waitFor();
  await check(writer, 'retry-banner');
  await writer.unroute('**/api/admin/overview');
  await writer.route('**/api/admin/overview', (r) => r.fulfill({ status: 503, contentType: 'application/problem+json', headers: { 'Retry-After': '2' }, body: JSON.stringify({ type: 'urn:onemeeting-cvi:problem:unavailable', title: 'Unavailable', status: 503, detail: 'Table Storage is unavailable' }) }));
  await writer.getByRole('button', { name: 'Retry' }).click();
  await writer.getByText(/Table Storage is unavailable\. Retry in 2 s\./).waitFor();
  await writer.unroute('**/api/admin/overview');
  await writer.getByRole('button', { name: 'Retry' }).click();
  await writer.getByRole('heading', { name: 'By status' }).waitFor();
});

await step('rejected requests: create the tenant from a corrected request', async () => {
  await writer.getByRole('link', { name: 'Rejected requests' }).click();
  const item = writer.locator('li.card', { hasText: bad.requestId }).first();
  await item.waitFor();
  await check(writer, 'rejections');
  await item.getByRole('button', { name: 'Create tenant from a corrected request' }).click();
  const box = item.getByLabel(/Corrected request/);
  await box.fill(JSON.stringify({ ...bad, region: 'eu' }, null, 2));
  await item.getByRole('button', { name: 'Create tenant' }).click();
  await writer.getByRole('heading', { level: 1, name: new RegExp(bad.customerName) }).waitFor();
});

await step('re-validation runs: list and detail', async () => {
  const r = await fetch(`${HOST_URL}/admin/functions/RevalidateConsent`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"input":""}' });
  assert(r.status === 202, `start run: ${r.status}`);
  await writer.getByRole('link', { name: 'Re-validation runs' }).click();
  const first = await eventually('a run in the list', async () => {
    await writer.reload();
    const l = writer.locator('tbody tr a').first();
    return (await l.count()) ? l : undefined;
  });
  await check(writer, 'runs');
  await first.click();
  await writer.getByRole('heading', { level: 1, name: /Re-validation run/ }).waitFor();
  await writer.getByRole('progressbar').waitFor();
  await check(writer, 'run-detail');
});

await step('audit log across tenants, filtered by action', async () => {
  await writer.getByRole('link', { name: 'Audit log' }).click();
  await writer.getByLabel('Action').fill('tenant.suspended');
  await writer.getByRole('button', { name: 'Filter' }).click();
  await writer.locator('tbody tr', { hasText: 'tenant.suspended' }).first().waitFor();
  await check(writer, 'audit');
});

await step('offboard requires a reason', async () => {
  await openTenant(writer, other.customerName);
  await writer.getByRole('button', { name: 'Offboard' }).click();
  const dlg = writer.getByRole('dialog');
  await dlg.getByRole('button', { name: 'Offboard' }).click();
  await dlg.getByText('Give a reason for offboarding.').waitFor();
  await check(writer, 'dialog-offboard');
  await dlg.getByLabel(/Reason/).fill('contract ended');
  await dlg.getByRole('button', { name: 'Offboard' }).click();
  await writer.getByRole('heading', { level: 1, name: /Offboarded/ }).waitFor();
  assert((await writer.getByRole('button', { name: 'Suspend' }).count()) === 0, 'actions still offered on an offboarded tenant');
  const t = await api('GET', `/tenants/${other.tenantId}`);
  assert(t.body.status === 'Offboarded' && t.body.statusReason === 'contract ended', `offboard not applied: ${JSON.stringify(t.body)}`);
});

const reader = await newPage('reader');
let readerAuth = '';
reader.on('request', (r) => {
  const a = r.headers()['authorization'];
  if (a && r.url().includes('/api/admin/')) readerAuth = a;
});
await step('reader signs in, sees no actions; a forced API call gets 403', async () => {
  await signIn(reader, 'reader');
  await reader.getByText('(read only)').waitFor();
  await openTenant(reader, main.customerName);
  for (const name of ['Resend consent link', 'Re-check now', 'Suspend', 'Offboard', 'Edit admin IPs and contacts']) {
    assert((await reader.getByRole('button', { name }).count()) === 0, `reader is offered "${name}"`);
  }
  await reader.getByRole('button', { name: 'Download PowerShell' }).waitFor();
  await check(reader, 'reader-detail');
  assert(readerAuth.startsWith('Bearer '), 'no reader token seen');
  const status = await reader.evaluate(
    async ([url, auth]) => (await fetch(url, { method: 'POST', headers: { Authorization: auth, 'Content-Type': 'application/json' }, body: '{}' })).status,
    [`${API}/tenants/${main.tenantId}/suspend`, readerAuth],
  );
  assert(status === 403, `reader's forced suspend answered ${status}`);
});

await step('no CSP violation or page error', async () => {
  assert(cspViolations.length === 0, cspViolations.join('\n'));
});

await browser.close();
console.log(`\n${results.length - failed} passed, ${failed} failed; screenshots in ${SHOTS}`);
void writerAuth;
process.exit(failed ? 1 : 0);
