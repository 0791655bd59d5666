// End-to-end test of the tenant portal in headless Chromium, driven by
// internal/portal/e2e (go test), against a running `bulkprov portal`. It
// walks a tenant admin's whole day, with the keyboard wherever a person
// would use it: sign in → set the tenant's defaults (phone model, welcome
// mode, a template checked with its live preview) → upload a file with one
// bad row → fix it in the grid → save with welcome=none → the job finishes
// → release the held emails → send the one SES rejected → resend the
// uncertain one after confirming → download the tenant's users. Every screen is checked with axe-core (zero serious or
// critical violations) and screenshotted to ARTIFACTS.
//
// Environment: PORTAL_URL, CSV_PATH, ARTIFACTS, CHROMIUM (executable),
// BAD_ROW (0-based grid row of the bad cell), FIX_VALUE, REJECTED_EXT (the
// extension whose first email the local SES rejects), UNCERTAIN_EXT (whose
// first email it fails with HTTP 500: uncertain), PHONE_MODEL,
// SUBJECT (a subject template; SUBJECT_RENDERED is its preview).
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

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
const rejectedExt = env('REJECTED_EXT');
const uncertainExt = env('UNCERTAIN_EXT');
const phoneModel = env('PHONE_MODEL');
const subject = env('SUBJECT');
const subjectRendered = env('SUBJECT_RENDERED');

