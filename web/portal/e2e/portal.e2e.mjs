// End-to-end test of the tenant portal in headless Chromium, driven by
// internal/portal/e2e (go test), against a running `bulkprov portal`:
// sign in, load a CSV with one bad row, fix the cell with the keyboard,
// save, wait for the job, download the report. Screenshots go to ARTIFACTS.
//
// Environment: PORTAL_URL, CSV_PATH, ARTIFACTS, CHROMIUM (executable),
// BAD_ROW (0-based grid row of the bad cell), FIX_VALUE.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
};
const portalURL = env('PORTAL_URL');
const csvPath = env('CSV_PATH');
const artifacts = env('ARTIFACTS');
const executablePath = env('CHROMIUM');
const badRow = Number(env('BAD_ROW'));
const fixValue = env('FIX_VALUE');

const step = (msg) => console.log(`e2e: ${msg}`);
const shot = async (page, name) => {
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  step(`screenshot ${file}`);
};
const assert = (cond, msg) => {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
};

// A fresh profile each run; the closed network refuses Chromium's
// background connections, so they are switched off.
const profile = mkdtempSync(path.join(tmpdir(), 'bulkprov-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1366, height: 900 },
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = false;
const page = context.pages()[0] || (await context.newPage());
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.setDefaultTimeout(30000);

try {
  step(`open ${portalURL}`);
  await page.goto(portalURL);
  await page.waitForSelector('#signin-form:not([hidden])');
  await shot(page, '01-sign-in.png');
  // Keyboard only: the tenant field has focus and is prefilled.
  assert(await page.evaluate(() => document.activeElement.id) === 'signin-tenant', 'tenant field focused');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#app:not([hidden])');
  assert((await page.textContent('#who')).includes('acme'), 'signed in as acme');
  // Before sign-in the page's probe of /api/me is answered 401, which
  // Chromium logs; from here on the console must stay clean.
  consoleErrors.length = 0;

  step(`load ${csvPath}`);
  await page.setInputFiles('#file', csvPath);
  await page.waitForSelector('#grid tbody tr');
  await page.waitForSelector('#grid td.invalid');
  const invalid = await page.$$eval('#grid td.invalid input', (els) => els.map((e) => ({ id: e.id, label: e.getAttribute('aria-label'), invalid: e.getAttribute('aria-invalid') })));
  assert(invalid.length === 1, `one invalid cell, got ${JSON.stringify(invalid)}`);
  const bad = invalid[0];
  assert(bad.id.startsWith(`cell-${badRow}-`), `bad cell on row ${badRow}: ${bad.id}`);
  assert(bad.invalid === 'true', 'aria-invalid on the bad cell');
  const message = await page.textContent(`#${bad.id}-msg`);
  assert(message.length > 5, `message under the bad cell: ${message}`);
  step(`bad cell ${bad.label}: ${message}`);
  // The bad cell has focus after loading.
  assert(await page.evaluate(() => document.activeElement.id) === bad.id, 'bad cell focused after load');
  await shot(page, '02-loaded-one-bad-row.png');

  // Save is refused while a cell is invalid.
  await page.click('#save');
  await page.waitForFunction(() => document.getElementById('save-status').textContent.includes('Fix the'));
  assert(await page.isHidden('#job'), 'no job while a row is invalid');

  step('fix the cell with the keyboard');
  await page.focus(`#${bad.id}`);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(fixValue);
  await page.waitForSelector('#grid td.invalid', { state: 'detached' });
  await page.waitForFunction(() => document.getElementById('summary').classList.contains('ok'));
  const fixedLabel = await page.textContent('#summary');
  step(`summary: ${fixedLabel}`);
  // Enter moves down the column.
  await page.focus('#cell-0-0');
  await page.keyboard.press('Enter');
  assert(await page.evaluate(() => document.activeElement.id) === 'cell-1-0', 'Enter moves to the next row');
  await shot(page, '03-fixed.png');

  step('save');
  await page.focus('#save');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#job:not([hidden])', { timeout: 60000 });
  await page.waitForFunction(() => {
    const s = document.getElementById('job-status').dataset.status;
    return ['DONE', 'PARTIAL', 'FAILED', 'REJECTED', 'DRY_RUN', 'HELD'].includes(s);
  }, null, { timeout: 120000 });
  const status = await page.getAttribute('#job-status', 'data-status');
  const progress = await page.getAttribute('#job-progress', 'value');
  const created = await page.textContent('#job-counts dd[data-count="created"]');
  step(`job ${await page.textContent('#job-id')}: ${status}, progress ${progress}, created ${created}`);
  assert(status === 'DONE', `job status DONE, got ${status}`);
  assert(progress === '100', `progress 100, got ${progress}`);
  await page.waitForSelector('#report:not([hidden])');
  await shot(page, '04-job-done.png');

  step('download the report');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#report')]);
  const reportPath = path.join(artifacts, 'report.csv');
  await download.saveAs(reportPath);
  step(`report saved to ${reportPath} (${download.suggestedFilename()})`);
  await page.click('#refresh-jobs');
  await page.waitForSelector('#jobs tbody tr');
  await shot(page, '05-report-downloaded.png');
  assert(consoleErrors.length === 0, `no console errors: ${consoleErrors.join(' | ')}`);
} catch (e) {
  failed = true;
  console.error(`e2e: FAILED: ${e.stack || e}`);
  try {
    await shot(page, '99-failure.png');
  } catch (_) { /* the page may be gone */ }
  if (consoleErrors.length) console.error(`e2e: console errors: ${consoleErrors.join(' | ')}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
