// Browser tests of the provaudit dashboard in real headless Chromium.
// Run by CTest (tests/browser/CMakeLists.txt) as:
//   node --test tests/browser/dashboard.test.mjs
// with PROVAUDIT_BIN (the binary), PROVAUDIT_SOURCE_DIR (repo root) and
// PROVAUDIT_TEST_OUT (where screenshots and downloads go). A missing Chromium
// or missing node modules FAIL the run: tests/browser/install.sh provides both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SOURCE = process.env.PROVAUDIT_SOURCE_DIR || path.resolve(here, '../..');
const BIN = process.env.PROVAUDIT_BIN || path.join(SOURCE, 'build/app/provaudit');
const OUT = process.env.PROVAUDIT_TEST_OUT || path.join(SOURCE, 'test-output/browser');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'provaudit-browser-'));
const servers = [];
let context; // persistent Chromium context (fresh --user-data-dir)
let all; // { url, report } over every sample
let mixed; // { url, report } over samples/spa_mixed_tls12.pcap
const dialogs = [];
const pageErrors = [];

function replay(name, pcaps) {
  const db = path.join(tmp, name + '.db');
  execFileSync(BIN, ['replay', '-q', '--db', db, ...pcaps], { stdio: ['ignore', 'ignore', 'inherit'] });
  const report = JSON.parse(execFileSync(BIN, ['report', '--db', db, '--format', 'json'], { maxBuffer: 64 << 20 }).toString());
  return { db, report };
}

// `provaudit serve` on a free loopback port; `option` names the address
// (--listen, or --serve as replay and capture call it).
function serve(db, token, option = '--listen') {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['serve', '--db', db, option, '127.0.0.1:0', ...(token ? ['--token', token] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
    servers.push(child);
    let err = '';
    const timer = setTimeout(() => reject(new Error('serve did not start: ' + err)), 10000);
    child.stderr.on('data', (chunk) => {
      err += chunk;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(err);
      if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}/`); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`serve exited ${code}: ${err}`)); });
  });
}

// GET through the page's request context. Its pool keeps connections, and
// one idle for the server's 20 s can be reused just as the server closes it
// (ECONNRESET: Node 20's agent ignores the server's Keep-Alive hint when it
// has no timeout of its own); a browser retries such a request, and so does
// this one (Playwright retries ECONNRESET only).
function apiGet(page, url) {
  return page.request.get(url, { maxRetries: 2 });
}

// A command's stderr (it must succeed).
function spawnSyncText(bin, args) {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

async function newPage() {
  const page = await context.newPage();
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, name + '.png'), fullPage: true });
}

const byClass = (report, cls) => report.devices.filter((d) => d.identity === cls).length;

// The overview's "Audit evidence" line, its numbers without grouping separators.
async function evidenceText(page) {
  await page.waitForSelector('[data-evidence]');
  return (await page.textContent('[data-evidence]')).replace(/(\d)[,\u00a0\u202f](?=\d{3})/g, '$1');
}

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  assert.ok(fs.existsSync(BIN), `provaudit binary not found at ${BIN}`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: run tests/browser/install.sh`);
  let playwright;
  try {
    playwright = await import('playwright-core');
  } catch (e) {
    assert.fail('playwright-core is not installed in tests/browser/node_modules: run tests/browser/install.sh');
  }
  const samples = fs.readdirSync(path.join(SOURCE, 'samples')).filter((f) => f.endsWith('.pcap')).sort().map((f) => path.join(SOURCE, 'samples', f));
  const a = replay('all', samples);
  const m = replay('mixed', [path.join(SOURCE, 'samples/spa_mixed_tls12.pcap')]);
  all = { ...a, url: await serve(a.db) };
  mixed = { ...m, url: await serve(m.db) };
  context = await playwright.chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, acceptDownloads: true,
    viewport: { width: 1440, height: 900 },
  });
});

