/** The dashboard's stylesheet (served as a file: the page's CSP allows no inline style). */
export const DASHBOARD_CSS = `
:root { color-scheme: light; font-family: system-ui, sans-serif; font-size: 14px; }
body { margin: 0 auto; max-width: 1200px; padding: 0 16px 32px; color: #1d2330; background: #f6f7f9; }
header { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; border-bottom: 2px solid #1d2330; }
h1 { font-size: 20px; margin: 16px 0 8px; }
h2 { font-size: 16px; margin: 20px 0 8px; }
section { background: #fff; border: 1px solid #dde1e8; border-radius: 6px; padding: 4px 12px 12px; margin-top: 12px; }
.badge { display: inline-block; padding: 2px 8px; margin-left: 6px; border-radius: 10px; background: #dde1e8; font-size: 12px; }
.badge.ok { background: #cdebd6; } .badge.warn { background: #fde7b0; } .badge.bad { background: #f7c6c0; }
table { width: 100%; border-collapse: collapse; font-size: 12px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eef0f3; vertical-align: top; }
td.wrap { max-width: 420px; overflow-wrap: anywhere; }
form label { margin-right: 8px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; }
.action { border: 1px solid #dde1e8; border-radius: 4px; padding: 6px; }
.error { color: #b3261e; } .hint { color: #5b6475; font-size: 12px; }
.toolbar { display: flex; gap: 12px; align-items: center; }
dialog { border: 1px solid #1d2330; border-radius: 6px; max-width: 480px; }
dialog input { width: 100%; box-sizing: border-box; margin-top: 4px; }
.bar-count { fill: #c0392b; } .bar-baseline { fill: #98a2b3; } .chart-label { font-size: 10px; fill: #1d2330; }
`;

/** The page's icon (a shield), so the browser does not ask for a /favicon.ico the API does not have. */
export const DASHBOARD_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M8 1l6 2v5c0 3.5-2.6 6-6 7-3.4-1-6-3.5-6-7V3z" fill="#1d2330"/></svg>';
