/** Where the page and its script find things: absolute paths, checked at boot (`[A-Za-z0-9._~/-]` only). */
export interface DashboardPaths {
  /** The page itself (`/admin/dashboard`); its script, stylesheet and icon are below it. */
  page: string;
  /** The admin API (`/admin`). */
  api: string;
  /** `POST {username, password}` → `{access_token}`. */
  login: string;
  /** `POST` with the token, no body: revokes it (absent: signing out only forgets the token). */
  logout?: string;
  /** The public readiness probe (absent: no store badge). */
  ready?: string;
}

/**
 * The security dashboard's page: plain HTML, no inline script or style (the page's CSP forbids both). Everything it
 * shows comes from the admin API with the token of an admin who signs in on the page (kept in memory only). The
 * script reads its paths from the `data-*` attributes of `<html>`.
 */
export const dashboardPage = (paths: DashboardPaths): string => `<!doctype html>
<html lang="en" data-api="${paths.api}" data-login="${paths.login}" data-logout="${paths.logout ?? ''}" data-ready="${paths.ready ?? ''}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jwt-defense · security dashboard</title>
<link rel="icon" href="${paths.page}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${paths.page}/dashboard.css">
<script src="${paths.page}/dashboard.js" defer></script>
</head>
<body>
<header>
  <h1>jwt-defense · security dashboard</h1>
  <p class="badges">
    <span id="store-badge" class="badge">store: …</span>
    <span id="lockdown-badge" class="badge">lockdown: …</span>
    <span id="key-badge" class="badge">signing key: …</span>
  </p>
</header>
<section id="login-section">
  <h2>Sign in as an administrator</h2>
  <form id="login-form" autocomplete="on">
    <label>Username <input id="username" name="username" autocomplete="username" required maxlength="64"></label>
    <label>Password <input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256"></label>
    <button type="submit" id="login-button">Sign in</button>
  </form>
  <p id="login-error" class="error" role="alert"></p>
</section>
<main id="dashboard" hidden>
  <p class="toolbar">
    <button type="button" id="refresh">Refresh</button>
    <span id="updated"></span>
    <button type="button" id="sign-out">Sign out</button>
  </p>
  <section>
    <h2>Incident actions</h2>
    <p class="hint">Each action asks for a confirmation and a reason, recorded with your name in the event log.</p>
    <div class="actions">
      <form class="action" id="action-revoke-user"><label>User (sub) <input name="sub" required maxlength="255"></label><button type="submit">Revoke all of the user's tokens</button></form>
      <form class="action" id="action-revoke-before"><button type="submit">Revoke every token issued until now</button></form>
      <form class="action" id="action-rotate-key"><button type="submit">Rotate the signing key</button></form>
      <form class="action" id="action-retire-key"><label>kid <input name="kid" required maxlength="64" pattern="[A-Za-z0-9._\\-]{1,64}"></label><button type="submit">Retire the key</button></form>
      <form class="action" id="action-lockdown"><label>Lockdown <select name="mode"><option value="step-up">step-up</option><option value="deny-non-admin">deny-non-admin</option><option value="off">off</option></select></label><button type="submit">Set the lockdown</button></form>
    </div>
    <p id="action-result" role="status"></p>
  </section>
  <section>
    <h2>Anomaly alerts</h2>
    <p class="hint">Requests in the alerting interval (red) against the user's baseline for the route (grey).</p>
    <div id="anomaly-chart"></div>
    <table id="anomalies"><thead><tr><th>time</th><th>user</th><th>route</th><th>count</th><th>baseline</th><th>containment</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Risk decisions</h2>
    <table id="risks"><thead><tr><th>time</th><th>decision</th><th>user</th><th>score</th><th>mode</th><th>factors</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Revocations and incident actions</h2>
    <table id="revocations"><thead><tr><th>time</th><th>type</th><th>subject</th><th>reason</th><th>actor</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Keys</h2>
    <table id="keys"><thead><tr><th>kid</th><th>alg</th><th>signing</th><th>in JWKS</th><th>retired</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent events</h2>
    <table id="events"><thead><tr><th>time</th><th>type</th><th>user</th><th>ip</th><th>reason</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<dialog id="confirm">
  <h2 id="confirm-title">Confirm</h2>
  <p id="confirm-text"></p>
  <label>Reason <input id="confirm-reason" maxlength="256"></label>
  <p class="buttons"><button type="button" id="confirm-cancel">Cancel</button> <button type="button" id="confirm-ok">Confirm</button></p>
</dialog>
</body>
</html>
`;