after(async () => {
  if (context) await context.close();
  for (const s of servers) s.kill('SIGTERM');
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('overview shows the device classes, findings and coverage of the database', async () => {
  const page = await newPage();
  const res = await page.goto(all.url);
  assert.match(res.headers()['content-security-policy'], /default-src 'none'/);
  assert.equal(res.headers()['x-content-type-options'], 'nosniff');
  await page.waitForSelector('[data-kpi=devices]');
  const stats0 = await (await apiGet(page, all.url + 'api/stats')).json();
  const kpi = async (name) => (await page.textContent(`[data-kpi=${name}] .value`)).replace(/[^0-9]/g, '');
  assert.equal(await kpi('devices'), String(all.report.devices.length));
  for (const cls of ['individualized', 'generic', 'none', 'unknown']) assert.equal(await kpi(cls), String(byClass(all.report, cls)), cls);
  const findings = all.report.devices.reduce((n, d) => n + d.findings.length, 0) + all.report.servers.reduce((n, s) => n + s.findings.length, 0);
  assert.equal(await kpi('findings'), String(findings));
  assert.ok(await page.locator('svg[aria-label="Devices by identity class"] path').count() >= 3, 'class chart drawn');
  assert.ok(await page.locator('svg[aria-label="Sightings over time"] rect').count() > 0, 'timeline drawn');
  // Each bar stands at its bucket's time on a linear axis (the samples span two days: a gap, not
  // bars packed side by side): x = 40 + 852 * (start - first) / span, in the chart's 900-wide box.
  const tl = await (await apiGet(page, all.url + 'api/timeline?bucket=auto')).json();
  assert.ok(tl.buckets.length >= 2, 'several buckets');
  const bucketMs = tl.bucket_seconds * 1000, t0 = Date.parse(tl.buckets[0].start);
  const span = Date.parse(tl.buckets[tl.buckets.length - 1].start) + bucketMs - t0;
  const xs = await page.$$eval('svg[aria-label="Sightings over time"] rect.fill-tls', (rs) => rs.map((r) => [r.dataset.start, Number(r.getAttribute('x'))]));
  assert.equal(xs.length, tl.buckets.length);
  for (const [start, x] of xs) assert.ok(Math.abs(x - (41 + (852 * (Date.parse(start) - t0)) / span)) < 0.5, `${start} at ${x}`);
  const gaps = tl.buckets.slice(1).map((b, i) => Date.parse(b.start) - Date.parse(tl.buckets[i].start));
  // The axis's six ticks: the date and time where the day changes, else the time, both to the
  // minute for buckets of a minute or more.
  assert.ok(tl.bucket_seconds >= 60 && tl.bucket_seconds < 86400, `${tl.bucket_seconds}`);
  const ticks = await page.$$eval('svg[aria-label="Sightings over time"] text[data-tick]', (ts) => ts.map((t) => t.textContent));
  assert.equal(ticks.length, 6);
  assert.match(ticks[0], /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
  for (const t of ticks) assert.match(t, /^(\d{4}-\d{2}-\d{2} )?\d{2}:\d{2}$/, t);
  assert.ok(Math.max(...gaps) > bucketMs, 'the samples leave empty buckets between their days');
  assert.match(await page.textContent('main'), /spa_mixed_tls12\.pcap/);
  assert.equal(await page.textContent('.page-head .sub'), `Audit of ${all.report.devices.length} devices from ${stats0.coverage.sources} capture sources`);
  assert.equal(await page.textContent('[data-kpi=devices] .note'), `${stats0.servers.total} servers`);
  // The busiest servers, each with its device count in words ("1 device", "8 devices").
  const top = await (await apiGet(page, all.url + 'api/servers?sort=devices&dir=desc&limit=6')).json();
  assert.ok(top.items.some((r) => r.devices === 1) && top.items.some((r) => r.devices > 1), 'one server with a single device, one with several');
  for (const r of top.items) {
    const text = await page.textContent(`[data-busiest="${r.id}"]`);
    assert.ok(text.endsWith(` · ${r.devices} device${r.devices === 1 ? '' : 's'}`), text);
  }
  // The audit's evidence under the default limit: every sighting, far from it.
  const stats = await (await apiGet(page, all.url + 'api/stats')).json();
  assert.equal(stats.evidence.limit, 150000);
  assert.equal(await evidenceText(page), `${stats.evidence.held} of 150000 sightings (--max-sightings)`);
  assert.ok(stats.evidence.held > 0 && stats.evidence.held < stats.evidence.in_order);
  // What that limit may need at most (256 MiB + 8 KiB a sighting), within what the replay could use.
  assert.equal(stats.evidence.memory_need, 268435456 + 150000 * 8192);
  assert.ok(stats.evidence.memory_limit > stats.evidence.memory_need, `${stats.evidence.memory_limit}`);
  assert.equal(await page.locator('[data-evidence-memory]').count(), 0);
  await shot(page, 'overview');
  await page.close();
});

test('spa_mixed: 5 devices, filter class=generic gives 2 rows and a deep link', async () => {
  const page = await newPage();
  await page.goto(mixed.url + '#/devices');
  await page.waitForSelector('tbody tr.clickable');
  assert.equal(await page.locator('tbody tr.clickable').count(), 5);
  await page.selectOption('select[name=class]', 'generic');
  await page.waitForFunction(() => location.hash.includes('class=generic') && document.querySelectorAll('tbody tr.clickable').length === 2);
  const rows = await page.locator('tbody tr.clickable').allTextContents();
  assert.ok(rows.every((r) => r.includes('generic')));
  await shot(page, 'devices-generic');
  // The URL alone restores the view.
  const deep = await newPage();
  await deep.goto(mixed.url + '#/devices?class=individualized&sort=mac&dir=desc');
  await deep.waitForSelector('tbody tr.clickable');
  assert.equal(await deep.locator('tbody tr.clickable').count(), 2);
  assert.equal(await deep.getAttribute('th[aria-sort]', 'aria-sort'), 'descending');
  assert.equal(await deep.textContent('.page-head .sub'), '2 devices match');
  await deep.goto(mixed.url + '#/devices?class=none');
  await deep.waitForFunction(() => document.querySelectorAll('tbody tr.clickable').length === 1);
  assert.equal(await deep.textContent('.page-head .sub'), '1 device matches');
  await deep.close();
  await page.close();
});

test('search finds a device by serial text and sorting reorders', async () => {
  const page = await newPage();
  const dev = all.report.devices.find((d) => d.serial);
  await page.goto(all.url + '#/devices');
  await page.waitForSelector('tbody tr.clickable');
  await page.fill('input[data-search]', dev.serial);
  await page.press('input[data-search]', 'Enter');
  await page.waitForFunction((s) => location.hash.includes('q=' + encodeURIComponent(s)) && (document.querySelector('tbody') || { textContent: '' }).textContent.includes(s), dev.serial);
  await page.goto(all.url + '#/devices?sort=sessions&dir=desc');
  await page.waitForSelector('th[aria-sort=descending]'); // the same page re-renders in place: wait for the new view
  const top = Math.max(...all.report.devices.map((d) => d.sessions));
  const first = await page.locator('tbody tr.clickable').first().locator('td').last().textContent();
  assert.equal(first.trim(), String(top));
  await page.close();
});

test('device page shows identity, claims with origins, certificate, findings explained, sightings', async () => {
  const page = await newPage();
  await page.goto(mixed.url + '#/devices?class=individualized');
  await page.waitForSelector('tbody tr.clickable');
  await page.locator('tbody tr.clickable a').first().click();
  await page.waitForSelector('text=Claims and where they came from');
  const text = await page.textContent('main');
  assert.match(text, /Identity/);
  assert.match(text, /certificate/); // a claim origin
  assert.match(text, /Chain as sent/);
  assert.match(text, /Sightings \(/);
  assert.match(text, /spa_mixed_tls12\.pcap/);
  await shot(page, 'device');
  // A device with findings shows what they mean and what to do.
  const withFinding = all.report.devices.find((d) => d.findings.length);
  await page.goto(all.url + '#/device/' + encodeURIComponent(withFinding.id));
  await page.waitForSelector('.finding');
  assert.match(await page.textContent('.finding'), /What to do/);
  await page.close();
});

test('device page: a handshake whose ClientHello packet was lost shows the certificate that followed, and says packets are missing', async () => {
  // spa_mixed_tls12.pcap without the packet of 10.77.0.11's ClientHello (frame 6), as a SPAN port dropping under load.
  const lossy = path.join(tmp, 'no-hello.pcap');
  execFileSync('editcap', [path.join(SOURCE, 'samples/spa_mixed_tls12.pcap'), lossy, '6']);
  const run = replay('no-hello', [lossy]);
  const device = run.report.devices.find((d) => d.ips.includes('10.77.0.11'));
  assert.equal(device.identity, 'individualized');
  assert.equal(device.model, 'SPA-962');
  const url = await serve(run.db);
  const page = await newPage();
  await page.goto(url + '#/device/' + encodeURIComponent(device.id));
  const history = page.locator('[data-panel=handshakes]');
  await history.locator('tbody tr').first().waitFor();
  assert.equal(await history.locator('tbody tr').count(), 1);
  const row = await history.locator('tbody tr').first().textContent();
  assert.match(row, /individualized\s*client-cert\s*packets missing/);
  assert.match(row, /ClientHello not seen/);
  assert.match(await history.locator('[data-gap=handshake]').getAttribute('title'), /missing from the capture/);
  await shot(page, 'device-hello-lost');
  assert.match(await page.locator('[data-panel=sightings] tbody tr').first().textContent(), /TLS.*\d\s*cert present/);  // no SNI: no dangling separator
  assert.doesNotMatch(await page.locator('[data-panel=sightings] tbody tr').first().textContent(), /· cert/);
  // The other devices' handshakes were whole: no such note.
  const other = run.report.devices.find((d) => d.ips.includes('10.77.0.15'));
  await page.goto(url + '#/device/' + encodeURIComponent(other.id));
  // (a change of hash: wait for the other device's page, not the rows still shown)
  await page.waitForFunction((ip) => (document.querySelector('[data-panel=handshakes] tbody tr')?.textContent || '').includes(ip), '10.77.0.15');
  assert.equal(await page.locator('[data-gap=handshake]').count(), 0);
  assert.equal(await page.locator('[data-no-hello]').count(), 0);
  await page.close();
});

test('device page pages through its sightings, oldest or newest first, the focus staying on the pager', async () => {
  // The Cisco SPA seen in four of the samples: five sightings, two to a page.
  const id = 'mac:00:0e:08:ab:cd:ef';
  const apiPage = async (q) => (await (await fetch(`${all.url}api/devices/${encodeURIComponent(id)}?${q}`)).json());
  const expected = (await apiPage('sightings_limit=1000')).sightings.map((x) => [String(x.frame), x.source]);
  assert.equal(expected.length, 5);
  const page = await newPage();
  const range = () => page.textContent('[data-range=sightings]');
  const rows = () => page.$$eval('[data-panel=sightings] tbody tr', (trs) => trs.map((tr) => [tr.cells[4].textContent.replace(/\D/g, ''), tr.cells[5].textContent]));
  const turn = async (which, text) => {
    await page.click(`[data-pager=sightings] [data-page=${which}]`);
    await page.waitForFunction((t) => document.querySelector('[data-range=sightings]').textContent === t, text);
  };
  await page.goto(all.url + '#/device/' + encodeURIComponent(id) + '?sightings_limit=2');
  await page.waitForSelector('[data-range=sightings]');
  assert.equal(await range(), '1–2 of 5');
  assert.ok(await page.isDisabled('[data-pager=sightings] [data-page=prev]'));
  const seen = await rows();
  await turn('next', '3–4 of 5');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.page), 'next', 'focus kept on Next');
  seen.push(...await rows());
  await turn('next', '5–5 of 5');
  seen.push(...await rows());
  // Next is disabled on the last page: the focus goes to the page, not to nowhere.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'view');
  assert.deepEqual(seen, expected);
  assert.ok(await page.isDisabled('[data-pager=sightings] [data-page=next]'));
  assert.ok(await page.isDisabled('[data-pager=sightings] [data-page=last]'));
  await turn('first', '1–2 of 5');
  await turn('last', '5–5 of 5');
  assert.deepEqual(await rows(), expected.slice(4));
  // Newest first starts again from the newest.
  await page.focus('[data-pager=sightings] select');  // as a click or Tab would (selectOption alone does not)
  await page.selectOption('[data-pager=sightings] select', 'newest');
  await page.waitForFunction(() => document.querySelector('[data-range=sightings]').textContent === '1–2 of 5');
  assert.deepEqual(await rows(), [expected[4], expected[3]]);
  assert.equal(await page.evaluate(() => document.activeElement.name), 'sightings_order', 'focus kept on the order');
  assert.match(page.url(), /sightings_order=newest/);
  await page.close();
});

test('device page: a device that made many handshakes shows the first and the last, and says where the others are', async () => {
  // 51 copies of resumption.pcap an hour apart (editcap -t): 102 handshakes of one phone.
  const dir = path.join(tmp, 'copies');
  fs.mkdirSync(dir, { recursive: true });
  const copies = [];
  for (let i = 0; i < 51; ++i) {
    const copy = path.join(dir, `resumption-${i}.pcap`);
    execFileSync('editcap', ['-t', String(i * 3600), path.join(SOURCE, 'samples/resumption.pcap'), copy]);
    copies.push(copy);
  }
  const c = replay('copies', copies);
  const url = await serve(c.db);
  const page = await newPage();
  await page.goto(url + '#/device/' + encodeURIComponent('mac:00:0e:08:ab:cd:ef'));
  await page.waitForSelector('[data-omitted=handshakes]');
  assert.equal(await page.textContent('[data-omitted=handshakes]'),
    'The first 50 and the last 50 of 102 handshakes; every one is in Sightings below.');
  assert.equal(await page.locator('[data-panel=handshakes] tbody tr:not(.gap)').count(), 100);
  // Between the first 50 and the last 50, one row says how many are not shown.
  assert.equal(await page.textContent('[data-panel=handshakes] tbody tr:nth-child(51)'), '… 2 more handshakes …');
  assert.match(await page.textContent('[data-panel=sightings] h2'), /^Sightings \(102\)$/);
  assert.equal(await page.textContent('[data-range=sightings]'), '1–100 of 102');
  await shot(page, 'device-many-handshakes');
  // A device with a few handshakes has no such note.
  await page.goto(mixed.url + '#/device/' + encodeURIComponent('mac:00:0e:08:ab:cd:ef'));
  await page.waitForSelector('[data-panel=handshakes]');
  assert.equal(await page.locator('[data-omitted=handshakes]').count(), 0);
  await page.close();
});

test('CSV export honours the filter', async () => {
  const page = await newPage();
  await page.goto(mixed.url + '#/devices?class=generic');
  await page.waitForSelector('[data-export=csv]');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-export=csv]')]);
  const file = path.join(OUT, 'export-generic.csv');
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r\n/);
  assert.equal(lines[0], 'mac,ips,identity,vendor,model,firmware,serial,cert_mac,cert_sha256,cert_chain,findings,first_seen,last_seen');
  assert.equal(lines.length, 3);
  assert.ok(lines.slice(1).every((l) => l.split(',')[2] === 'generic'));
  const [html] = await Promise.all([page.waitForEvent('download'), page.click('[data-export=html]')]);
  const hfile = path.join(OUT, 'export-generic.html');
  await html.saveAs(hfile);
  assert.match(fs.readFileSync(hfile, 'utf8'), /provaudit device report/);
  await page.close();
});

