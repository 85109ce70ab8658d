/**
 * Why: an operator who opens `/status` in a browser should see at once which upstreams are up,
 * which breakers are open and where errors come from, the way HAProxy's stats page shows a table
 * per backend with a coloured row per server. The page is one self-contained HTML document (inline
 * style and script, no external assets, so it works on an air-gapped host) that polls
 * `status.json` every second and redraws. Every value is inserted with `textContent` or
 * `setAttribute`, never as markup, so a hostile upstream name cannot inject anything; the first
 * report is embedded as JSON with `<`, `>`, `&` and the line separators escaped, so it cannot close
 * its script element. A Content-Security-Policy with the hashes of the inline script and style
 * lets the page run nothing else.
 */
import { createHash } from 'node:crypto';
import type { StatusReport } from './status-board.js';

const STYLE = `
:root { color-scheme: light; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
body { margin: 0; background: #f4f5f7; color: #1d2530; }
header { background: #26344a; color: #fff; padding: 10px 16px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
main { padding: 12px 16px; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 3px; font-weight: 600; font-size: 12px; }
.state-ready { background: #2e9e44; color: #fff; }
.state-notready { background: #c77c02; color: #fff; }
.state-draining { background: #7a5cc2; color: #fff; }
.state-offline { background: #b3261e; color: #fff; }
.meta { opacity: 0.85; font-size: 12px; }
h2 { font-size: 13px; margin: 16px 0 4px; text-transform: uppercase; letter-spacing: 0.04em; color: #44546b; }
table { border-collapse: collapse; background: #fff; min-width: 720px; box-shadow: 0 1px 2px rgba(0,0,0,0.08); }
th { background: #dde3ec; text-align: left; font-weight: 600; padding: 4px 10px; border: 1px solid #c4cdd9; white-space: nowrap; }
td { padding: 4px 10px; border: 1px solid #d6dde6; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.num { text-align: right; }
td.name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
tr.up td { background: #e3f6e6; }
tr.down td { background: #fbe1df; }
tr.open td { background: #fde8cf; }
tr.down.open td { background: #fbd5d1; }
td.health-up { color: #1f7a33; font-weight: 600; }
td.health-down { color: #b3261e; font-weight: 600; }
td.breaker-closed { color: #1f7a33; }
td.breaker-open { color: #b3261e; font-weight: 700; }
td.breaker-half-open { color: #a86400; font-weight: 600; }
td.breaker-disabled { color: #6b7685; }
td.demo-failing { color: #b3261e; }
button { font: inherit; font-size: 12px; padding: 1px 8px; cursor: pointer; }
.empty { color: #6b7685; font-style: italic; }
footer { padding: 8px 16px 16px; color: #6b7685; font-size: 12px; }
`;

