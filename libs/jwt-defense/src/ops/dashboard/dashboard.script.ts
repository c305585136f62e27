/**
 * The dashboard's script, served as `/admin/dashboard/dashboard.js` (the page's CSP allows scripts from the page's
 * origin only: nothing inline). It renders with `textContent` and DOM nodes only, never HTML strings, so event
 * fields (a user name, a reason) can never inject markup. The admin's access token lives in a variable of this
 * closure: never in storage, gone with the tab; "Sign out" revokes it and its session (`POST` to the logout path).
 * The paths (admin API, login, logout, readiness probe) come from the `data-*` attributes of `<html>`.
 */
export const DASHBOARD_JS = String.raw`(function () {
  'use strict';
  var token = null;
  var timer = null;
  var pending = null;
  var byId = function (id) { return document.getElementById(id); };
  var paths = document.documentElement.dataset;
  var REVOCATIONS = ['token_revoked', 'user_revoked', 'session_revoked', 'global_revoked', 'key_retired', 'key_rotated', 'lockdown_changed', 'refresh_token_reuse'];
  var RISKS = ['risk_step_up', 'risk_denied'];

  function cell(text, className) {
    var td = document.createElement('td');
    td.textContent = text === undefined || text === null ? '' : String(text);
    if (className) td.className = className;
    return td;
  }

  function fill(tableId, rows) {
    var body = byId(tableId).tBodies[0];
    body.replaceChildren();
    rows.forEach(function (values) {
      var tr = document.createElement('tr');
      values.forEach(function (value, index) { tr.appendChild(cell(value, index === values.length - 1 ? 'wrap' : '')); });
      body.appendChild(tr);
    });
    if (rows.length === 0) {
      var tr = document.createElement('tr');
      var td = cell('none');
      td.colSpan = byId(tableId).tHead.rows[0].cells.length;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function time(iso) { return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : ''; }
  function detail(event, name) { return event.details && event.details[name] !== undefined ? event.details[name] : ''; }

  async function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    var init = { method: method, headers: headers, credentials: 'omit', cache: 'no-store' };
    if (body) { headers['Content-Type'] = 'application/json'; init.body = JSON.stringify(body); }
    var res = await fetch(path, init);
    var text = await res.text();
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    return { status: res.status, body: data };
  }

  function signedIn(yes) {
    byId('login-section').hidden = yes;
    byId('dashboard').hidden = !yes;
    if (timer) { clearInterval(timer); timer = null; }
    if (yes) timer = setInterval(refresh, 5000);
    else token = null;
  }

  function badge(id, text, level) {
    var node = byId(id);
    node.textContent = text;
    node.className = 'badge ' + level;
  }

  async function refresh() {
    if (paths.ready) {
      var ready = await api('GET', paths.ready);
      badge('store-badge', 'store: ' + (ready.status === 200 ? ready.body.status : 'down'), ready.status !== 200 ? 'bad' : ready.body.status === 'ok' ? 'ok' : 'warn');
    }
    var events = await api('GET', paths.api + '/security-events?limit=300');
    var status = await api('GET', paths.api + '/incident/status');
    if (events.status === 401 || status.status === 401) {
      signedIn(false);
      byId('login-error').textContent = 'Your session ended (revoked, expired or a new login is required): sign in again.';
      return;
    }
    if (events.status !== 200 || status.status !== 200) {
      byId('updated').textContent = 'could not load (' + events.status + ', ' + status.status + ')';
      return;
    }
    render(events.body.events, status.body);
    byId('updated').textContent = 'updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
  }

  function render(events, status) {
    var lockdown = status.lockdown.mode;
    badge('lockdown-badge', 'lockdown: ' + lockdown, lockdown === 'off' ? 'ok' : 'bad');
    badge('key-badge', 'signing key: ' + (status.signing_kid || 'none'), 'ok');
    fill('events', events.slice(0, 100).map(function (e) { return [time(e.at), e.type, e.sub, e.ip, e.reason]; }));
    fill('revocations', events.filter(function (e) { return REVOCATIONS.indexOf(e.type) >= 0; }).map(function (e) {
      return [time(e.at), e.type, e.sub || e.jti || detail(e, 'kid') || detail(e, 'mode') || detail(e, 'notBefore'), e.reason, detail(e, 'actor')];
    }));
    fill('risks', events.filter(function (e) { return RISKS.indexOf(e.type) >= 0; }).map(function (e) {
      return [time(e.at), e.type === 'risk_denied' ? 'deny' : 'step-up', e.sub, detail(e, 'score'), detail(e, 'mode'), detail(e, 'factors')];
    }));
    var anomalies = events.filter(function (e) { return e.type === 'anomaly_detected'; });
    fill('anomalies', anomalies.map(function (e) {
      return [time(e.at), e.sub, detail(e, 'route'), detail(e, 'count'), detail(e, 'baseline'), detail(e, 'containment')];
    }));
    chart(anomalies.slice(0, 12).reverse());
    fill('keys', status.keys.map(function (k) { return [k.kid, k.alg, k.signing ? 'yes' : '', k.published ? 'yes' : '', time(k.retired_at)]; }));
  }

  /** Count against baseline per alert, as SVG shapes (attributes only: nothing the CSP would refuse). */
  function chart(alerts) {
    var ns = 'http://www.w3.org/2000/svg';
    var holder = byId('anomaly-chart');
    holder.replaceChildren();
    if (alerts.length === 0) return;
    var width = 60 * alerts.length + 20;
    var height = 140;
    var max = 1;
    alerts.forEach(function (a) { max = Math.max(max, Number(detail(a, 'count')) || 0, Number(detail(a, 'baseline')) || 0); });
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'anomaly alerts: requests against baseline');
    alerts.forEach(function (a, i) {
      [['count', 'bar-count', 0], ['baseline', 'bar-baseline', 22]].forEach(function (spec) {
        var value = Number(detail(a, spec[0])) || 0;
        var h = Math.max(1, Math.round((value / max) * 100));
        var rect = document.createElementNS(ns, 'rect');
        rect.setAttribute('x', String(10 + i * 60 + spec[2]));
        rect.setAttribute('y', String(110 - h));
        rect.setAttribute('width', '20');
        rect.setAttribute('height', String(h));
        rect.setAttribute('class', spec[1]);
        var title = document.createElementNS(ns, 'title');
        title.textContent = spec[0] + ': ' + value;
        rect.appendChild(title);
        svg.appendChild(rect);
      });
      var label = document.createElementNS(ns, 'text');
      label.setAttribute('x', String(10 + i * 60));
      label.setAttribute('y', '126');
      label.setAttribute('class', 'chart-label');
      label.textContent = String(a.sub || '').slice(0, 10);
      svg.appendChild(label);
    });
    holder.appendChild(svg);
  }

  var ACTIONS = {
    'action-revoke-user': function (form) {
      var sub = form.elements.sub.value;
      return { text: 'Revoke every token and session of "' + sub + '" issued until now?', run: function (reason) { return api('POST', paths.api + '/users/' + encodeURIComponent(sub) + '/revoke-all', { reason: reason }); } };
    },
    'action-revoke-before': function () {
      return { text: 'Revoke every token of every user issued until now (yours too: sign in again afterwards)?', run: function (reason) { return api('POST', paths.api + '/incident/revoke-before', { reason: reason }); } };
    },
    'action-rotate-key': function () {
      return { text: 'Make a new signing key? The current one keeps verifying until you retire it.', run: function (reason) { return api('POST', paths.api + '/incident/rotate-key', { reason: reason }); } };
    },
    'action-retire-key': function (form) {
      var kid = form.elements.kid.value;
      return { text: 'Retire key "' + kid + '"? Every token signed with it is refused from now on.', run: function (reason) { return api('POST', paths.api + '/incident/retire-key/' + encodeURIComponent(kid), { reason: reason }); } };
    },
    'action-lockdown': function (form) {
      var mode = form.elements.mode.value;
      return { text: 'Set the lockdown to "' + mode + '" for the whole API?', run: function (reason) { return api('POST', paths.api + '/incident/lockdown', { mode: mode, reason: reason }); } };
    },
  };

  function ask(form) {
    pending = ACTIONS[form.id](form);
    byId('confirm-title').textContent = 'Confirm: ' + form.querySelector('button').textContent;
    byId('confirm-text').textContent = pending.text;
    byId('confirm-reason').value = '';
    byId('confirm').showModal();
    byId('confirm-reason').focus();
  }

  async function confirmed() {
    var reason = byId('confirm-reason').value.trim();
    if (!reason) { byId('confirm-text').textContent = pending.text + ' A reason is required.'; return; }
    byId('confirm').close();
    var action = pending;
    pending = null;
    var result = await action.run(reason);
    var ok = result.status >= 200 && result.status < 300;
    byId('action-result').textContent = (ok ? 'Done: ' : 'Refused: ') + result.status + ' ' + JSON.stringify(result.body);
    byId('action-result').className = ok ? '' : 'error';
    await refresh();
  }

  async function login(event) {
    event.preventDefault();
    byId('login-error').textContent = '';
    var res = await api('POST', paths.login, { username: byId('username').value, password: byId('password').value });
    byId('password').value = '';
    if (res.status !== 200) {
      byId('login-error').textContent = 'Sign-in refused (' + res.status + (res.body && res.body.code ? ' ' + res.body.code : '') + ').';
      return;
    }
    token = res.body.access_token;
    signedIn(true);
    await refresh();
  }

  /** Revokes the token and its session on the server (POST to the logout path, no body), then forgets it here. */
  async function signOut() {
    var res = token && paths.logout ? await api('POST', paths.logout) : { status: 204 };
    signedIn(false);
    byId('login-error').textContent = res.status === 204 || res.status === 401 ? '' : 'Signed out here, but the server did not revoke the session (' + res.status + '): it ends when the token expires.';
  }

  document.addEventListener('DOMContentLoaded', function () {
    byId('login-form').addEventListener('submit', login);
    byId('refresh').addEventListener('click', refresh);
    byId('sign-out').addEventListener('click', signOut);
    byId('confirm-ok').addEventListener('click', confirmed);
    byId('confirm-cancel').addEventListener('click', function () { pending = null; byId('confirm').close(); });
    Object.keys(ACTIONS).forEach(function (id) {
      byId(id).addEventListener('submit', function (event) { event.preventDefault(); ask(event.target); });
    });
    if (paths.ready) {
      api('GET', paths.ready).then(function (ready) {
        badge('store-badge', 'store: ' + (ready.status === 200 ? ready.body.status : 'down'), ready.status === 200 ? 'ok' : 'bad');
      });
    } else {
      badge('store-badge', 'store: not probed', 'warn');
    }
  });
})();
`;