test('the HTML report keeps MACs, IPs and times whole and fits a screen and a landscape page', async () => {
  const page = await newPage();
  const html = await (await apiGet(page, all.url + 'api/export?format=html')).text();
  const deviceOf = (text) => {
    const d = all.report.devices.find((x) => x.mac === text || x.id === text);
    assert.ok(d, `a row for ${text}`);
    return d;
  };
  const lines = (sel) => page.$$eval(sel, (cells) => cells.map((c) => {
    const r = document.createRange();
    r.selectNodeContents(c);
    // Line boxes: distinct tops of the text's rectangles.
    return [c.textContent, new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size];
  }));
  for (const [media, width] of [['screen', 1200], ['print', 1047]]) {  // 1047 px: A4 landscape less 10 mm margins
    await page.setViewportSize({ width, height: 800 });
    await page.emulateMedia({ media });
    await page.setContent(html);
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(over <= 0, `${media}: ${over} px wider than the page`);
    const rows = await page.$$eval('table:first-of-type tbody tr', (trs) => trs.map((tr) => tr.cells.length));
    assert.equal(rows.length, all.report.devices.length);
    // A MAC on one line; each IP on a line of its own.
    const macs = (await lines('table:first-of-type tbody tr td:first-child')).filter(([t]) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(t));
    assert.equal(macs.length, all.report.devices.filter((d) => d.mac).length);
    for (const [t, n] of macs) assert.equal(n, 1, `${media}: ${t} on ${n} lines`);
    const ips = await lines('table:first-of-type tbody tr td:nth-child(2)');
    const ids = (await lines('table:first-of-type tbody tr td:first-child')).map(([t]) => t);
    ips.forEach(([t, n], i) => assert.equal(n, deviceOf(ids[i]).ips.length, `${media}: ${t} on ${n} lines`));
  }
  // Times: the date over the time to the second, the packet timestamp whole in datetime.
  const rows = await page.$$eval('table:first-of-type tbody tr', (trs) => trs.map((tr) => [tr.cells[0].textContent, [...tr.querySelectorAll('time')].map((t) => [t.getAttribute('datetime'), t.innerHTML])]));
  for (const [id, pair] of rows) {
    const d = deviceOf(id);
    assert.deepEqual(pair.map(([iso]) => iso), [d.first_seen, d.last_seen]);
    for (const [iso, shown] of pair) assert.equal(shown, `${iso.slice(0, 10)}<br>${iso.slice(11, 19)}Z`);
  }
  // Every finding, a server's too, carries its severity as a badge.
  const badges = async (table) => (await page.$$eval(`${table} tbody .sev`, (bs) => bs.map((b) => b.textContent))).sort();
  const severities = (list) => list.flatMap((x) => x.findings.map((f) => f.severity)).sort();
  assert.deepEqual(await badges('table:first-of-type'), severities(all.report.devices));
  assert.deepEqual(await badges('table:nth-of-type(2)'), severities(all.report.servers));
  assert.ok(severities(all.report.servers).length > 0);
  await page.close();
});