// Plain ES2017 run by the browser. It only ever sets textContent, className and attributes.
const SCRIPT = `
(function () {
  'use strict';
  var token = new URLSearchParams(location.search).get('token');
  var headers = token ? { authorization: 'Bearer ' + token } : {};
  var stateEl = document.getElementById('state');
  var metaEl = document.getElementById('meta');
  var updatedEl = document.getElementById('updated');
  var proxyBody = document.getElementById('proxy-body');
  var upstreamBody = document.getElementById('upstream-body');
  var demoHead = document.getElementById('demo-head');

  function ms(seconds) {
    if (seconds === null || seconds === undefined) return '\\u2014';
    var v = seconds * 1000;
    if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
    if (v >= 100) return v.toFixed(0) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    return v.toFixed(2) + ' ms';
  }
  function pct(rate) { return (rate * 100).toFixed(1) + ' %'; }
  function rps(rate) { return rate.toFixed(1); }
  function cell(row, text, className, field) {
    var td = document.createElement('td');
    td.textContent = String(text);
    if (className) td.className = className;
    if (field) td.setAttribute('data-field', field);
    row.appendChild(td);
    return td;
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  function setFailing(name, failing) {
    var url = 'status/demo?upstream=' + encodeURIComponent(name) + '&failing=' + (failing ? '1' : '0');
    fetch(url, { method: 'POST', headers: headers, cache: 'no-store' }).then(poll, poll);
  }

  function render(report) {
    var state = report.draining ? 'draining' : report.ready ? 'ready' : 'not ready';
    stateEl.textContent = state.toUpperCase();
    stateEl.className = 'badge state-' + state.replace(' ', '');
    stateEl.setAttribute('data-state', state);
    metaEl.textContent = 'uptime ' + Math.floor(report.uptimeSeconds) + ' s \\u00b7 rates over the last ' + report.windowSeconds + ' s';
    updatedEl.textContent = 'updated ' + new Date().toLocaleTimeString();

    var p = report.proxy;
    clear(proxyBody);
    var row = document.createElement('tr');
    cell(row, rps(p.requestsPerSecond), 'num', 'rps');
    cell(row, pct(p.errorRate), 'num', 'errors');
    cell(row, ms(p.p50Seconds), 'num', 'p50');
    cell(row, ms(p.p99Seconds), 'num', 'p99');
    cell(row, p.requests, 'num', 'requests');
    cell(row, p.rateLimited + ' / ' + p.rateLimitedTotal, 'num', 'rate-limited');
    cell(row, p.backpressureRejected, 'num', 'backpressure');
    cell(row, p.retries, 'num', 'retries');
    cell(row, p.retryBudgetExhausted, 'num', 'budget-exhausted');
    proxyBody.appendChild(row);

    var demo = {};
    if (report.demo) report.demo.upstreams.forEach(function (d) { demo[d.name] = d.failing; });
    demoHead.hidden = !report.demo;
    clear(upstreamBody);
    if (report.upstreams.length === 0) {
      var none = document.createElement('tr');
      var td = cell(none, 'no upstreams', 'empty');
      td.colSpan = 10;
      upstreamBody.appendChild(none);
    }
    report.upstreams.forEach(function (u) {
      var tr = document.createElement('tr');
      var open = u.breaker === 'open';
      tr.className = (u.healthy ? 'up' : 'down') + (open ? ' open' : '');
      tr.setAttribute('data-upstream', u.name);
      tr.setAttribute('data-healthy', String(u.healthy));
      tr.setAttribute('data-breaker', u.breaker);
      tr.setAttribute('data-requests', String(u.requests));
      cell(tr, u.name, 'name', 'name');
      cell(tr, u.healthy ? 'UP' : 'DOWN', u.healthy ? 'health-up' : 'health-down', 'health');
      cell(tr, u.breaker, 'breaker-' + u.breaker, 'breaker');
      cell(tr, u.inFlight, 'num', 'in-flight');
      cell(tr, rps(u.requestsPerSecond), 'num', 'rps');
      cell(tr, pct(u.errorRate), 'num', 'errors');
      cell(tr, ms(u.p50Seconds), 'num', 'p50');
      cell(tr, ms(u.p99Seconds), 'num', 'p99');
      cell(tr, u.requests, 'num', 'requests');
      if (report.demo) {
        var td = cell(tr, '', Object.prototype.hasOwnProperty.call(demo, u.name) && demo[u.name] ? 'demo-failing' : '', 'demo');
        if (Object.prototype.hasOwnProperty.call(demo, u.name)) {
          var failing = demo[u.name];
          var button = document.createElement('button');
          button.type = 'button';
          button.textContent = failing ? 'Repair' : 'Break';
          button.setAttribute('data-action', failing ? 'repair' : 'break');
          button.addEventListener('click', function () { setFailing(u.name, !failing); });
          td.appendChild(button);
        }
      }
      upstreamBody.appendChild(tr);
    });
  }

  var timer;
  function schedule() { clearTimeout(timer); timer = setTimeout(poll, 1000); }
  function offline(reason) {
    stateEl.textContent = 'UNREACHABLE';
    stateEl.className = 'badge state-offline';
    stateEl.setAttribute('data-state', 'unreachable');
    updatedEl.textContent = reason;
  }
  function poll() {
    fetch('status.json', { headers: headers, cache: 'no-store' })
      .then(function (res) {
        if (!res.ok) throw new Error('status.json answered ' + res.status);
        return res.json();
      })
      .then(render)
      .catch(function (err) { offline(String(err && err.message ? err.message : err)); })
      .then(schedule);
  }

  var initial = JSON.parse(document.getElementById('initial').textContent || 'null');
  if (initial) render(initial);
  poll();
})();
`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * Headers to send with the page: no caching, and a Content-Security-Policy that allows only the
 * page's own inline script and style (by hash) and requests to the proxy itself.
 */
export const STATUS_PAGE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': [
    "default-src 'none'",
    `script-src ${sha256(SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
});

const JSON_ESCAPES: Readonly<Record<string, string>> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** JSON that is safe inside a `<script type="application/json">` element of an HTML page. */
export function jsonForScript(value: unknown): string {
  return (value === undefined ? 'null' : JSON.stringify(value)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => JSON_ESCAPES[c] ?? c,
  );
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/** Options of {@link renderStatusPage}. */
export interface StatusPageOptions {
  /** Title shown in the header and the browser tab (default `proxykit proxy`). */
  readonly title?: string;
}

/**
 * The `/status` page: a self-contained HTML document (no external assets) that shows the proxy's
 * ready/draining state, a proxy-wide summary and a row per upstream with health, breaker state,
 * in-flight, request rate, error rate and p50/p99 latency, polling `status.json` (relative to the
 * page) every second. It reads a `?token=` query parameter and sends it as a bearer token. When the
 * report has `demo`, each demo upstream gets a button that posts
 * `status/demo?upstream=<name>&failing=1|0`.
 *
 * @param report a first report to show before the first poll answers (it is embedded as JSON)
 */
export function renderStatusPage(report?: StatusReport, options: StatusPageOptions = {}): string {
  const title = escapeHtml(options.title ?? 'proxykit proxy');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} \u2014 status</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>${title}</h1>
<span id="state" class="badge state-notready" data-state="loading">LOADING</span>
<span id="meta" class="meta"></span>
<span id="updated" class="meta"></span>
</header>
<main>
<noscript><p>This page updates itself with JavaScript; the same data is at <a href="status.json">status.json</a>.</p></noscript>
<h2>Proxy</h2>
<table id="proxy">
<thead><tr><th>Req/s</th><th>Errors</th><th>p50</th><th>p99</th><th>Requests</th><th>Rate-limited (window / total)</th><th>Backpressure 503</th><th>Retries</th><th>Retry budget exhausted</th></tr></thead>
<tbody id="proxy-body"></tbody>
</table>
<h2>Upstreams</h2>
<table id="upstreams">
<thead><tr><th>Upstream</th><th>Health</th><th>Breaker</th><th>In flight</th><th>Req/s</th><th>Errors</th><th>p50</th><th>p99</th><th>Requests</th><th id="demo-head" hidden>Demo</th></tr></thead>
<tbody id="upstream-body"></tbody>
</table>
</main>
<footer>Rates, error percentages and latencies cover a rolling window; health and breaker states are live.</footer>
<script id="initial" type="application/json">${jsonForScript(report ?? null)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