const step = (msg) => console.log(`e2e: ${msg}`);
let shots = 0;
const shot = async (page, name) => {
  shots++;
  const file = path.join(artifacts, `${String(shots).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  step(`screenshot ${file}`);
};
const assert = (cond, msg) => {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
};
const focused = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);

// axe runs on the page as it is (CSP stays on: the source is evaluated
// through the DevTools protocol, not a script tag); serious and critical
// violations fail the test, the others are listed.
const axeReport = [];
const checkA11y = async (page, screen) => {
  await page.evaluate(axeSource);
  const res = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) }));
  });
  axeReport.push({ screen, violations: res });
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of res) step(`axe ${screen}: ${v.impact} ${v.id}: ${v.help} (${v.nodes.join(', ')})`);
  assert(bad.length === 0, `${screen}: ${bad.length} serious/critical accessibility violations: ${JSON.stringify(bad)}`);
  step(`axe ${screen}: no serious or critical violations (${res.length} minor)`);
};

// A visible focus indicator: the focused element draws an outline.
const focusVisible = async (page) => page.evaluate(() => {
  const el = document.activeElement;
  const cs = getComputedStyle(el);
  return cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2;
});

// Tab from the current focus until the element with id has focus.
const tabTo = async (page, id, max = 80) => {
  for (let i = 0; i < max; i++) {
    if ((await focused(page)) === id) return;
    await page.keyboard.press('Tab');
  }
  throw new Error(`Tab never reached #${id} (at #${await focused(page)})`);
};

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
// The API's refusals the test provokes (an invalid setting, an unknown
// template variable, a missing job) are logged by Chromium as failed
// loads; anything else — a script error, a CSP violation — fails the test.
page.on('console', (m) => {
  if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (400|404|409)\b/.test(m.text())) consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.setDefaultTimeout(30000);

try {
  // ---- sign in ----------------------------------------------------------
  step(`open ${portalURL}`);
  await page.goto(portalURL);
  await page.waitForSelector('#signin-form:not([hidden])');
  assert(await focused(page) === 'signin-tenant', 'tenant field focused');
  await checkA11y(page, 'sign-in');
  await shot(page, 'sign-in');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#app:not([hidden])');
  assert((await page.textContent('#who')).includes('ACME') || (await page.textContent('#who')).includes('acme'), 'signed in as acme');
  // Before sign-in the page's probe of /api/me is answered 401, which
  // Chromium logs; from here on the console must stay clean.
  consoleErrors.length = 0;

  // ---- settings: defaults and template ----------------------------------
  step('settings, by keyboard from the navigation');
  await page.focus('#nav-upload');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert(await focused(page) === 'nav-settings', 'Tab reaches the Settings link');
  assert(await focusVisible(page), 'the focused link shows a focus outline');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-settings:not([hidden]) #set-provisioning-default-phone-model');
  assert(await focused(page) === 'settings-h', 'the Settings heading has focus after navigating');
  await page.waitForFunction(() => document.getElementById('preview-subject').textContent.length > 0);
  await checkA11y(page, 'settings');
  await shot(page, 'settings');

  // An invalid time zone is refused on its field, by the server's check.
  await page.focus('#set-provisioning-time-zone');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Mars/Olympus_Mons');
  await page.focus('#settings-save');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#set-provisioning-time-zone[aria-invalid="true"]');
  const tzError = await page.textContent('#set-provisioning-time-zone-err');
  step(`time zone refused: ${tzError}`);
  assert(/time zone/i.test(tzError), 'the time zone error is on its field');
  assert(await focused(page) === 'set-provisioning-time-zone', 'focus moves to the invalid field');
  await checkA11y(page, 'settings-error');
  await shot(page, 'settings-invalid-time-zone');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Europe/Paris');

  // Default phone model (a native select: arrow keys or type-ahead work).
  await page.focus('#set-provisioning-default-phone-model');
  await page.selectOption('#set-provisioning-default-phone-model', phoneModel);
  assert((await page.textContent('#set-provisioning-default-phone-model-src')).includes('your tenant'), 'phone model marked as the tenant\'s');
  // Welcome emails held by default: released from the job view.
  await page.selectOption('#set-upload-welcome', 'none');

  // The subject template: an unknown variable is refused by the preview...
  await page.focus('#set-email-subject');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('Hello {{.NICKNAME}}');
  await page.waitForSelector('#set-email-subject[aria-invalid="true"]');
  const tplError = await page.textContent('#preview-error');
  step(`template refused: ${tplError}`);
  assert(tplError.includes('NICKNAME'), 'the preview names the unknown variable');
  await shot(page, 'template-unknown-variable');
  // ... and a good one is previewed, rendered by the server.
  await page.keyboard.press('Control+A');
  await page.keyboard.type(subject);
  await page.waitForFunction((want) => document.getElementById('preview-subject').textContent === want, subjectRendered);
  assert(await page.getAttribute('#set-email-subject', 'aria-invalid') === null, 'subject valid again');
  const previewText = await page.textContent('#preview-text');
  assert(previewText.includes('acme-100') || previewText.includes('Extension'), 'text preview rendered');
  const htmlPreview = await page.getAttribute('#preview-html', 'srcdoc');
  assert(htmlPreview.includes('<p>Hello'), 'HTML preview rendered');
  await page.selectOption('#preview-mode', 'password');
  await page.waitForFunction(() => document.getElementById('preview-text').textContent.includes('Temporary password'));
  // The HTML preview renders in its sandboxed frame (no script can run there).
  const frame = page.frames().find((f) => f.url() === 'about:srcdoc');
  assert(frame, 'the HTML preview frame exists');
  await frame.waitForFunction(() => document.body && document.body.textContent.includes('Temporary password'));
  await shot(page, 'template-preview');
  const previewShot = path.join(artifacts, `${String(++shots).padStart(2, '0')}-template-preview-panes.png`);
  await page.locator('#preview').screenshot({ path: previewShot });
  step(`screenshot ${previewShot}`);

  await tabTo(page, 'settings-save');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('settings-status').textContent.includes('saved'));
  assert(await page.inputValue('#set-provisioning-default-phone-model') === phoneModel, 'phone model saved');
  assert(await page.inputValue('#set-provisioning-time-zone') === 'Europe/Paris', 'time zone saved');
  assert(await page.inputValue('#set-email-subject') === subject, 'subject saved');
  assert((await page.textContent('#set-email-subject-src')).includes('your tenant'), 'subject is the tenant\'s');
  const operator = await page.textContent('#operator-list');
  assert(operator.includes('SIP registrar'), 'operator settings listed read-only');
  assert(await page.$('#operator-list input') === null, 'operator settings are not editable');
  await checkA11y(page, 'settings-saved');
  await shot(page, 'settings-saved');

  // ---- upload ------------------------------------------------------------
  step('upload users');
  await page.focus('#nav-upload');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-upload:not([hidden])');
  assert(await page.inputValue('#opt-welcome') === 'none', 'the upload starts from the tenant default welcome=none');
  await checkA11y(page, 'upload-empty');
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
  assert(await focused(page) === bad.id, 'bad cell focused after load');
  await checkA11y(page, 'upload-one-bad-row');
  await shot(page, 'loaded-one-bad-row');

  // Save is refused while a cell is invalid.
  await page.focus('#save');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('save-status').textContent.includes('Fix the'));

  step('fix the cell with the keyboard');
  await page.focus(`#${bad.id}`);
  await page.keyboard.press('Control+A');
  await page.keyboard.type(fixValue);
  await page.waitForSelector('#grid td.invalid', { state: 'detached' });
  await page.waitForFunction(() => document.getElementById('summary').classList.contains('ok'));
  await page.focus('#cell-0-0');
  await page.keyboard.press('Enter');
  assert(await focused(page) === 'cell-1-0', 'Enter moves to the next row');
  await shot(page, 'fixed');

  step('save with welcome=none');
  await page.focus('#save');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-job:not([hidden])', { timeout: 60000 });
  await page.waitForFunction(() => {
    const s = document.getElementById('job-status').dataset.status;
    return ['DONE', 'PARTIAL', 'FAILED', 'REJECTED', 'DRY_RUN', 'HELD'].includes(s);
  }, null, { timeout: 120000 });
  const status = await page.getAttribute('#job-status', 'data-status');
  const jobId = await page.textContent('#job-id');
  step(`job ${jobId}: ${status}`);
  assert(status === 'DONE', `job status DONE, got ${status}`);
  assert(await page.getAttribute('#job-progress', 'value') === '100', 'progress 100');
  await page.waitForSelector('#users tbody tr');
  await page.waitForSelector('#send-held:not([hidden])');
  const held = await page.$$eval('#users tbody td.email-status', (tds) => tds.map((td) => td.dataset.email));
  assert(held.length === 3 && held.every((e) => e === 'held'), `three held emails, got ${held}`);
  const phoneFiles = await page.$$eval('#users tbody td.phone-file', (tds) => tds.map((td) => td.textContent));
  step(`phone files: ${phoneFiles.join(', ')}`);
  assert(phoneFiles[0].endsWith(phoneModel), `400's phone file is for the default model ${phoneModel}: ${phoneFiles[0]}`);
  assert(phoneFiles[1] === 'No desk phone', `401 has no phone: ${phoneFiles[1]}`);
  await checkA11y(page, 'job-done-emails-held');
  await shot(page, 'job-done-emails-held');

  // The report, as before.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#report')]);
  await download.saveAs(path.join(artifacts, 'report.csv'));

  // Filter: only held emails; then back to all.
  await page.selectOption('#filter-email', 'sent');
  await page.waitForSelector('#users-empty:not([hidden])');
  assert((await page.textContent('#users-empty')).includes('matches the filter'), 'empty state for a filter');
  await checkA11y(page, 'job-filter-empty');
  await shot(page, 'job-filter-empty');
  await page.selectOption('#filter-email', '');
  await page.waitForSelector('#users tbody tr');

  // ---- release the held emails ----------------------------------------------
  step('release the held emails');
  await page.focus('#send-held');
  assert((await page.textContent('#send-held')).includes('Send 3 held emails'), 'the button counts three held emails');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /emails? sent/.test(document.getElementById('send-status').textContent));
  step(`release: ${await page.textContent('#send-status')}`);
  const emailOf = (ext) => page.evaluate((e) => {
    const td = document.querySelector(`#users tr[data-extension="${e}"] td.email-status`);
    return td ? td.dataset.email : '';
  }, ext);
  const waitEmail = (ext, want) => page.waitForFunction(([e, w]) => {
    const td = document.querySelector(`#users tr[data-extension="${e}"] td.email-status`);
    return td && td.dataset.email === w;
  }, [ext, want]);
  await waitEmail(rejectedExt, 'failed');
  await waitEmail(uncertainExt, 'uncertain');
  assert(await emailOf('400') === 'sent', '400 sent');
  await page.waitForFunction(() => document.querySelector('#job-counts dd[data-count="emails_sent"]')?.textContent === '1');
  assert((await page.textContent('#send-held')).includes('Send 1 unsent email'), 'one unsent (failed) email to send');
  await checkA11y(page, 'emails-released');
  await shot(page, 'emails-released-one-failed-one-uncertain');

  // ---- send the one SES refused ------------------------------------------
  step(`send the unsent email (extension ${rejectedExt})`);
  await page.focus('#send-held');
  await page.keyboard.press('Enter');
  await waitEmail(rejectedExt, 'sent');
  assert(await emailOf(uncertainExt) === 'uncertain', 'the uncertain email is not resent without confirmation');

  // ---- resend the uncertain one, after confirming ---------------------------
  step(`resend the uncertain email of extension ${uncertainExt}`);
  await page.focus(`#users tr[data-extension="${uncertainExt}"] button.resend`);
  assert(await focusVisible(page), 'the resend button shows its focus');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#confirm[open]');
  assert(await focused(page) === 'confirm-no', 'the dialog opens on Cancel');
  assert((await page.textContent('#confirm-text')).includes('may have been delivered'), 'the dialog says why');
  await checkA11y(page, 'confirm-uncertain');
  await shot(page, 'confirm-uncertain-resend');
  // Escape cancels: nothing is sent.
  await page.keyboard.press('Escape');
  await page.waitForSelector('#confirm:not([open])', { state: 'attached' });
  await page.waitForFunction(() => document.getElementById('send-status').textContent === 'Not sent.');
  assert(await focused(page) !== 'confirm-no', 'focus left the dialog');
  assert(await emailOf(uncertainExt) === 'uncertain', 'cancelled: still uncertain');
  // Again, and confirm with the keyboard.
  await page.focus(`#users tr[data-extension="${uncertainExt}"] button.resend`);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#confirm[open]');
  await page.keyboard.press('Shift+Tab');
  assert(await focused(page) === 'confirm-yes', 'Shift+Tab reaches "Send it again"');
  await page.keyboard.press('Enter');
  await waitEmail(uncertainExt, 'sent');
  step(`resend: ${await page.textContent('#send-status')}`);
  assert((await page.textContent('#send-status')).includes('Email sent'), 'resend reported');
  assert(await page.$('#users button.resend') === null, 'nothing left to send');
  await page.waitForSelector('#send-held', { state: 'hidden' });
  await page.waitForFunction(() => document.querySelector('#job-counts dd[data-count="emails_sent"]')?.textContent === '3');
  await checkA11y(page, 'email-resent');
  await shot(page, 'email-resent');

  // The refreshed report shows every email sent.
  const [download2] = await Promise.all([page.waitForEvent('download'), page.click('#report')]);
  await download2.saveAs(path.join(artifacts, 'report-after-emails.csv'));

  // ---- download the tenant's users ----------------------------------------
  step('download the users');
  await page.focus('#nav-jobs');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#view-jobs:not([hidden]) #jobs tbody tr');
  await checkA11y(page, 'jobs');
  await page.focus('#download-users');
  const [usersDl] = await Promise.all([page.waitForEvent('download'), page.keyboard.press('Enter')]);
  await usersDl.saveAs(path.join(artifacts, 'users.csv'));
  step(`users saved (${usersDl.suggestedFilename()})`);
  await page.waitForFunction(() => document.getElementById('users-status').textContent.startsWith('Downloaded'));
  assert((await page.textContent('#users-status')).includes('3 users'), 'three users downloaded');
  await shot(page, 'users-downloaded');

  // ---- error state: a job that does not exist --------------------------------
  await page.goto(portalURL + '#job/nosuchjob');
  await page.waitForSelector('#job-error:not([hidden])');
  assert((await page.textContent('#job-error')).includes('no such job'), 'missing job error state');
  await checkA11y(page, 'job-missing');
  await shot(page, 'job-missing');
  assert(consoleErrors.length === 0, `no console errors: ${consoleErrors.join(' | ')}`);
} catch (e) {
  failed = true;
  console.error(`e2e: FAILED: ${e.stack || e}`);
  try {
    await shot(page, 'failure');
  } catch (_) { /* the page may be gone */ }
  if (consoleErrors.length) console.error(`e2e: console errors: ${consoleErrors.join(' | ')}`);
} finally {
  writeFileSync(path.join(artifacts, 'axe.json'), JSON.stringify(axeReport, null, 2));
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