test('hostile certificate and User-Agent strings render as text and run nothing', async () => {
  const hostile = all.report.devices.filter((d) => /<script|onerror/i.test(JSON.stringify([d.cert && d.cert.subject, d.user_agents])));
  assert.ok(hostile.length > 0, 'samples/audit_cases.pcap should hold a hostile device');
  const page = await newPage();
  await page.goto(all.url + '#/devices?q=alert');
  await page.waitForSelector('tbody tr.clickable');
  const listText = await page.textContent('tbody');
  assert.ok(listText.includes('<script>alert(1)</script>') || listText.includes('onerror'), 'payload shown as text in the list');
  await shot(page, 'hostile-list');
  for (const d of hostile) {
    await page.goto(all.url + '#/device/' + encodeURIComponent(d.id));
    await page.waitForSelector('text=Claims and where they came from');
    const body = await page.evaluate(() => document.body.textContent);
    if (d.cert) assert.ok(body.includes(d.cert.subject.replace(/\\/g, '')) || body.includes(d.cert.subject), 'subject present as text');
    for (const ua of d.user_agents) assert.ok(body.includes(ua), 'User-Agent present as text');
    // Nothing was injected: the only script is app.js, no <img> at all, no inline handlers.
    assert.equal(await page.locator('script').count(), 1);
    assert.equal(await page.locator('main img').count(), 0);
    assert.equal(await page.evaluate(() => document.querySelectorAll('[onerror], [onload], [onclick]').length), 0);
  }
  await shot(page, 'hostile-device');
  await page.waitForTimeout(300);
  assert.deepEqual(dialogs, [], 'no dialog may open');
  await page.close();
});

test('servers and findings pages filter and sort', async () => {
  const page = await newPage();
  await page.goto(all.url + '#/servers');
  await page.waitForSelector('tbody tr.clickable');
  assert.equal(await page.locator('tbody tr.clickable').count(), all.report.servers.length);
  await page.selectOption('select[name=cert_request]', 'no');
  const noCert = all.report.servers.filter((s) => s.requests_client_cert === false).length;
  await page.waitForFunction((n) => location.hash.includes('cert_request=no') && document.querySelectorAll('tbody tr.clickable').length === n, noCert);
  await page.goto(all.url + '#/servers');
  // (a change of hash: wait for the unfiltered list, not the filtered one still shown)
  await page.waitForFunction((n) => !location.hash.includes('cert_request') && document.querySelectorAll('tbody tr.clickable').length === n, all.report.servers.length);
  assert.equal(await page.textContent('.page-head .sub'), `${all.report.servers.length} servers`);
  // The samples reach one server with TLS 1.2, then 1.3, then 1.0: listed oldest first.
  assert.ok(all.report.servers.some((s) => s.tls_versions.join() === 'TLS 1.0,TLS 1.2,TLS 1.3'), JSON.stringify(all.report.servers.map((s) => s.tls_versions)));
  assert.match(await page.textContent('tbody'), /TLS 1\.0, TLS 1\.2, TLS 1\.3/);
  await shot(page, 'servers');
  // One of a thing is said in the singular: spa_mixed has one server and one capture file.
  await page.goto(mixed.url + '#/servers');
  await page.waitForFunction(() => document.querySelectorAll('tbody tr.clickable').length === 1);
  assert.equal(await page.textContent('.page-head .sub'), '1 server');
  await page.goto(mixed.url + '#/');
  await page.waitForSelector('[data-kpi=devices]');
  assert.equal(await page.textContent('.page-head .sub'), 'Audit of 5 devices from 1 capture source');
  assert.equal(await page.textContent('[data-kpi=devices] .note'), '1 server');
  assert.match(await page.textContent('main'), /1 file, 0 interfaces/);
  await page.goto(mixed.url + '#/findings?code=generic-cert');
  await page.waitForSelector('tbody tr.clickable');
  assert.equal(await page.locator('tbody tr.clickable').count(), 2);
  assert.match(await page.textContent('main'), /What to do/);
  await page.goto(all.url + '#/findings');
  await page.waitForSelector('tbody tr.clickable');
  await shot(page, 'findings');
  await page.close();
});

test('keyboard: / focuses search, j and Enter open a device', async () => {
  const page = await newPage();
  await page.goto(mixed.url + '#/devices');
  await page.waitForSelector('tbody tr.clickable');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'q');
  await page.keyboard.press('Escape');
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash.startsWith('#/device/'));
  await page.close();
});

test('with a token: sign in, the Sign out button (a POST) ends the session', async () => {
  const url = await serve(mixed.db, 'browser-test-token');
  const page = await newPage();
  await page.goto(url);
  await page.waitForURL(/\/login$/);
  await page.fill('input[name=token]', 'browser-test-token');
  await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);
  await page.waitForSelector('[data-kpi=devices]');
  await page.waitForSelector('#signout:not([hidden])');
  // A GET of /logout (a link, a prefetch) does not sign out.
  const res = await apiGet(page, url + 'logout');
  assert.equal(res.status(), 405);
  assert.equal((await apiGet(page, url + 'api/stats')).status(), 200);
  await Promise.all([page.waitForURL(/\/login$/), page.click('#signout button')]);
  assert.equal((await apiGet(page, url + 'api/stats')).status(), 401);
  await page.close();
});

test('serve takes its address as --serve too, the common option replay and capture take', async () => {
  const url = await serve(mixed.db, undefined, '--serve');
  const page = await newPage();
  const stats = await (await apiGet(page, url + 'api/stats')).json();
  assert.equal(stats.devices.total, mixed.report.devices.length);
  assert.equal(stats.devices.by_identity.generic, byClass(mixed.report, 'generic'));
  await page.close();
});

test('without a token there is no Sign out button', async () => {
  const page = await newPage();
  await page.goto(mixed.url);
  await page.waitForSelector('[data-kpi=devices]');
  await page.waitForFunction(() => document.querySelector('#live').classList.contains('ok'));
  assert.equal(await page.isHidden('#signout'), true);
  await page.close();
});

