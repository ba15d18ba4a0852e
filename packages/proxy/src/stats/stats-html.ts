/**
 * The HTML stats page, laid out like haproxy's: one table per proxy with a FRONTEND row, one row per server and a
 * BACKEND row; queue, sessions, bytes, errors, warnings and server columns; rows coloured by state; auto refresh.
 * With `stats admin`, servers get checkboxes and an action menu posting haproxy's own form fields (s, action, b).
 */
import { formatAge } from '../config/duration.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import type { StatRow } from './stats-rows.ts';

const STYLE = `body{font-family:arial,helvetica,sans-serif;font-size:12px;background:#fff}
table{border-collapse:collapse;margin-bottom:1em}th,td{border:1px solid #999;padding:1px 4px;text-align:right}
th{background:#20a0ff;color:#fff}td.px{background:#b00040;color:#fff;text-align:left;font-weight:bold}
td.name{text-align:left}tr.up td{background:#c0ffc0}tr.down td{background:#ff9090}tr.going-down td{background:#ffd020}
tr.going-up td{background:#ffffa0}tr.maint td{background:#c0c0ff}tr.drain td{background:#80e0e0}
tr.nocheck td{background:#e0e0e0}tr.total td{background:#c0c0c0;font-weight:bold}`;

// haproxy's column groups (stats.c, stats_dump_html_px_hdr): Queue, Session rate, Sessions, Bytes, Denied, Errors,
// Warnings, Server.
const HEAD =
  '<tr><th rowspan=2>Name</th><th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th>' +
  '<th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th>' +
  '<th colspan=9>Server</th></tr>' +
  '<tr><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th>' +
  '<th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th>' +
  '<th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th>' +
  '<th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th></tr>';
const COLUMNS = 31;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function rowClass(status: string): string {
  if (status === 'MAINT') return 'maint';
  if (status === 'DRAIN') return 'drain';
  if (status === 'no check') return 'nocheck';
  if (status.startsWith('UP ')) return 'going-down';
  if (status.startsWith('DOWN ')) return 'going-up';
  if (status === 'DOWN') return 'down';
  return 'up';
}

function cell(v: string | number | undefined): string {
  return `<td>${v === undefined ? '' : escapeHtml(String(v))}</td>`;
}

function lastChk(r: StatRow): string {
  if (!r.check_status) return '';
  const d = r.check_duration !== undefined && r.check_duration !== '' ? ` in ${r.check_duration}ms` : '';
  return `${r.check_status}${d}${r.last_chk ? ` (${r.last_chk})` : ''}`;
}

export function statsHtml(lb: LoadBalancer, rows: StatRow[], opts: { uri: string; refreshS: number | null; admin: boolean; hideVersion: boolean }): string {
  const uptime = formatAge(lb.clock.now() - lb.startedAt);
  let body = `<h1>Warren proxy statistics</h1><p>pid = ${process.pid}, uptime = ${uptime}, current sessions = ${lb.sessionCount}` +
    `${opts.hideVersion ? '' : ', version = warren-proxy 0.1.0 (haproxy.cfg compatible)'}</p>` +
    `<p><a href="${escapeHtml(opts.uri)};csv">CSV export</a> · <a href="${escapeHtml(opts.uri)};json">JSON export</a></p>`;
  const byProxy = new Map<string, StatRow[]>();
  for (const r of rows) {
    const name = String(r.pxname);
    const list = byProxy.get(name) ?? [];
    list.push(r);
    byProxy.set(name, list);
  }
  for (const [name, list] of byProxy) {
    const hasServers = list.some((r) => r.type === 2);
    const form = opts.admin && hasServers;
    let t = form ? `<form method=post action="${escapeHtml(opts.uri)}"><input type=hidden name=b value="${escapeHtml(name)}">` : '';
    t += `<table><tr><td class=px colspan=${COLUMNS}>${escapeHtml(name)}</td></tr>${HEAD}`;
    for (const r of list) {
      const status = String(r.status ?? '');
      const isServer = r.type === 2;
      const cls = r.type === 2 ? rowClass(status) : `total ${status === 'DOWN' ? 'down' : ''}`;
      const nameCell = isServer && form ? `<input type=checkbox name=s value="${escapeHtml(String(r.svname))}"> ${escapeHtml(String(r.svname))}` : escapeHtml(String(r.svname));
      const age = r.lastchg !== undefined && r.lastchg !== '' ? `${formatAge(Number(r.lastchg) * 1000)} ` : '';
      const last = r.lastsess === undefined || r.lastsess === '' ? '' : Number(r.lastsess) < 0 ? 'never' : formatAge(Number(r.lastsess) * 1000);
      const dash = (v: string | number | undefined): string | number => (v === undefined || v === '' || v === 0 ? '-' : v);
      const fe = r.type === 0;
      t +=
        `<tr class="${cls}"><td class=name>${nameCell}</td>` +
        (fe ? cell('') + cell('') + cell('') : cell(r.qcur) + cell(r.qmax) + cell(isServer ? dash(r.qlimit) : '')) +
        cell(r.rate) + cell(r.rate_max) + cell(fe ? dash(r.rate_lim) : '') +
        cell(r.scur) + cell(r.smax) + cell(dash(r.slim)) + cell(r.stot) + cell(fe ? '' : r.lbtot) + cell(fe ? '' : last) +
        cell(r.bin) + cell(r.bout) + cell(isServer ? '' : r.dreq) + cell(r.dresp) +
        cell(fe ? r.ereq : '') + cell(fe ? '' : r.econ) + cell(fe ? '' : r.eresp) + cell(fe ? '' : r.wretr) + cell(fe ? '' : r.wredis) +
        cell(fe ? status : `${age}${status}`) + cell(lastChk(r)) + cell(r.weight) +
        cell(isServer ? (r.act ? 'Y' : '-') : r.act) + cell(isServer ? (r.bck ? 'Y' : '-') : r.bck) +
        cell(r.chkfail) + cell(r.chkdown) + cell(r.downtime !== undefined && r.downtime !== '' ? formatAge(Number(r.downtime) * 1000) : '') +
        cell(isServer ? '-' : '') +
        '</tr>';
    }
    t += '</table>';
    if (form) {
      t +=
        'Choose the action to perform on the checked servers: <select name=action>' +
        '<option value=ready>Set state to READY</option><option value=drain>Set state to DRAIN</option>' +
        '<option value=maint>Set state to MAINT</option><option value=hrunn>Health: force UP</option>' +
        '<option value=hdown>Health: force DOWN</option><option value=shutdown>Kill Sessions</option>' +
        '</select> <input type=submit value=Apply></form>';
    }
    body += t;
  }
  const refresh = opts.refreshS ? `<meta http-equiv="refresh" content="${opts.refreshS}">` : '';
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Statistics Report for Warren proxy</title>${refresh}<style>${STYLE}</style></head><body>${body}</body></html>\n`;
}
