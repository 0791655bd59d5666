// bulkprov tenant portal: load or type users into a grid, check them with
// the same validation ingest runs (POST /validate), save the grid as a CSV
// into the tenant's upload prefix through a presigned PUT (POST /uploads),
// then follow the job (GET /jobs/{id}), see its users (GET /jobs/{id}/users),
// release or resend their welcome emails, download its report and the
// tenant's users; edit the tenant's settings and welcome template with a
// server-rendered preview (GET/PUT /settings, POST /settings/preview).
// Plain JavaScript, no build step, no third-party code.
(function () {
  'use strict';

  // Job statuses come from the API (GET /me, job_statuses: package jobmodel).
  const TERMINAL = new Set();
  const STATUS_TEXT = {};
  function applyStatuses(me) {
    for (const s of (me && me.job_statuses) || []) {
      STATUS_TEXT[s.status] = s.label;
      if (s.terminal) TERMINAL.add(s.status);
    }
  }
  const COUNT_LABELS = [
    ['rows', 'Rows'], ['created', 'Created'], ['updated', 'Updated'], ['skipped', 'Skipped'],
    ['invalid', 'Invalid'], ['failed', 'Failed'], ['held', 'Held'],
    ['emails_sent', 'Emails sent'], ['emails_failed', 'Emails failed'], ['provisioned', 'Phones provisioned'],
  ];
  const DEFAULT_COLUMNS = ['extension', 'first_name', 'last_name', 'email', 'mobile', 'did', 'mac', 'caller_id', 'phone_model', 'department'];
  const COLUMN_LABELS = {
    extension: 'Extension', first_name: 'First name', last_name: 'Last name', email: 'Email',
    mobile: 'Mobile', did: 'DID', mac: 'MAC address', caller_id: 'Caller ID',
    phone_model: 'Phone model', department: 'Department',
  };
  const VALIDATE_DELAY_MS = 600;
  const POLL_MS = 1000;
  const USERS_PAGE = 50;

  const $ = (id) => document.getElementById(id);

  const state = {
    config: null,
    token: '', // bearer token (Cognito mode); the dev mode uses an HttpOnly cookie
    me: null,
    columns: DEFAULT_COLUMNS.slice(),
    rows: [], // arrays of strings, one per column
    fileName: '',
    rawFile: null, // a file too large to edit, saved as it is
    report: null,
    validateSeq: 0,
    validateTimer: 0,
    pollTimer: 0,
    polling: '', // the job being polled
    jobId: '',
    job: null,
    users: { users: [] },
    usersOffset: 0,
    settings: null, // GET /settings
    settingsValues: {}, // edited settings: name → value (undefined: reset to the default)
    previewTimer: 0,
    previewSeq: 0,
  };

  // ---- API --------------------------------------------------------------

  class APIError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field || '';
    }
  }

  async function api(method, path, body, contentType) {
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let payload;
    if (body !== undefined) {
      if (contentType) {
        headers['Content-Type'] = contentType;
        payload = body;
      } else {
        headers['Content-Type'] = 'application/json';
        payload = JSON.stringify(body);
      }
    }
    const res = await fetch(state.config.api + path, { method, headers, body: payload, credentials: 'same-origin' });
    const type = res.headers.get('Content-Type') || '';
    if (!res.ok) {
      let code = 'http_' + res.status;
      let field = '';
      let message = res.statusText || 'request failed';
      if (type.includes('json')) {
        const data = await res.json().catch(() => null);
        if (data && data.error) {
          code = data.error.code || code;
          field = data.error.field || '';
          message = data.error.message || message;
        } else if (data && data.message) {
          message = data.message;
        }
      }
      if (res.status === 401) showSignIn('Your session has ended. Please sign in again.');
      throw new APIError(res.status, code, message, field);
    }
    if (type.includes('json')) return res.json();
    return res.text();
  }

  function optionsFromForm() {
    return {
      on_existing: $('opt-on-existing').value,
      create_dids: $('opt-create-dids').checked,
      dids_as_caller_id: $('opt-dids-as-caller-id').checked,
      welcome: $('opt-welcome').value,
      dry_run: $('opt-dry-run').checked,
    };
  }

  function optionsQuery() {
    const o = optionsFromForm();
    const q = new URLSearchParams();
    q.set('on-existing', o.on_existing);
    q.set('create-dids', String(o.create_dids));
    q.set('dids-as-caller-id', String(o.dids_as_caller_id));
    q.set('welcome', o.welcome);
    q.set('dry-run', String(o.dry_run));
    return q.toString();
  }

  // ---- sign-in ----------------------------------------------------------

  function showSignIn(message) {
    $('app').hidden = true;
    $('nav').hidden = true;
    $('signin').hidden = false;
    $('signout').hidden = true;
    $('who').textContent = '';
    const dev = state.config.auth && state.config.auth.mode === 'dev';
    $('signin-form').hidden = !dev;
    $('signin-cognito').hidden = dev;
    const err = $('signin-error');
    err.hidden = !message;
    err.textContent = message || '';
    if (dev) {
      const tenants = state.config.auth.tenants || [];
      if (tenants.length && !$('signin-tenant').value) $('signin-tenant').value = tenants[0];
      $('signin-tenant').focus();
    } else {
      $('signin-cognito').focus();
    }
  }

  async function devSignIn(ev) {
    ev.preventDefault();
    const tenant = $('signin-tenant').value.trim();
    const res = await fetch(state.config.auth.signin, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ tenant }),
      credentials: 'same-origin',
    });
    if (!res.ok) {
      const data = await res.json().catch(() => ({}));
      showSignIn((data.error && data.error.message) || 'Sign-in failed.');
      return;
    }
    await start();
  }

  async function signOut() {
    stopPolling();
    const auth = state.config.auth || {};
    if (auth.mode === 'dev') {
      await fetch(auth.signout, { method: 'POST', credentials: 'same-origin' });
      showSignIn('');
      return;
    }
    sessionStorage.removeItem('bulkprov.id_token');
    state.token = '';
    const q = new URLSearchParams({ client_id: auth.client_id, logout_uri: auth.redirect_uri });
    location.assign(auth.domain + '/logout?' + q.toString());
  }

  // Cognito hosted UI, authorization code flow with PKCE (public client).
  function base64url(bytes) {
    let s = '';
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  async function cognitoRedirect() {
    const auth = state.config.auth;
    const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const st = base64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem('bulkprov.pkce', JSON.stringify({ verifier, state: st }));
    const q = new URLSearchParams({
      response_type: 'code', client_id: auth.client_id, redirect_uri: auth.redirect_uri,
      scope: 'openid email', code_challenge: challenge, code_challenge_method: 'S256', state: st,
    });
    location.assign(auth.domain + '/oauth2/authorize?' + q.toString());
  }

  async function cognitoCallback() {
    const params = new URLSearchParams(location.search);
    const code = params.get('code');
    if (!code) return;
    const saved = JSON.parse(sessionStorage.getItem('bulkprov.pkce') || '{}');
    sessionStorage.removeItem('bulkprov.pkce');
    history.replaceState(null, '', location.pathname);
    if (!saved.verifier || saved.state !== params.get('state')) throw new Error('sign-in response does not match the request');
    const auth = state.config.auth;
    const res = await fetch(auth.domain + '/oauth2/token', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', client_id: auth.client_id, code,
        redirect_uri: auth.redirect_uri, code_verifier: saved.verifier,
      }),
    });
    if (!res.ok) throw new Error('sign-in failed (' + res.status + ')');
    const tokens = await res.json();
    sessionStorage.setItem('bulkprov.id_token', tokens.id_token);
  }

  function tokenExpired(token) {
    try {
      const claims = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return !claims.exp || claims.exp * 1000 < Date.now() + 30000;
    } catch (e) {
      return true;
    }
  }

  // ---- grid -------------------------------------------------------------

  function emptyRow() {
    return state.columns.map(() => '');
  }

  function isBlank(row) {
    return row.every((c) => c.trim() === '');
  }

  function label(col) {
    return COLUMN_LABELS[col] || col;
  }

  function renderGrid() {
    const thead = $('grid').tHead;
    const tbody = $('grid').tBodies[0];
    thead.replaceChildren();
    tbody.replaceChildren();
    const hr = thead.insertRow();
    const corner = document.createElement('th');
    corner.scope = 'col';
    corner.textContent = 'Row';
    hr.appendChild(corner);
    state.columns.forEach((col, c) => {
      const th = document.createElement('th');
      th.scope = 'col';
      th.id = 'col-' + c;
      th.className = 'col-' + col;
      th.textContent = label(col);
      hr.appendChild(th);
    });
    const del = document.createElement('th');
    del.scope = 'col';
    del.innerHTML = '<span class="visually-hidden">Delete</span>';
    hr.appendChild(del);

    state.rows.forEach((row, r) => {
      const tr = tbody.insertRow();
      const th = document.createElement('th');
      th.scope = 'row';
      th.id = 'row-' + r;
      th.textContent = String(r + 1);
      tr.appendChild(th);
      row.forEach((value, c) => {
        const td = tr.insertCell();
        td.className = 'col-' + state.columns[c];
        const input = document.createElement('input');
        input.type = 'text';
        input.id = cellId(r, c);
        input.value = value;
        input.dataset.row = String(r);
        input.dataset.col = String(c);
        input.spellcheck = false;
        input.autocomplete = 'off';
        input.setAttribute('aria-label', 'Row ' + (r + 1) + ', ' + label(state.columns[c]));
        const msg = document.createElement('span');
        msg.className = 'msg';
        msg.id = cellId(r, c) + '-msg';
        td.append(input, msg);
      });
      const dtd = tr.insertCell();
      dtd.className = 'del';
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = '×';
      b.dataset.delete = String(r);
      b.setAttribute('aria-label', 'Delete row ' + (r + 1));
      dtd.appendChild(b);
    });
    $('editor').hidden = false;
    applyReport(state.report);
  }

  function cellId(r, c) {
    return 'cell-' + r + '-' + c;
  }

  function focusCell(r, c) {
    const el = $(cellId(r, c));
    if (el) {
      el.focus();
      el.select();
    }
  }

  function addRow(focus) {
    state.rows.push(emptyRow());
    renderGrid();
    if (focus) focusCell(state.rows.length - 1, 0);
  }

  function onGridInput(ev) {
    const t = ev.target;
    if (!(t instanceof HTMLInputElement) || t.dataset.row === undefined) return;
    state.rows[Number(t.dataset.row)][Number(t.dataset.col)] = t.value;
    scheduleValidate();
  }

  function onGridKey(ev) {
    const t = ev.target;
    if (!(t instanceof HTMLInputElement) || t.dataset.row === undefined || ev.key !== 'Enter') return;
    ev.preventDefault();
    const r = Number(t.dataset.row);
    const c = Number(t.dataset.col);
    if (ev.shiftKey) {
      if (r > 0) focusCell(r - 1, c);
      return;
    }
    if (r + 1 >= state.rows.length) {
      state.rows.push(emptyRow());
      renderGrid();
    }
    focusCell(r + 1, c);
  }

  function onGridClick(ev) {
    const b = ev.target.closest('button[data-delete]');
    if (!b) return;
    const r = Number(b.dataset.delete);
    state.rows.splice(r, 1);
    if (!state.rows.length) state.rows.push(emptyRow());
    state.report = null;
    renderGrid();
    focusCell(Math.min(r, state.rows.length - 1), 0);
    scheduleValidate(0);
  }

  // ---- validation -------------------------------------------------------

  function scheduleValidate(delay) {
    clearTimeout(state.validateTimer);
    state.validateTimer = setTimeout(() => { validateGrid().catch(showError); }, delay === undefined ? VALIDATE_DELAY_MS : delay);
  }

  // validateGrid checks the grid as it is now; stale answers (the user typed
  // on while the request ran) are dropped.
  async function validateGrid() {
    clearTimeout(state.validateTimer);
    const seq = ++state.validateSeq;
    if (state.rows.every(isBlank)) {
      state.report = null;
      applyReport(null);
      $('summary').textContent = 'Enter users in the table.';
      return null;
    }
    const report = await api('POST', '/validate', { columns: state.columns, rows: state.rows, options: optionsFromForm() });
    if (seq !== state.validateSeq) return null;
    state.report = report;
    applyReport(report);
    return report;
  }

  function applyReport(report) {
    for (const td of document.querySelectorAll('#grid td.invalid, #grid td.warning')) {
      td.classList.remove('invalid', 'warning');
      const input = td.querySelector('input');
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
      td.querySelector('.msg').textContent = '';
    }
    for (const th of document.querySelectorAll('#grid th.row-invalid')) {
      th.classList.remove('row-invalid');
      th.removeAttribute('title');
    }
    const list = $('issue-list');
    list.replaceChildren();
    const fileErrors = [];
    if (!report) {
      $('issues').hidden = true;
      $('file-errors').hidden = true;
      $('summary').textContent = '';
      return;
    }
    const mark = (issue, kind) => {
      if (issue.row < 0 || issue.row >= state.rows.length) {
        if (kind === 'invalid') fileErrors.push(issue);
        return;
      }
      const text = issue.message;
      if (issue.col >= 0) {
        const input = $(cellId(issue.row, issue.col));
        if (!input) return;
        const td = input.parentElement;
        if (kind === 'invalid' || !td.classList.contains('invalid')) {
          td.classList.remove('warning');
          td.classList.add(kind);
        }
        const msg = td.querySelector('.msg');
        msg.textContent = msg.textContent ? msg.textContent + ' ' + text : text;
        if (kind === 'invalid') input.setAttribute('aria-invalid', 'true');
        input.setAttribute('aria-describedby', msg.id);
      } else if (kind === 'invalid') {
        const th = $('row-' + issue.row);
        th.classList.add('row-invalid');
        th.title = th.title ? th.title + ' ' + text : text;
      }
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link';
      const where = 'Row ' + (issue.row + 1) + (issue.col >= 0 ? ', ' + label(state.columns[issue.col]) : '');
      b.textContent = where + ': ' + text + (kind === 'warning' ? ' (warning)' : '');
      b.addEventListener('click', () => focusCell(issue.row, Math.max(issue.col, 0)));
      li.appendChild(b);
      list.appendChild(li);
    };
    (report.errors || []).forEach((i) => mark(i, 'invalid'));
    (report.warnings || []).forEach((i) => mark(i, 'warning'));
    $('issues').hidden = list.childElementCount === 0;

    const fe = $('file-errors');
    fe.hidden = fileErrors.length === 0;
    fe.replaceChildren();
    if (fileErrors.length) {
      const ul = document.createElement('ul');
      for (const i of fileErrors) {
        const li = document.createElement('li');
        li.textContent = (i.line ? 'Line ' + i.line + ': ' : '') + i.message;
        ul.appendChild(li);
      }
      fe.append('This data cannot be used as it is:', ul);
    }

    if (!(report.errors || []).length && $('save-status').textContent.startsWith('Fix the')) {
      $('save-status').textContent = '';
    }
    const errRows = new Set((report.errors || []).map((i) => i.row));
    const summary = $('summary');
    const nErr = (report.errors || []).length;
    summary.className = nErr ? '' : 'ok';
    summary.textContent = report.rows + ' rows: ' + report.valid + ' ready, ' + report.invalid + ' with problems' +
      (nErr ? ' (' + nErr + ' to fix in ' + errRows.size + ' rows)' : '') +
      ((report.warnings || []).length ? ', ' + report.warnings.length + ' warnings' : '') + '.';
  }

  // ---- loading ----------------------------------------------------------

  async function loadFile(file) {
    if (!file) return;
    stopPolling();
    state.fileName = file.name;
    state.rawFile = null;
    const limit = (state.me && state.me.limits && state.me.limits.max_body_bytes) || 4 << 20;
    if (file.size > limit) {
      // Too large to send through the API: save it as it is; ingest checks
      // it and the job's report lists any problem.
      state.rawFile = file;
      state.rows = [];
      $('editor').hidden = true;
      setText('file-status', file.name + ' is too large to edit here (' + (file.size / 1048576).toFixed(1) +
        ' MB). Save uploads it as it is; the report lists any problem.');
      return;
    }
    setText('file-status', 'Reading ' + file.name + '…');
    const report = await api('POST', '/validate?' + optionsQuery(), file, 'text/csv');
    const grid = report.grid || { columns: DEFAULT_COLUMNS, rows: [] };
    state.columns = grid.columns;
    state.rows = grid.rows.map((r) => r.cells);
    if (!state.rows.length) state.rows.push(emptyRow());
    state.report = report;
    renderGrid();
    setText('file-status', 'Loaded ' + file.name + ': ' + grid.rows.length + ' rows.');
    const firstBad = (report.errors || []).find((i) => i.row >= 0);
    if (firstBad) focusCell(firstBad.row, Math.max(firstBad.col, 0));
  }

  async function startEmpty() {
    stopPolling();
    state.fileName = '';
    state.rawFile = null;
    state.columns = (state.me && state.me.columns) || DEFAULT_COLUMNS.slice();
    state.rows = [emptyRow(), emptyRow(), emptyRow()];
    state.report = null;
    renderGrid();
    setText('file-status', 'Empty table ready: type one user per row.');
    focusCell(0, 0);
  }

  async function downloadTemplate() {
    const text = await api('GET', '/template');
    saveBlob(new Blob([text], { type: 'text/csv' }), 'bulkprov-template.csv');
  }

  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // ---- save -------------------------------------------------------------

  function csvCell(s) {
    return /[",;\t\r\n]|^\s|\s$/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function toCSV(columns, rows) {
    return [columns, ...rows].map((r) => r.map(csvCell).join(',')).join('\r\n') + '\r\n';
  }

  function uploadName() {
    const base = (state.fileName || 'portal-users.csv').replace(/\.[^.]*$/, '');
    return base + '.csv';
  }

  async function save() {
    const status = $('save-status');
    const btn = $('save');
    btn.disabled = true;
    try {
      let blob;
      if (state.rawFile) {
        blob = state.rawFile;
      } else {
        if (!state.rows.length || state.rows.every(isBlank)) {
          status.textContent = 'Add at least one user first.';
          return;
        }
        status.textContent = 'Checking rows…';
        const report = await validateGrid();
        if (!report) return;
        const errors = report.errors || [];
        if (errors.length) {
          status.textContent = 'Fix the ' + errors.length + ' highlighted problems before saving.';
          const first = errors.find((i) => i.row >= 0);
          if (first) focusCell(first.row, Math.max(first.col, 0));
          return;
        }
        blob = new Blob([toCSV(state.columns, state.rows.filter((r) => !isBlank(r)))], { type: 'text/csv' });
      }
      status.textContent = 'Uploading…';
      const up = await api('POST', '/uploads', { name: uploadName(), size: blob.size, options: optionsFromForm() });
      const put = await fetch(up.url, { method: up.method, headers: up.headers, body: blob, credentials: 'same-origin' });
      if (!put.ok) throw new Error('the upload was refused (' + put.status + ')');
      status.textContent = 'Uploaded as ' + up.name + '. Waiting for the job to start…';
      const job = await waitForJob(up.key);
      status.textContent = 'Uploaded as ' + up.name + '.';
      go('#job/' + encodeURIComponent(job.id));
    } catch (e) {
      status.textContent = 'Save failed: ' + e.message;
    } finally {
      btn.disabled = false;
    }
  }

  async function waitForJob(key) {
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      const data = await api('GET', '/jobs?upload=' + encodeURIComponent(key));
      if (data.jobs && data.jobs.length) return data.jobs[0];
      await sleep(POLL_MS);
    }
    throw new Error('no job started for the upload within two minutes; see Jobs and users');
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // ---- views -------------------------------------------------------------

  const VIEWS = ['upload', 'jobs', 'job', 'settings'];

  // route shows the view the location's hash names: #upload, #jobs,
  // #job/<id>, #settings. Focus moves to the view's heading so that a
  // screen reader announces where the user is.
  function route(focus) {
    const hash = location.hash.replace(/^#/, '');
    let [name, arg] = hash.split('/');
    if (!VIEWS.includes(name) || (name === 'job' && !arg)) name = 'upload';
    for (const v of VIEWS) $('view-' + v).hidden = v !== name;
    for (const v of ['upload', 'jobs', 'settings']) {
      const a = $('nav-' + v);
      const current = v === name || (v === 'jobs' && name === 'job');
      if (current) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (name !== 'job') stopPolling();
    const titles = { upload: 'Upload users', jobs: 'Jobs and users', job: 'Job', settings: 'Settings' };
    document.title = titles[name] + ' · Bulk user onboarding';
    if (name === 'jobs') refreshJobs().catch(jobsError);
    if (name === 'job') followJob(decodeURIComponent(arg));
    if (name === 'settings') loadSettings().catch(settingsError);
    if (focus) {
      const h = $(name + '-h');
      if (h) h.focus();
    }
  }

  function go(hash) {
    if (location.hash === hash) route(true);
    else location.hash = hash; // hashchange routes and focuses
  }

  function announce(text) {
    const el = $('announce');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 50);
  }

  // ---- job view ---------------------------------------------------------

  function stopPolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = 0;
    state.polling = '';
  }

  function followJob(id) {
    stopPolling();
    if (state.jobId !== id) {
      state.jobId = id;
      state.usersOffset = 0;
      $('filter-status').value = '';
      $('filter-email').value = '';
      $('send-status').textContent = '';
    }
    state.polling = id;
    $('job-id').textContent = id;
    $('report').hidden = true;
    $('send-held').hidden = true;
    $('job-error').hidden = true;
    let lastStatus = '';
    const poll = async () => {
      if (state.polling !== id) return;
      try {
        const job = await api('GET', '/jobs/' + encodeURIComponent(id));
        if (state.polling !== id) return;
        renderJob(job);
        if (job.status !== lastStatus || TERMINAL.has(job.status)) {
          await loadUsers().catch(usersError);
        }
        lastStatus = job.status;
        if (TERMINAL.has(job.status)) return;
      } catch (e) {
        $('job-error').hidden = false;
        $('job-error').textContent = e.status === 404 ? 'There is no such job.' : 'Could not read the job: ' + e.message;
        if (e.status === 404) {
          $('job-status').textContent = '';
          return;
        }
      }
      state.pollTimer = setTimeout(poll, POLL_MS);
    };
    poll();
  }

  function renderJob(job) {
    state.job = job;
    const st = $('job-status');
    st.textContent = STATUS_TEXT[job.status] || job.status;
    st.className = 'status-' + job.status;
    st.dataset.status = job.status;
    $('job-file').textContent = job.upload_name ? 'File: ' + job.upload_name : '';
    const pct = Math.round(job.progress ? job.progress.percent : 0);
    $('job-progress').value = pct;
    $('job-percent').textContent = pct + '%';
    const dl = $('job-counts');
    dl.replaceChildren();
    for (const [k, name] of COUNT_LABELS) {
      const v = job.counts ? job.counts[k] || 0 : 0;
      if (!v && k !== 'rows' && k !== 'created') continue;
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = name;
      const dd = document.createElement('dd');
      dd.textContent = String(v);
      dd.dataset.count = k;
      div.append(dt, dd);
      dl.appendChild(div);
    }
    $('job-error').hidden = !job.error;
    $('job-error').textContent = job.error || '';
    $('report').hidden = !job.report_available;
  }

  async function downloadReport() {
    const r = await api('GET', '/jobs/' + encodeURIComponent(state.jobId) + '/report');
    const a = document.createElement('a');
    a.href = r.url;
    a.download = r.name || 'report.csv';
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  const ROW_STATUS_TEXT = {
    created: 'Created', updated: 'Updated', skipped: 'Skipped', failed: 'Failed', invalid: 'Invalid',
    held: 'Held', pending: 'Pending',
  };
  const EMAIL_TEXT = {
    sent: 'Sent', already_sent: 'Sent earlier', held: 'Held', failed: 'Failed', uncertain: 'Uncertain', '': 'No email',
  };

  async function loadUsers() {
    const id = state.jobId;
    const q = new URLSearchParams({ offset: String(state.usersOffset), limit: String(USERS_PAGE) });
    if ($('filter-status').value) q.set('status', $('filter-status').value);
    if ($('filter-email').value) q.set('email', $('filter-email').value);
    const data = await api('GET', '/jobs/' + encodeURIComponent(id) + '/users?' + q.toString());
    if (state.jobId !== id) return;
    $('users-error').hidden = true;
    renderUsers(data);
  }

  function usersError(e) {
    $('users-error').hidden = false;
    $('users-error').textContent = 'Could not read the users of this job: ' + e.message;
  }

  function renderUsers(data) {
    state.users = data;
    const tbody = $('users').tBodies[0];
    tbody.replaceChildren();
    const finished = state.job && TERMINAL.has(state.job.status);
    for (const u of data.users) {
      const tr = tbody.insertRow();
      tr.dataset.extension = u.extension;
      tr.insertCell().textContent = String(u.line);
      const ext = document.createElement('th');
      ext.scope = 'row';
      ext.textContent = u.extension;
      tr.appendChild(ext);
      tr.insertCell().textContent = u.name || '';
      tr.insertCell().textContent = u.email || '';
      const st = tr.insertCell();
      st.className = 'row-status status-' + u.status;
      st.textContent = ROW_STATUS_TEXT[u.status] || u.status;
      if (u.message && u.status !== 'created') {
        const m = document.createElement('span');
        m.className = 'msg';
        m.textContent = u.message;
        st.append(document.createElement('br'), m);
      }
      const phone = tr.insertCell();
      phone.className = 'phone-file';
      if (u.provisioning_file) {
        phone.textContent = u.provisioning_file.split('/').pop();
        if (u.phone_model) {
          const m = document.createElement('span');
          m.className = 'msg';
          m.textContent = u.phone_model;
          phone.append(document.createElement('br'), m);
        }
      } else {
        phone.textContent = u.mac ? 'Not written' : 'No desk phone';
        phone.classList.add('none');
      }
      const em = tr.insertCell();
      em.className = 'email-status email-' + (u.email_status || 'none');
      em.dataset.email = u.email_status || '';
      em.textContent = EMAIL_TEXT[u.email_status || ''] || u.email_status;
      if (u.email_status === 'failed' || u.email_status === 'uncertain' || (u.email_status === 'held' && u.message)) {
        const m = document.createElement('span');
        m.className = 'msg';
        m.textContent = u.message || '';
        em.append(document.createElement('br'), m);
      }
      const act = tr.insertCell();
      if (u.can_send) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'resend';
        b.dataset.extension = u.extension;
        b.dataset.uncertain = u.email_status === 'uncertain' ? '1' : '';
        b.textContent = u.email_status === 'held' ? 'Send email' : 'Resend email';
        b.setAttribute('aria-label', b.textContent + ' to ' + (u.name || 'extension ' + u.extension));
        act.appendChild(b);
      }
    }
    const total = data.total;
    const from = total ? data.offset + 1 : 0;
    const to = data.offset + data.users.length;
    const filtered = $('filter-status').value || $('filter-email').value;
    $('users-summary').textContent = total
      ? 'Showing users ' + from + '–' + to + ' of ' + total + (filtered ? ' matching the filter' : '') + '.'
      : '';
    const empty = $('users-empty');
    empty.hidden = total > 0;
    if (!total) {
      empty.textContent = filtered ? 'No user of this job matches the filter.'
        : finished ? 'This job has no users: no row could be used.' : 'No users yet: the job is still starting.';
    }
    $('users').hidden = total === 0;
    $('users-page').textContent = total ? 'Page ' + (Math.floor(data.offset / USERS_PAGE) + 1) + ' of ' + Math.ceil(total / USERS_PAGE) : '';
    $('users-prev').disabled = data.offset === 0;
    $('users-next').disabled = to >= total;
    const held = data.held_emails || 0;
    const sendHeld = $('send-held');
    sendHeld.hidden = !(finished && held > 0);
    const onlyHeld = (data.by_email.failed || 0) === 0;
    sendHeld.textContent = 'Send ' + held + (onlyHeld ? ' held ' : ' unsent ') + (held === 1 ? 'email' : 'emails');
  }

  async function sendHeld() {
    const btn = $('send-held');
    const status = $('send-status');
    btn.disabled = true;
    const total = { sent: 0, failed: 0, uncertain: 0, already_sent: 0, held: 0 };
    try {
      let after = '';
      do {
        status.textContent = 'Sending… ' + total.sent + ' sent so far.';
        const r = await api('POST', '/jobs/' + encodeURIComponent(state.jobId) + '/welcome', after ? { after } : {});
        for (const k of Object.keys(total)) total[k] += r[k] || 0;
        after = r.next || '';
      } while (after);
      status.textContent = total.sent + ' ' + (total.sent === 1 ? 'email' : 'emails') + ' sent' +
        (total.failed ? ', ' + total.failed + ' failed' + (total.uncertain ? ' (' + total.uncertain + ' uncertain)' : '') : '') +
        (total.held ? ', ' + total.held + ' held: the daily sending quota is used up, send them again later' : '') + '.';
    } catch (e) {
      status.textContent = 'Sending failed: ' + e.message + (total.sent ? ' (' + total.sent + ' sent before that)' : '');
    } finally {
      btn.disabled = false;
    }
    followJob(state.jobId);
    if (btn.hidden) $('job-users-h').focus();
  }

  async function resend(ext, uncertain, confirmed) {
    const status = $('send-status');
    if (uncertain && !confirmed) {
      const u = (state.users.users || []).find((x) => x.extension === ext) || {};
      const ok = await confirmDialog('The earlier email to ' + (u.email || 'this user') + ' was interrupted while it was being sent: ' +
        'it may have been delivered. If you send it again, the user may get two emails.');
      if (!ok) {
        status.textContent = 'Not sent.';
        return;
      }
      confirmed = true;
    }
    status.textContent = 'Sending the email to extension ' + ext + '…';
    try {
      const r = await api('POST', '/jobs/' + encodeURIComponent(state.jobId) + '/users/' + encodeURIComponent(ext) + '/welcome',
        confirmed ? { confirm_uncertain: true } : {});
      status.textContent = r.sent ? 'Email sent to extension ' + ext + '.' : r.held ? 'The email to extension ' + ext +
        ' is held: the daily sending quota is used up; send it again later.' : 'The email to extension ' + ext + ' was not sent: ' +
        ((r.user && r.user.message) || 'see its status below') + '.';
    } catch (e) {
      if (e.code === 'confirmation_required') return resend(ext, true, false);
      status.textContent = 'The email to extension ' + ext + ' was not sent: ' + e.message;
    }
    await loadUsers().catch(usersError);
    api('GET', '/jobs/' + encodeURIComponent(state.jobId)).then(renderJob).catch(() => {});
    const row = document.querySelector('#users tr[data-extension="' + CSS.escape(ext) + '"] th');
    if (row) {
      row.tabIndex = -1;
      row.focus();
    }
  }

  // confirmDialog asks a yes/no question in a modal dialog (focus trapped
  // by the browser, Escape cancels) and resolves to the answer.
  function confirmDialog(text) {
    const dlg = $('confirm');
    const opener = document.activeElement;
    $('confirm-text').textContent = text;
    return new Promise((resolve) => {
      const done = (answer) => {
        dlg.removeEventListener('close', onClose);
        $('confirm-yes').onclick = null;
        $('confirm-no').onclick = null;
        if (dlg.open) dlg.close();
        if (opener && opener.focus) opener.focus();
        resolve(answer);
      };
      const onClose = () => done(false);
      dlg.addEventListener('close', onClose);
      $('confirm-yes').onclick = () => done(true);
      $('confirm-no').onclick = () => done(false);
      dlg.showModal();
      $('confirm-no').focus();
    });
  }

  // ---- jobs list --------------------------------------------------------

  function jobsError(e) {
    $('jobs-error').hidden = false;
    $('jobs-error').textContent = 'Could not list the jobs: ' + e.message;
  }

  async function refreshJobs() {
    const data = await api('GET', '/jobs?limit=20');
    $('jobs-error').hidden = true;
    const tbody = $('jobs').tBodies[0];
    tbody.replaceChildren();
    const jobs = data.jobs || [];
    $('jobs-empty').hidden = jobs.length > 0;
    $('jobs').hidden = jobs.length === 0;
    for (const job of jobs) {
      const tr = tbody.insertRow();
      tr.insertCell().textContent = job.created_at ? new Date(job.created_at).toLocaleString() : '';
      tr.insertCell().textContent = job.upload_name || '';
      const st = tr.insertCell();
      st.textContent = STATUS_TEXT[job.status] || job.status;
      st.className = 'status-' + job.status;
      tr.insertCell().textContent = job.counts ? String(job.counts.rows) : '';
      const a = document.createElement('a');
      a.href = '#job/' + encodeURIComponent(job.id);
      a.textContent = 'View';
      a.setAttribute('aria-label', 'View job ' + (job.upload_name || job.id));
      tr.insertCell().appendChild(a);
    }
  }

  async function downloadUsers() {
    const status = $('users-status');
    const btn = $('download-users');
    btn.disabled = true;
    status.textContent = 'Preparing the file…';
    try {
      // A link to the file (a tenant's users may be more than an API answer holds).
      const r = await api('GET', '/users');
      const a = document.createElement('a');
      a.href = r.url;
      a.download = r.name || 'users.csv';
      document.body.appendChild(a);
      a.click();
      a.remove();
      status.textContent = 'Downloaded ' + (r.name || 'users.csv') + ': ' + r.users + (r.users === 1 ? ' user.' : ' users.');
    } catch (e) {
      status.textContent = 'The download failed: ' + e.message;
    } finally {
      btn.disabled = false;
    }
  }

  // ---- settings ---------------------------------------------------------

  function settingsError(e) {
    $('settings-error').hidden = false;
    $('settings-error').textContent = 'Could not load the settings: ' + e.message;
  }

  async function loadSettings() {
    const view = await api('GET', '/settings');
    $('settings-error').hidden = true;
    renderSettings(view);
  }

  function fieldId(name) {
    return 'set-' + name.replace(/[^a-z0-9]+/gi, '-');
  }

  function sourceText(f) {
    return f.source === 'tenant' ? 'Set for your tenant' : 'System default';
  }

  function renderSettings(view) {
    state.settings = view;
    state.settingsValues = {};
    const host = $('settings-fields');
    host.replaceChildren();
    $('tpl-fields').replaceChildren();
    const ro = $('operator-list');
    ro.replaceChildren();
    $('tpl-vars').textContent = (view.variables || []).join(', ');
    for (const g of view.groups) {
      const fields = view.fields.filter((f) => f.group === g.id);
      if (!fields.length || g.id === 'operator') continue;
      const fs = document.createElement('fieldset');
      fs.className = 'settings-group';
      const lg = document.createElement('legend');
      lg.textContent = g.title;
      fs.appendChild(lg);
      for (const f of fields) {
        if (f.kind === 'template') continue;
        fs.appendChild(settingControl(f));
      }
      host.appendChild(fs);
    }
    for (const f of view.fields.filter((x) => x.kind === 'template')) $('tpl-fields').appendChild(settingControl(f));
    for (const f of view.fields.filter((x) => !x.editable)) {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      dt.textContent = f.label;
      const dd = document.createElement('dd');
      dd.textContent = displayValue(f, f.value);
      dd.dataset.setting = f.name;
      div.append(dt, dd);
      ro.appendChild(div);
    }
    $('settings-status').textContent = '';
    schedulePreview(0);
  }

  function displayValue(f, v) {
    if (f.kind === 'bool') return v ? 'On' : 'Off';
    if (Array.isArray(v)) return v.join(', ') || '(none)';
    if (v === '' || v === null || v === undefined) return '(not set)';
    return String(v);
  }

  // settingControl builds one editable setting: label, control, where its
  // value comes from, a reset to the system default, help and error text.
  function settingControl(f) {
    const id = fieldId(f.name);
    const wrap = document.createElement('div');
    wrap.className = 'field setting' + (f.kind === 'bool' ? ' check' : '') + (f.kind === 'template' ? ' template' : '');
    wrap.dataset.setting = f.name;
    let input;
    if (f.kind === 'select') {
      input = document.createElement('select');
      for (const c of f.choices || []) {
        const o = document.createElement('option');
        o.value = c.value;
        o.textContent = c.label;
        input.appendChild(o);
      }
      input.value = f.value == null ? '' : String(f.value);
    } else if (f.kind === 'template' && f.name !== 'email.subject') {
      input = document.createElement('textarea');
      input.rows = f.name === 'email.html_body' ? 14 : 12;
      input.spellcheck = false;
      input.value = f.value || '';
    } else {
      input = document.createElement('input');
      if (f.kind === 'bool') {
        input.type = 'checkbox';
        input.checked = !!f.value;
      } else if (f.kind === 'number') {
        input.type = 'number';
        input.inputMode = 'numeric';
        if (f.min) input.min = String(f.min);
        if (f.max) input.max = String(f.max);
        input.value = f.value == null ? '' : String(f.value);
      } else {
        input.type = 'text';
        input.value = f.value == null ? '' : String(f.value);
        if (f.kind === 'template') input.spellcheck = false;
      }
    }
    input.id = id;
    input.name = f.name;
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = f.label;
    const src = document.createElement('span');
    src.className = 'source source-' + f.source;
    src.id = id + '-src';
    src.textContent = sourceText(f);
    const described = [src.id];
    const help = document.createElement('span');
    if (f.help) {
      help.className = 'help';
      help.id = id + '-help';
      help.textContent = f.help;
      described.push(help.id);
    }
    const err = document.createElement('span');
    err.className = 'field-error';
    err.id = id + '-err';
    input.setAttribute('aria-describedby', described.join(' '));
    const reset = document.createElement('button');
    reset.type = 'button';
    reset.className = 'link reset';
    reset.textContent = 'Use the system default';
    reset.setAttribute('aria-label', 'Use the system default for ' + f.label);
    reset.hidden = f.source !== 'tenant';
    reset.addEventListener('click', () => {
      setControl(input, f, f.default);
      state.settingsValues[f.name] = undefined;
      markSource(f, 'system');
      input.focus();
      announce(f.label + ': system default');
      if (f.kind === 'template') schedulePreview(0);
    });
    const onChange = () => {
      state.settingsValues[f.name] = readControl(input, f);
      markSource(f, 'tenant');
      clearFieldError(f.name);
      if (f.kind === 'template') schedulePreview();
    };
    input.addEventListener(f.kind === 'bool' || f.kind === 'select' ? 'change' : 'input', onChange);
    const head = document.createElement('div');
    head.className = 'setting-head';
    if (f.kind === 'bool') {
      head.append(input, label);
    } else {
      head.append(label);
    }
    wrap.append(head);
    if (f.kind !== 'bool') wrap.append(input);
    const meta = document.createElement('div');
    meta.className = 'setting-meta';
    meta.append(src, reset);
    if (f.help) meta.append(help);
    wrap.append(meta, err);
    return wrap;
  }

  function setControl(input, f, v) {
    if (f.kind === 'bool') input.checked = !!v;
    else input.value = v == null ? '' : String(v);
  }

  function readControl(input, f) {
    if (f.kind === 'bool') return input.checked;
    if (f.kind === 'number') return input.value === '' ? null : Number(input.value);
    return input.value;
  }

  function markSource(f, source) {
    const id = fieldId(f.name);
    const src = $(id + '-src');
    src.className = 'source source-' + source;
    src.textContent = sourceText({ source });
    const wrap = $(id).closest('.setting');
    wrap.querySelector('.reset').hidden = source !== 'tenant';
  }

  function clearFieldError(name) {
    const id = fieldId(name);
    const input = $(id);
    if (!input) return;
    input.removeAttribute('aria-invalid');
    $(id + '-err').textContent = '';
    input.setAttribute('aria-describedby', input.getAttribute('aria-describedby').replace(' ' + id + '-err', ''));
    input.closest('.setting').classList.remove('invalid');
  }

  function showFieldError(name, message) {
    const id = fieldId(name);
    const input = $(id);
    if (!input) return false;
    input.setAttribute('aria-invalid', 'true');
    $(id + '-err').textContent = message;
    const d = input.getAttribute('aria-describedby');
    if (!d.includes(id + '-err')) input.setAttribute('aria-describedby', d + ' ' + id + '-err');
    input.closest('.setting').classList.add('invalid');
    return true;
  }

  // settingsPayload is every editable setting the tenant sets: the ones it
  // had (unless reset) and the ones edited now.
  function settingsPayload() {
    const values = {};
    for (const f of state.settings.fields) {
      if (!f.editable) continue;
      const edited = Object.prototype.hasOwnProperty.call(state.settingsValues, f.name);
      if (edited) {
        if (state.settingsValues[f.name] !== undefined && state.settingsValues[f.name] !== null) values[f.name] = state.settingsValues[f.name];
      } else if (f.source === 'tenant') {
        values[f.name] = f.value;
      }
    }
    return { version: state.settings.version, values };
  }

  async function saveSettings(ev) {
    ev.preventDefault();
    const status = $('settings-status');
    const btn = $('settings-save');
    for (const f of state.settings.fields) clearFieldError(f.name);
    btn.disabled = true;
    status.textContent = 'Saving…';
    try {
      const view = await api('PUT', '/settings', settingsPayload());
      renderSettings(view);
      status.textContent = 'Settings saved. New uploads use them.';
      const me = await api('GET', '/me').catch(() => null);
      if (me) {
        state.me = me;
        applyDefaults(me.defaults);
      }
    } catch (e) {
      if (e.field && showFieldError(e.field, e.message)) {
        status.textContent = 'Not saved: ' + labelOf(e.field) + ' ' + e.message;
        $(fieldId(e.field)).focus();
      } else {
        status.textContent = 'Not saved: ' + e.message;
      }
    } finally {
      btn.disabled = false;
    }
  }

  function labelOf(name) {
    const f = state.settings.fields.find((x) => x.name === name);
    return f ? f.label : name;
  }

  function schedulePreview(delay) {
    clearTimeout(state.previewTimer);
    state.previewTimer = setTimeout(() => { preview().catch(() => {}); }, delay === undefined ? VALIDATE_DELAY_MS : delay);
  }

  async function preview() {
    const seq = ++state.previewSeq;
    const val = (name) => {
      const el = $(fieldId(name));
      return el ? el.value : '';
    };
    $('preview').setAttribute('aria-busy', 'true');
    const body = {
      subject: val('email.subject'), text_body: val('email.text_body'), html_body: val('email.html_body'),
      mode: $('preview-mode').value,
    };
    try {
      const p = await api('POST', '/settings/preview', body);
      if (seq !== state.previewSeq) return;
      for (const n of ['email.subject', 'email.text_body', 'email.html_body']) clearFieldError(n);
      $('preview-error').hidden = true;
      $('preview-subject').textContent = p.subject;
      $('preview-text').textContent = p.text;
      $('preview-html').srcdoc = p.html;
    } catch (e) {
      if (seq !== state.previewSeq) return;
      $('preview-error').hidden = false;
      $('preview-error').textContent = 'The template cannot be used: ' + (e.field ? labelOf(e.field) + ': ' : '') + e.message;
      if (e.field) showFieldError(e.field, e.message);
    } finally {
      if (seq === state.previewSeq) $('preview').setAttribute('aria-busy', 'false');
    }
  }

  // ---- start ------------------------------------------------------------

  function setText(id, text) {
    $(id).textContent = text;
  }

  function showError(e) {
    const el = $('boot-error');
    el.hidden = false;
    el.textContent = e.message || String(e);
  }

  function applyDefaults(d) {
    if (!d) return;
    $('opt-on-existing').value = d.on_existing || 'fail';
    $('opt-welcome').value = d.welcome || 'invite';
    $('opt-create-dids').checked = !!d.create_dids;
    $('opt-dids-as-caller-id').checked = !!d.dids_as_caller_id;
    $('opt-dry-run').checked = !!d.dry_run;
  }

  async function start() {
    try {
      state.me = await api('GET', '/me');
      applyStatuses(state.me);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        showSignIn(e.status === 403 ? e.message : '');
        return;
      }
      throw e;
    }
    $('signin').hidden = true;
    $('app').hidden = false;
    $('nav').hidden = false;
    $('signout').hidden = false;
    $('who').textContent = 'Tenant: ' + (state.me.display_name || state.me.tenant);
    if (state.me.columns) state.columns = state.me.columns.slice();
    applyDefaults(state.me.defaults);
    route(true);
  }

  function wire() {
    $('signin-form').addEventListener('submit', (ev) => devSignIn(ev).catch(showError));
    $('signin-cognito').addEventListener('click', () => cognitoRedirect().catch(showError));
    $('signout').addEventListener('click', () => signOut().catch(showError));
    $('file').addEventListener('change', (ev) => {
      loadFile(ev.target.files[0]).catch((e) => setText('file-status', 'Could not read the file: ' + e.message));
      ev.target.value = '';
    });
    $('empty').addEventListener('click', () => startEmpty().catch(showError));
    $('template').addEventListener('click', () => downloadTemplate().catch(showError));
    $('add-row').addEventListener('click', () => addRow(true));
    $('check').addEventListener('click', () => validateGrid().catch(showError));
    $('save').addEventListener('click', () => save());
    $('report').addEventListener('click', () => downloadReport().catch((e) => setText('send-status', 'The report could not be downloaded: ' + e.message)));
    $('refresh-jobs').addEventListener('click', () => refreshJobs().catch(jobsError));
    $('download-users').addEventListener('click', () => downloadUsers());
    $('send-held').addEventListener('click', () => sendHeld());
    for (const id of ['filter-status', 'filter-email']) {
      $(id).addEventListener('change', () => {
        state.usersOffset = 0;
        loadUsers().catch(usersError);
      });
    }
    $('users-filter').addEventListener('submit', (ev) => ev.preventDefault());
    $('users-prev').addEventListener('click', () => {
      state.usersOffset = Math.max(0, state.usersOffset - USERS_PAGE);
      loadUsers().catch(usersError);
    });
    $('users-next').addEventListener('click', () => {
      state.usersOffset += USERS_PAGE;
      loadUsers().catch(usersError);
    });
    $('users').tBodies[0].addEventListener('click', (ev) => {
      const b = ev.target.closest('button.resend');
      if (b) resend(b.dataset.extension, b.dataset.uncertain === '1', false);
    });
    $('settings-form').addEventListener('submit', (ev) => saveSettings(ev));
    $('settings-reload').addEventListener('click', () => {
      loadSettings().then(() => setText('settings-status', 'Changes discarded.')).catch(settingsError);
    });
    $('preview-mode').addEventListener('change', () => schedulePreview(0));
    window.addEventListener('hashchange', () => { if (!$('app').hidden) route(true); });
    for (const id of ['opt-on-existing', 'opt-create-dids', 'opt-dids-as-caller-id', 'opt-welcome', 'opt-dry-run']) {
      $(id).addEventListener('change', () => { if (!$('editor').hidden) scheduleValidate(0); });
    }
    const tbody = $('grid').tBodies[0];
    tbody.addEventListener('input', onGridInput);
    tbody.addEventListener('keydown', onGridKey);
    tbody.addEventListener('click', onGridClick);

    const drop = $('drop');
    // A file dropped outside the zone must not navigate away from the page.
    for (const type of ['dragover', 'drop']) document.addEventListener(type, (ev) => ev.preventDefault());
    drop.addEventListener('dragover', () => drop.classList.add('over'));
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (ev) => {
      drop.classList.remove('over');
      const f = ev.dataTransfer && ev.dataTransfer.files[0];
      loadFile(f).catch((e) => setText('file-status', 'Could not read the file: ' + e.message));
    });
  }

  async function boot() {
    wire();
    const res = await fetch('config.json', { credentials: 'same-origin' });
    if (!res.ok) throw new Error('the portal is not configured (config.json: ' + res.status + ')');
    state.config = await res.json();
    state.config.api = (state.config.api || '').replace(/\/$/, '');
    if (state.config.auth && state.config.auth.mode === 'cognito') {
      await cognitoCallback();
      const t = sessionStorage.getItem('bulkprov.id_token') || '';
      if (!t || tokenExpired(t)) {
        showSignIn('');
        return;
      }
      state.token = t;
    }
    await start();
  }

  document.addEventListener('DOMContentLoaded', () => boot().catch(showError));
})();