test('sightings past --max-sightings: every page says the results are partial, with the count of the moment', async () => {
  const db = path.join(tmp, 'limited.db');
  const samples = fs.readdirSync(path.join(SOURCE, 'samples')).filter((f) => f.endsWith('.pcap')).sort().map((f) => path.join(SOURCE, 'samples', f));
  const replay = (...args) => execFileSync(BIN, ['replay', '-q', '--db', db, ...args], { stdio: ['ignore', 'ignore', 'ignore'] });
  replay('--max-sightings', '5', ...samples);
  const limited = JSON.parse(execFileSync(BIN, ['report', '--db', db, '--format', 'json']).toString());
  assert.ok(limited.devices.length <= 5 && limited.devices.length < all.report.devices.length);
  const page = await newPage();
  const base = await serve(db);
  const stats = async () => (await apiGet(page, base.replace(/#.*$/, '') + 'api/stats')).json();
  const bannerCount = async () => {
    await page.waitForSelector('[data-banner=audit-limit]');
    const text = await page.textContent('[data-banner=audit-limit]');
    const m = /^([\d,. \u00a0\u202f]+) sightings are stored but not audited \(--max-sightings\)/.exec(text);
    assert.ok(m, text);
    return Number(m[1].replace(/\D/g, ''));
  };
  await page.goto(base);
  await page.waitForSelector('[data-kpi=devices]');
  // One run: the count of the moment and the run's anomaly agree, every sighting but the first five.
  const first = await stats();
  const over = first.anomalies.list.find((a) => a.name === 'audit_sightings_over_limit');
  assert.ok(over && over.count > 0, 'the anomaly is in the stats API');
  assert.equal(first.sightings_left_out, over.count);
  assert.equal(await bannerCount(), first.sightings_left_out);
  // The evidence is full: five held of five, and past the first four only new sightings joined.
  assert.deepEqual({ ...first.evidence, memory_limit: 0, bytes: 0 }, { held: 5, limit: 5, in_order: 4, memory_need: 268435456 + 5 * 8192, memory_limit: 0, bytes: 0, bytes_limit: 5 * 8192 });
  assert.ok(first.evidence.bytes >= 5 * 8192, `${first.evidence.bytes}`);
  assert.equal(await evidenceText(page), '5 of 5 sightings (--max-sightings) · past the first 4, only new sightings join');
  await shot(page, 'overview-limited');
  // Under the title of every other page too.
  const device = limited.devices[0].id;
  for (const [hash, title] of [['#/devices', 'Devices'], ['#/servers', 'Servers'], ['#/findings', 'Findings'], ['#/device/' + encodeURIComponent(device), 'Device']]) {
    await page.goto(base.replace(/#.*$/, '') + hash);
    await page.waitForFunction((t) => document.title.startsWith(t + ' ·'), title);
    assert.equal(await page.locator('.page-head + [data-banner=audit-limit]').count(), 1, hash);
    assert.equal(await bannerCount(), first.sightings_left_out, hash);
  }
  // A restart with the same limit leaves the same sightings out: the count stays, though
  // the restarted run counts its left-out sightings again in its source's anomalies.
  replay('--max-sightings', '5', samples[0]);
  const again = await stats();
  assert.ok(again.anomalies.list.find((a) => a.name === 'audit_sightings_over_limit').count > over.count);
  assert.equal(again.sightings_left_out, first.sightings_left_out);
  await page.reload();
  assert.equal(await bannerCount(), first.sightings_left_out);
  // Without the limit the next run audits them all: the banner goes, the old anomalies stay.
  replay('--max-sightings', '0', samples[0]);
  const lifted = await stats();
  assert.equal(lifted.sightings_left_out, 0);
  assert.ok(lifted.anomalies.list.some((a) => a.name === 'audit_sightings_over_limit'));
  await page.goto(base.replace(/#.*$/, '') + '#/devices');
  await page.reload();
  await page.waitForFunction(() => document.title.startsWith('Devices ·'));
  assert.equal(await page.locator('[data-banner=audit-limit]').count(), 0);
  await page.close();
  // Without the limit there is no banner.
  const full = await newPage();
  await full.goto(all.url);
  await full.waitForSelector('[data-kpi=devices]');
  assert.equal(await full.locator('[data-banner=audit-limit]').count(), 0);
  await full.close();
});

test('a --max-sightings that may need more memory than the writer may use is said on the overview', async () => {
  // 100 million sightings may need some 820 GB: more than any machine this runs on.
  const db = path.join(tmp, 'memory.db');
  const run = spawnSyncText(BIN, ['replay', '-q', '--max-sightings', '100000000', '--db', db, path.join(SOURCE, 'samples', 'spa_mixed_tls12.pcap')]);
  assert.match(run, /^provaudit: warning: --max-sightings 100000000 may need up to 819\.5 GB of memory/);
  const base = await serve(db);
  const page = await newPage();
  await page.goto(base);
  const stats = await (await apiGet(page, base + 'api/stats')).json();
  assert.equal(stats.evidence.memory_need, 268435456 + 100000000 * 8192);
  assert.ok(stats.evidence.memory_limit > 0 && stats.evidence.memory_limit < stats.evidence.memory_need);
  await page.waitForSelector('[data-evidence-memory]');
  const text = (await page.textContent('[data-evidence-memory]')).replace(/(\d)[,\u00a0\u202f](?=\d{3})/g, '$1');
  assert.match(text, /may need up to 763\.2 GiB of memory, more than the [\d.]+ [MGT]iB this writer may use: lower --max-sightings or raise its memory limit/);
  await shot(page, 'overview-memory');
  await page.close();
});

// A capture of plain-HTTP profile fetches, one connection each from its own
// device (MAC 00:0e:08:77:00:NN, IP 10.0.0.NN) to 10.0.0.2:80, or all from the first (oneDevice).
function httpCapture(file, requests, oneDevice = false) {
  const parts = [];
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); header.writeUInt16LE(2, 4); header.writeUInt16LE(4, 6);
  header.writeUInt32LE(262144, 16); header.writeUInt32LE(1, 20);
  parts.push(header);
  let us = 0;
  const frame = (src, dst, smac, dmac, sport, dport, seq, flags, payload) => {
    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(sport, 0); tcp.writeUInt16BE(dport, 2); tcp.writeUInt32BE(seq >>> 0, 4); tcp.writeUInt32BE(1, 8);
    tcp.writeUInt16BE((5 << 12) | flags, 12); tcp.writeUInt16BE(65535, 14);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; ip.writeUInt16BE(40 + payload.length, 2); ip[8] = 64; ip[9] = 6;
    Buffer.from(src).copy(ip, 12); Buffer.from(dst).copy(ip, 16);
    const data = Buffer.concat([Buffer.from(dmac), Buffer.from(smac), Buffer.from([8, 0]), ip, tcp, payload]);
    const rec = Buffer.alloc(16);
    us += 1000;
    rec.writeUInt32LE(1800000000 + Math.floor(us / 1e6), 0); rec.writeUInt32LE(us % 1e6, 4);
    rec.writeUInt32LE(data.length, 8); rec.writeUInt32LE(data.length, 12);
    parts.push(rec, data);
  };
  const server = [10, 0, 0, 2], smac = [2, 0x77, 0, 0, 0, 2];
  requests.forEach((req, i) => {
    const n = oneDevice ? 10 : 10 + i, client = [10, 0, 0, n], cmac = [0, 0x0e, 0x08, 0x77, 0, n], port = 40000 + i;
    let seq = 1000;
    frame(client, server, cmac, smac, port, 80, seq - 1, 0x02, Buffer.alloc(0));
    frame(server, client, smac, cmac, 80, port, 4999, 0x12, Buffer.alloc(0));
    const bytes = Buffer.from(req, 'latin1');
    for (let off = 0; off < bytes.length; off += 1400) {
      const part = bytes.subarray(off, off + 1400);
      frame(client, server, cmac, smac, port, 80, seq, 0x18, part);
      seq += part.length;
    }
    frame(client, server, cmac, smac, port, 80, seq, 0x11, Buffer.alloc(0));
  });
  fs.writeFileSync(file, Buffer.concat(parts));
}

test('sightings too large for the size of the evidence are said on the overview, before their number reaches the limit', async () => {
  // 30 User-Agents of 12 KiB: about 64 KB each in memory, where --max-sightings 20 allows 8 KiB a sighting.
  const pcap = path.join(tmp, 'long-ua.pcap');
  httpCapture(pcap, Array.from({ length: 30 }, (_, i) =>
    `GET /spa962-${i}.cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: Linksys/SPA-962-6.1.5(a) (88012BA0${1000 + i}) ${'A'.repeat(12 * 1024)}\r\n\r\n`));
  const db = path.join(tmp, 'long-ua.db');
  const run = spawnSyncText(BIN, ['replay', '-q', '--max-sightings', '20', '--db', db, pcap]);
  assert.match(run, /--max-sightings 20, or 163\.8 kB of evidence/);
  const base = await serve(db);
  const page = await newPage();
  await page.goto(base);
  const stats = await (await apiGet(page, base + 'api/stats')).json();
  assert.equal(stats.evidence.bytes_limit, 20 * 8192);
  assert.ok(stats.evidence.bytes >= stats.evidence.bytes_limit, JSON.stringify(stats.evidence));
  assert.ok(stats.evidence.held < stats.evidence.in_order, JSON.stringify(stats.evidence));
  assert.equal(stats.sightings_left_out, 30 - stats.evidence.held);
  const text = (await evidenceText(page));
  assert.equal(text, `${stats.evidence.held} of 20 sightings (--max-sightings) · its sightings are large: `
    + `${(stats.evidence.bytes / 1024).toFixed(1)} KiB of the 160.0 KiB the limit allows; no more join`);
  await shot(page, 'overview-evidence-size');
  await page.close();
});

test('a device that sent more User-Agents and URLs than its lists keep says how many more, and its claims too', async () => {
  const pcap = path.join(tmp, 'one-device.pcap');
  httpCapture(pcap, Array.from({ length: 100 }, (_, i) =>
    `GET /spa962-${i}.cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: Linksys/SPA-962-6.1.5(a) (88012BA01234) build ${i}\r\n\r\n`), true);
  const { db, report } = replay('one-device', [pcap]);
  assert.equal(report.devices.length, 1);
  assert.deepEqual(report.devices[0].omitted, { urls: 36, user_agents: 36 });
  const base = await serve(db);
  const page = await newPage();
  await page.goto(base + '#/device/' + encodeURIComponent(report.devices[0].id));
  await page.waitForSelector('[data-omitted=user_agents]');
  assert.equal(await page.locator('[data-field=user-agent]').count(), 64);
  assert.equal(await page.textContent('[data-omitted=user_agents]'), 'and 36 more, not listed');
  assert.equal(await page.textContent('[data-omitted=urls]'), 'and 36 more, not listed');
  // Each User-Agent claims vendor, model, firmware and serial: those of the 36 not kept are counted.
  const detail = await (await apiGet(page, base + 'api/devices/' + encodeURIComponent(report.devices[0].id))).json();
  assert.ok(detail.detail.claims_omitted > 0, JSON.stringify(detail.detail.claims_omitted));
  assert.equal(await page.textContent('[data-omitted=claims]'), `${detail.detail.claims_omitted} more claims, from further texts of the same origins, not listed`);
  await shot(page, 'device-omitted');
  await page.close();
});

test('every anomaly the engine counts has a meaning in the page, and a snap-length cut is explained where it is listed', async () => {
  // The names in the C++ sources (PA_ANOMALY("...")) against the page's patterns.
  const names = new Set();
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(cc|h)$/.test(e.name)) for (const m of fs.readFileSync(p, 'utf8').matchAll(/PA_ANOMALY\("([a-z0-9_]+)"\)/g)) names.add(m[1]);
    }
  };
  for (const d of ['capture', 'analyze', 'store', 'app', 'common', 'web']) walk(path.join(SOURCE, d));
  assert.ok(names.size > 50, `only ${names.size} anomaly names found`);
  const js = fs.readFileSync(path.join(SOURCE, 'web/assets/app.js'), 'utf8');
  const table = /const ANOMALY_MEANINGS = (\[[\s\S]*?\n  \]);/.exec(js);
  assert.ok(table, 'ANOMALY_MEANINGS not found in app.js');
  const meanings = new Function(`return ${table[1]};`)();
  const missing = [...names].filter((n) => !meanings.some(([re]) => re.test(n)));
  assert.deepEqual(missing, []);
  // spa_mixed_tls12.pcap as tcpdump -s 120 would have captured it.
  const cut = path.join(tmp, 'snap120.pcap');
  execFileSync('editcap', ['-s', '120', path.join(SOURCE, 'samples/spa_mixed_tls12.pcap'), cut]);
  const snap = replay('snap120', [cut]);
  const url = await serve(snap.db);
  const page = await newPage();
  await page.goto(url);
  const item = page.locator('[data-anomaly=snaplen_truncated]');
  await item.waitFor();
  assert.match(await item.textContent(), /^snaplen_truncated: \d+ · packets cut short by the capture's snap length: .*tcpdump -s 0\)$/);
  assert.equal(await item.locator('.meaning.lost').count(), 1);
  assert.match(await page.locator('[data-anomaly=tcp_gap_in_handshake]').textContent(), /reason handshake-gap$/);
  // Its server's certificate request was cut away with the rest: not visible, not "never", and TLS, not plain HTTP.
  assert.match(await page.textContent('[data-request-not-visible]'), /^1 · TLS 1\.3 or handshakes not seen whole$/);
  assert.match(await page.textContent('[data-busiest]'), /10\.77\.0\.2:443 not visible · 5 devices/);
  await shot(page, 'overview-snaplen');
  await page.goto(url + '#/servers?cert_request=unknown');
  await page.waitForSelector('tbody tr.clickable');
  assert.equal(await page.locator('tbody tr.clickable').count(), 1);
  const row = await page.textContent('tbody tr.clickable');
  assert.match(row, /not visible/);
  assert.match(row, /TLS, version not seen/);
  assert.doesNotMatch(row, /never|plain HTTP/);
  await page.close();
});

// A database of 120 devices, one plain-HTTP profile fetch each to 10.0.0.2:80 (httpCapture): more
// than a page of the lists. The first device's User-Agent hides a right-to-left override and
// zero-width characters, as the reviewer's hostile capture did.
const SPOOFED_UA = 'Linksys/SPA942-5.1.8 \u202Egnp.lave\u202C zero\u200Bwidth\u200D';
let manyRun = null;
async function many() {
  if (manyRun) return manyRun;
  const pcap = path.join(tmp, 'many.pcap');
  httpCapture(pcap, Array.from({ length: 120 }, (_, i) => {
    const ua = i === 0 ? Buffer.from(SPOOFED_UA, 'utf8').toString('latin1') : `Linksys/SPA-962-6.1.5(a) (88012BA0${1000 + i}) n${i}`;
    return `GET /spa962-${i}.cfg HTTP/1.1\r\nHost: prov\r\nUser-Agent: ${ua}\r\n\r\n`;
  }));
  const run = replay('many', [pcap]);
  assert.equal(run.report.devices.length, 120);
  manyRun = { ...run, url: await serve(run.db) };
  return manyRun;
}
const rangeIs = (page, text) => page.waitForFunction((t) => (document.querySelector('[data-range]') || {}).textContent === t, text);

test('search box: typed slowly while each pause loads its list, it keeps exactly what was typed, and Back leaves the search whole', async () => {
  const { url } = await many();
  const page = await newPage();
  // Each list answers 200 ms late: a pause of 280 ms between keys starts a search (250 ms) whose
  // page arrives while the next key is typed.
  await page.route('**/api/devices?*', async (route) => { await new Promise((r) => setTimeout(r, 200)); await route.continue(); });
  await page.goto(url + '#/devices');
  await page.waitForSelector('tbody tr.clickable');
  const entries = await page.evaluate(() => history.length);
  await page.click('input[data-search]');
  await page.keyboard.type('spa962', { delay: 280 });
  assert.equal(await page.inputValue('input[data-search]'), 'spa962');
  await page.waitForFunction(() => location.hash === '#/devices?q=spa962');
  await page.waitForTimeout(600);  // its list loaded
  assert.equal(await page.inputValue('input[data-search]'), 'spa962');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'q', 'still typing in the box');
  // The prefixes replaced one another: one entry for the search, and Back leaves it.
  assert.equal(await page.evaluate(() => history.length), entries + 1);
  await page.goBack();
  await page.waitForFunction(() => location.hash === '#/devices' && document.querySelector('.page-head .sub').textContent === '120 devices match');
  assert.equal(await page.inputValue('input[data-search]'), '');
  // A space typed before a pause stays where it was typed.
  await page.click('input[data-search]');
  await page.keyboard.type('spa ', { delay: 30 });
  await page.waitForTimeout(700);
  await page.keyboard.type('n7', { delay: 30 });
  await page.waitForFunction(() => location.hash === '#/devices?q=spa+n7');
  await page.waitForTimeout(400);
  assert.equal(await page.inputValue('input[data-search]'), 'spa n7');
  await page.close();
});

test('invisible and bidi control characters from a device show as marked code points, in the page and the HTML report', async () => {
  const { url, report } = await many();
  const device = report.devices.find((d) => d.user_agents.includes(SPOOFED_UA));
  assert.ok(device, 'the spoofing User-Agent is stored as sent');
  const page = await newPage();
  await page.goto(url + '#/device/' + encodeURIComponent(device.id));
  const ua = page.locator('[data-field=user-agent]').first();
  await ua.waitFor();
  assert.equal(await ua.textContent(), 'Linksys/SPA942-5.1.8 <U+202E>gnp.lave<U+202C> zero<U+200B>width<U+200D>');
  assert.deepEqual(await ua.locator('.invisible').evaluateAll((s) => s.map((x) => x.dataset.invisible)), ['U+202E', 'U+202C', 'U+200B', 'U+200D']);
  assert.match(await ua.locator('[data-invisible="U+202E"]').getAttribute('title'), /^U\+202E right-to-left override/);
  // Nowhere in the page does one of them act: not in the sightings, the claims or the lists either.
  await page.waitForSelector('[data-sighting=user-agent]');
  assert.match(await page.textContent('[data-sighting=user-agent]'), /<U\+202E>gnp\.lave<U\+202C>/);
  const raw = await page.evaluate(() => /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u.test(document.body.textContent + document.title));
  assert.equal(raw, false, 'no invisible character left in the page');
  await page.goto(url + '#/devices?q=' + encodeURIComponent('gnp.lave'));
  await page.waitForFunction(() => document.querySelectorAll('tbody tr.clickable').length === 1);
  assert.equal(await page.evaluate(() => /[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u.test(document.body.textContent)), false);
  // The HTML report writes them the same way, escaped.
  const html = await (await apiGet(page, url + 'api/export?format=html')).text();
  assert.equal(/[\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u.test(html), false);
  if (device.firmware || device.model) assert.ok(html.includes('&lt;U+202E&gt;') || !/\u202E/.test(JSON.stringify([device.firmware, device.model, device.findings])));
  await page.close();
});

test('a filter or an order chosen on a later page starts again from the first, with its row numbers', async () => {
  const { url } = await many();
  const page = await newPage();
  await page.goto(url + '#/devices');
  await rangeIs(page, '1–50 of 120');
  await page.click('[data-page=next]');
  await rangeIs(page, '51–100 of 120');
  // Sorting from page 2: the first page of the new order, numbered from 1.
  await page.click('th button.sort >> text=Last seen');
  await page.waitForFunction(() => location.hash.includes('sort=last_seen'));
  await rangeIs(page, '1–50 of 120');
  assert.doesNotMatch(await page.evaluate(() => location.hash), /pos=|after=|before=/);
  // Clearing the server filter from page 2.
  await page.goto(url + '#/devices?server=' + encodeURIComponent('10.0.0.2:80'));
  await rangeIs(page, '1–50 of 120');
  await page.click('[data-page=next]');
  await rangeIs(page, '51–100 of 120');
  await page.click('a[aria-label="clear server filter"]');
  await page.waitForFunction(() => !location.hash.includes('server='));
  await rangeIs(page, '1–50 of 120');
  assert.equal(await page.evaluate(() => location.hash), '#/devices');
  assert.ok(await page.isDisabled('[data-page=prev]'));
  await page.close();
});

test('paging with the keyboard or the mouse keeps the focus on the pager and shows the new page from its top', async () => {
  const { url } = await many();
  const page = await newPage();
  for (const [hash, range] of [['#/devices', '[data-range]'], ['#/findings', '.pager span']]) {
    await page.goto(url + hash);
    await page.waitForSelector('[data-page=next]:not([disabled])');
    const first = await page.textContent(range);
    await page.focus('[data-page=next]');  // Tab to it: the page scrolls to the bottom
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    assert.ok(await page.evaluate(() => scrollY > 300), 'the list is longer than the window');
    await page.keyboard.press('Enter');
    await page.waitForFunction(([sel, t]) => document.querySelector(sel).textContent !== t, [range, first]);
    assert.equal(await page.evaluate(() => document.activeElement.dataset.page), 'next', `${hash}: focus kept on Next`);
    const top = await page.evaluate(() => document.querySelector('.table-wrap').getBoundingClientRect().top - document.querySelector('.topbar').offsetHeight);
    assert.ok(top >= 0 && top < 40, `${hash}: the list's top is in view (${top})`);
    // Enter again turns the next page.
    const second = await page.textContent(range);
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.keyboard.press('Enter');
    await page.waitForFunction(([sel, t]) => document.querySelector(sel).textContent !== t, [range, second]);
  }
  await page.close();
});

test('findings: the first click on Severity, the order shown, turns it round', async () => {
  const page = await newPage();
  await page.goto(all.url + '#/findings');
  await page.waitForSelector('th[aria-sort=descending] >> text=Severity');
  await page.click('th button.sort >> text=Severity');
  await page.waitForSelector('th[aria-sort=ascending] >> text=Severity');
  assert.match(await page.evaluate(() => location.hash), /sort=severity&dir=asc/);
  const first = await page.textContent('tbody tr.clickable td:first-child');
  assert.equal(first, [...new Set(all.report.devices.concat(all.report.servers).flatMap((x) => x.findings.map((f) => f.severity)))]
    .sort((a, b) => ['info', 'low', 'medium', 'high', 'critical'].indexOf(a) - ['info', 'low', 'medium', 'high', 'critical'].indexOf(b))[0]);
  await page.close();
});

test('a link with a malformed escape says it is broken instead of a blank page', async () => {
  const page = await context.newPage();  // its own page: a bad link must not throw (checked here)
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(mixed.url + '#/device/%E0%A4%A');
  await page.waitForSelector('[data-banner=bad-link]');
  assert.match(await page.textContent('[data-banner=bad-link]'), /This link is broken/);
  assert.equal(await page.locator('[data-banner=bad-link] a[href="#/devices"]').count(), 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test('device page: each handshake names its client certificate; sightings show their User-Agent or JA4, times to the millisecond', async () => {
  const page = await newPage();
  const id = 'mac:00:0e:08:ab:cd:ef';
  const api = await (await apiGet(page, `${all.url}api/devices/${encodeURIComponent(id)}?sightings_limit=1000`)).json();
  await page.goto(all.url + '#/device/' + encodeURIComponent(id));
  await page.waitForSelector('[data-panel=handshakes] tbody tr');
  const certs = await page.$$eval('[data-panel=handshakes] tbody tr', (trs) => trs.map((tr) => {
    const c = tr.querySelector('[data-cert]');
    return c ? [c.textContent, c.getAttribute('title')] : null;
  }));
  assert.equal(certs.length, api.detail.handshakes.length);
  api.detail.handshakes.forEach((h, i) => {
    if (h.cert_sha256) assert.deepEqual(certs[i], [h.cert_sha256.slice(0, 12) + '…', 'SHA-256 ' + h.cert_sha256]);
    else assert.equal(certs[i], null);
  });
  assert.ok(api.detail.handshakes.some((h) => h.cert_sha256), 'a handshake with a client certificate');
  // Sightings: the JA4 of a TLS one, the User-Agent of an HTTP one, each time to the millisecond.
  const rows = await page.$$eval('[data-panel=sightings] tbody tr', (trs) => trs.map((tr) => ({
    time: tr.cells[0].textContent,
    ja4: (tr.querySelector('[data-sighting=ja4]') || { textContent: null }).textContent,
    ua: (tr.querySelector('[data-sighting=user-agent]') || { textContent: null }).textContent,
  })));
  assert.equal(rows.length, api.sightings.length);
  api.sightings.forEach((x, i) => {
    assert.equal(rows[i].time, x.time.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z'));
    assert.match(rows[i].time, /\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(rows[i].ja4, x.ja4 ? 'JA4 ' + x.ja4 : null);
    assert.equal(rows[i].ua, x.user_agent ? 'UA ' + x.user_agent : null);
  });
  assert.ok(rows.some((r) => r.ja4), 'a TLS sighting with its JA4');
  // The timeline says its axis is in UTC.
  await page.goto(all.url + '#/');
  assert.match(await page.textContent('svg[aria-label="Sightings over time"] [data-axis-unit]'), /UTC/);
  await page.close();
});

test('at a phone width every section of the top bar is in reach', async () => {
  const page = await newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(mixed.url + '#/');
  await page.waitForSelector('[data-kpi=devices]');
  for (const nav of ['overview', 'devices', 'servers', 'findings']) {
    const box = await page.locator(`[data-nav=${nav}]`).boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 390, `${nav}: ${JSON.stringify(box)}`);
    // Nothing covers it: the point at its middle is the link.
    assert.equal(await page.evaluate(([n, x, y]) => document.elementFromPoint(x, y).closest(`[data-nav=${n}]`) !== null, [nav, box.x + box.width / 2, box.y + box.height / 2]), true, nav);
  }
  await page.click('[data-nav=findings]');
  await page.waitForFunction(() => document.title.startsWith('Findings'));
  await shot(page, 'narrow-findings');
  await page.close();
});

test('signing in returns to the view the link named, after a wrong token and after a session ended mid-use', async () => {
  const url = await serve(mixed.db, 'browser-return-token');
  const page = await context.newPage();  // its own page: the ended session's 401 is logged by Chromium
  await page.goto(url + '#/devices?class=generic');
  await page.waitForURL(/\/login#\/devices\?class=generic$/);
  await page.fill('input[name=token]', 'wrong');
  await Promise.all([page.waitForURL(/\/login\?next=.*#failed$/), page.press('input[name=token]', 'Enter')]);
  assert.equal(await page.isVisible('#failed'), true);
  await page.fill('input[name=token]', 'browser-return-token');
  await Promise.all([page.waitForURL(url + '#/devices?class=generic'), page.press('input[name=token]', 'Enter')]);
  await page.waitForFunction(() => document.querySelectorAll('tbody tr.clickable').length === 2);
  // The session ends on the server (signed out in another tab); the next view asked for is kept.
  assert.equal(await page.evaluate(async () => (await fetch('/logout', { method: 'POST' })).redirected), true);
  await page.evaluate(() => { location.hash = '#/devices?class=none'; });
  // The page's own navigation, not one Playwright starts: its committed URL is
  // watched (waitForURL failed when a navigation it saw began was replaced).
  for (let i = 0; !/\/login#\/devices\?class=none$/.test(page.url()); i++) {
    if (i > 100) throw new Error('no sign-in page after the session ended: ' + page.url());
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.waitForLoadState('load');
  await page.fill('input[name=token]', 'browser-return-token');
  await Promise.all([page.waitForURL(url + '#/devices?class=none'), page.click('button[type=submit]')]);
  await page.waitForFunction(() => document.querySelectorAll('tbody tr.clickable').length === 1);
  // Only a view of this page is returned to: a form whose `next` names another site goes to "/".
  await page.evaluate(async () => { await fetch('/logout', { method: 'POST' }); });
  await page.goto(url + 'login');
  await page.evaluate(() => { document.getElementById('next').value = 'https://evil.example/'; });
  await page.fill('input[name=token]', 'browser-return-token');
  await Promise.all([page.waitForURL(url), page.click('button[type=submit]')]);
  await page.close();
});

test('no script errors or CSP violations on any page', () => {
  assert.deepEqual(pageErrors, []);
  assert.deepEqual(dialogs, []);
});
