/**
 * The statistics as rows, one per frontend, server and backend, with haproxy 2.6's CSV columns, all of them and in
 * its order (haproxy: management.txt §9.1 "CSV format"; the header is the one `show stat` of haproxy 2.6.12 prints).
 * The CSV, JSON and HTML renderers all read these rows.
 *
 * A field is filled where this proxy has the figure, and left empty where haproxy leaves it empty for that kind of
 * row. The SSL, HTTP/2 and compression counters are 0 because there is no such traffic. Fields this proxy does not
 * keep (agent checks, throttle, cookies, idle server connections) stay empty.
 */
import type { Backend } from '../backend.ts';
import { CHECK_DESCRIPTION } from '../health/check-result.ts';
import type { Frontend } from '../frontend.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import type { Server } from '../server.ts';
import type { SessionTimes } from './session-times.ts';

export const STAT_COLUMNS = [
  'pxname', 'svname', 'qcur', 'qmax', 'scur', 'smax', 'slim', 'stot', 'bin', 'bout', 'dreq', 'dresp', 'ereq', 'econ',
  'eresp', 'wretr', 'wredis', 'status', 'weight', 'act', 'bck', 'chkfail', 'chkdown', 'lastchg', 'downtime', 'qlimit',
  'pid', 'iid', 'sid', 'throttle', 'lbtot', 'tracked', 'type', 'rate', 'rate_lim', 'rate_max', 'check_status',
  'check_code', 'check_duration', 'hrsp_1xx', 'hrsp_2xx', 'hrsp_3xx', 'hrsp_4xx', 'hrsp_5xx', 'hrsp_other', 'hanafail',
  'req_rate', 'req_rate_max', 'req_tot', 'cli_abrt', 'srv_abrt', 'comp_in', 'comp_out', 'comp_byp', 'comp_rsp',
  'lastsess', 'last_chk', 'last_agt', 'qtime', 'ctime', 'rtime', 'ttime', 'agent_status', 'agent_code',
  'agent_duration', 'check_desc', 'agent_desc', 'check_rise', 'check_fall', 'check_health', 'agent_rise',
  'agent_fall', 'agent_health', 'addr', 'cookie', 'mode', 'algo', 'conn_rate', 'conn_rate_max', 'conn_tot',
  'intercepted', 'dcon', 'dses', 'wrew', 'connect', 'reuse', 'cache_lookups', 'cache_hits', 'srv_icur', 'src_ilim',
  'qtime_max', 'ctime_max', 'rtime_max', 'ttime_max', 'eint', 'idle_conn_cur', 'safe_conn_cur', 'used_conn_cur',
  'need_conn_est', 'uweight', 'agg_server_status', 'agg_server_check_status', 'agg_check_status', '-', 'ssl_sess',
  'ssl_reused_sess', 'ssl_failed_handshake', 'h2_headers_rcvd', 'h2_data_rcvd', 'h2_settings_rcvd',
  'h2_rst_stream_rcvd', 'h2_goaway_rcvd', 'h2_detected_conn_protocol_errors', 'h2_detected_strm_protocol_errors',
  'h2_rst_stream_resp', 'h2_goaway_resp', 'h2_open_connections', 'h2_backend_open_streams', 'h2_total_connections',
  'h2_backend_total_streams', 'h1_open_connections', 'h1_open_streams', 'h1_total_connections', 'h1_total_streams',
  'h1_bytes_in', 'h1_bytes_out', 'h1_spliced_bytes_in', 'h1_spliced_bytes_out',
] as const;

export type StatColumn = (typeof STAT_COLUMNS)[number];
export type StatRow = Partial<Record<StatColumn, string | number>>;

const TYPE_FRONTEND = 0;
const TYPE_BACKEND = 1;
const TYPE_SERVER = 2;
// haproxy's `pid` column is the process number within haproxy (1 without nbproc), not the system pid.
const PROCESS_NUMBER = 1;
// haproxy: fullconn defaults to 10% of the maxconn of the frontends that may use the backend (its `slim`).
const FULLCONN_PERCENT = 10;

/** The counters every frontend and backend row has, zero because this proxy has no such traffic or rules. */
const ZERO_SSL_H2: StatRow = {
  '-': '-', ssl_sess: 0, ssl_reused_sess: 0, ssl_failed_handshake: 0, h2_headers_rcvd: 0, h2_data_rcvd: 0,
  h2_settings_rcvd: 0, h2_rst_stream_rcvd: 0, h2_goaway_rcvd: 0, h2_detected_conn_protocol_errors: 0,
  h2_detected_strm_protocol_errors: 0, h2_rst_stream_resp: 0, h2_goaway_resp: 0, h2_open_connections: 0,
  h2_backend_open_streams: 0, h2_total_connections: 0, h2_backend_total_streams: 0,
};
const ZERO_COMP: StatRow = { comp_in: 0, comp_out: 0, comp_byp: 0, comp_rsp: 0 };

export function collectStats(lb: LoadBalancer): StatRow[] {
  const now = lb.clock.now();
  const rows: StatRow[] = [];
  let iid = 0;
  for (const p of lb.config.proxies) {
    iid++;
    const fe = lb.frontends.get(p.name);
    if (fe) rows.push(frontendRow(fe, iid, now));
    const be = lb.backends.get(p.name);
    if (!be) continue;
    be.servers.forEach((s, i) => rows.push(serverRow(be, s, i + 1, iid, now)));
    rows.push(backendRow(lb, be, iid, now));
  }
  return rows;
}

function frontendRow(fe: Frontend, iid: number, now: number): StatRow {
  const http = fe.config.mode === 'http';
  const bin = fe.bytesIn();
  const bout = fe.bytesOut();
  const row: StatRow = {
    pxname: fe.name,
    svname: 'FRONTEND',
    // haproxy has no frontend queue (beyond maxconn connections wait in the kernel's backlog); here they are accepted
    // and held, and qcur counts them.
    qcur: fe.waitingCount,
    scur: fe.cur,
    smax: fe.smax,
    slim: fe.maxconn,
    stot: fe.stot,
    bin,
    bout,
    dreq: 0,
    dresp: 0,
    ereq: fe.dropped,
    status: fe.stopped ? 'STOP' : fe.cur >= fe.maxconn ? 'FULL' : 'OPEN',
    pid: PROCESS_NUMBER,
    iid,
    sid: 0,
    type: TYPE_FRONTEND,
    rate: fe.rate.rate(now),
    rate_lim: 0,
    rate_max: fe.rate.max,
    req_rate: fe.reqRate.rate(now),
    req_rate_max: fe.reqRate.max,
    req_tot: fe.reqTot,
    ...ZERO_COMP,
    mode: fe.config.mode,
    conn_rate: fe.connRate.rate(now),
    conn_rate_max: fe.connRate.max,
    conn_tot: fe.connTot,
    dcon: 0,
    dses: 0,
    wrew: 0,
    eint: 0,
    ...ZERO_SSL_H2,
    h1_open_connections: http ? fe.cur : 0,
    h1_open_streams: http ? fe.cur : 0,
    h1_total_connections: http ? fe.connTot : 0,
    h1_total_streams: http ? fe.reqTot : 0,
    h1_bytes_in: http ? bin : 0,
    h1_bytes_out: http ? bout : 0,
    h1_spliced_bytes_in: 0,
    h1_spliced_bytes_out: 0,
  };
  if (http) {
    const [r1, r2, r3, r4, r5, other] = fe.hrsp;
    Object.assign(row, { hrsp_1xx: r1, hrsp_2xx: r2, hrsp_3xx: r3, hrsp_4xx: r4, hrsp_5xx: r5, hrsp_other: other });
    Object.assign(row, { intercepted: fe.intercepted, cache_lookups: 0, cache_hits: 0 });
  }
  return row;
}

function times(t: SessionTimes): StatRow {
  return {
    qtime: Math.round(t.qtime),
    ctime: Math.round(t.ctime),
    rtime: 0, // an HTTP response time; TCP sessions have none
    ttime: Math.round(t.ttime),
    qtime_max: t.qtimeMax,
    ctime_max: t.ctimeMax,
    rtime_max: 0,
    ttime_max: t.ttimeMax,
    cli_abrt: t.cliAbrt,
    srv_abrt: t.srvAbrt,
  };
}

function lastSess(at: number | null, now: number): number {
  return at === null ? -1 : Math.floor((now - at) / 1000);
}

function serverRow(be: Backend, s: Server, sid: number, iid: number, now: number): StatRow {
  const c = s.config;
  const chk = s.lastCheck;
  const downtime = s.downtimeMs + (s.downSince !== null ? now - s.downSince : 0);
  return {
    pxname: be.name,
    svname: s.name,
    qcur: s.queued,
    qmax: s.qmax,
    scur: s.cur,
    smax: s.smax,
    slim: c.maxconn || '',
    stot: s.stot,
    bin: s.bytesIn(),
    bout: s.bytesOut(),
    dresp: 0,
    econ: s.econ,
    eresp: s.eresp,
    wretr: s.wretr,
    wredis: s.wredis,
    status: s.status(),
    weight: s.weight,
    act: c.backup ? 0 : 1,
    bck: c.backup ? 1 : 0,
    chkfail: c.check ? s.chkfail : '',
    chkdown: c.check ? s.chkdown : '',
    lastchg: Math.floor((now - s.lastChange) / 1000),
    downtime: c.check ? Math.floor(downtime / 1000) : '',
    qlimit: c.maxqueue || '',
    pid: PROCESS_NUMBER,
    iid,
    sid,
    lbtot: s.lbtot,
    type: TYPE_SERVER,
    rate: s.rate.rate(now),
    rate_max: s.rate.max,
    check_status: c.check ? (chk?.status ?? 'INI') : '',
    check_code: chk?.code ?? '',
    check_duration: chk ? chk.durationMs : '',
    lastsess: lastSess(s.lastSessAt, now),
    last_chk: chk?.info ?? '',
    check_desc: c.check ? CHECK_DESCRIPTION[chk?.status ?? 'INI'] : '',
    check_rise: c.check ? c.rise : '',
    check_fall: c.check ? c.fall : '',
    check_health: c.check ? s.health.health : '',
    addr: `${c.host}:${c.port ?? ''}`,
    mode: be.config.mode,
    ...times(s.times),
    wrew: 0,
    connect: s.connects,
    reuse: 0,
    srv_icur: 0,
    eint: 0,
    idle_conn_cur: 0,
    safe_conn_cur: 0,
    used_conn_cur: s.cur,
    uweight: s.weight,
    '-': '-',
    ssl_sess: 0,
    ssl_reused_sess: 0,
    ssl_failed_handshake: 0,
  };
}

/** haproxy's fullconn default: a tenth of the maxconn of the frontends that may send sessions to this backend. */
function fullconn(lb: LoadBalancer, be: Backend): number {
  let sum = 0;
  for (const fe of lb.frontends.values()) if (fe.backend === be) sum += fe.maxconn;
  return Math.floor((sum * FULLCONN_PERCENT) / 100);
}

function backendRow(lb: LoadBalancer, be: Backend, iid: number, now: number): StatRow {
  const usable = be.pool();
  const http = be.config.mode === 'http';
  const row: StatRow = {
    pxname: be.name,
    svname: 'BACKEND',
    qcur: be.queued,
    qmax: be.qmax,
    scur: be.cur,
    smax: be.smax,
    slim: fullconn(lb, be),
    stot: be.stot,
    bin: be.bytesIn(),
    bout: be.bytesOut(),
    dreq: 0,
    dresp: 0,
    econ: be.econ,
    eresp: 0,
    wretr: be.wretr,
    wredis: be.wredis,
    // haproxy (stats.c): "UP" when the usable servers have some weight, or when the backend has no server at all
    // (a stats-only section); "DOWN" otherwise.
    status: be.servers.length === 0 || be.up ? 'UP' : 'DOWN',
    weight: usable.reduce((n, s) => n + s.weight, 0),
    act: usable.filter((s) => !s.config.backup).length,
    bck: usable.filter((s) => s.config.backup).length,
    chkdown: be.chkdown,
    lastchg: Math.floor((now - be.lastChange) / 1000),
    downtime: be.servers.length > 0 ? Math.floor(be.downtime(now) / 1000) : '',
    pid: PROCESS_NUMBER,
    iid,
    sid: 0,
    lbtot: be.lbtot,
    type: TYPE_BACKEND,
    rate: be.rate.rate(now),
    rate_max: be.rate.max,
    ...ZERO_COMP,
    lastsess: lastSess(be.lastSessAt, now),
    mode: be.config.mode,
    ...times(be.times),
    wrew: 0,
    connect: be.connects,
    reuse: 0,
    eint: 0,
    uweight: usable.reduce((n, s) => n + s.weight, 0),
    ...ZERO_SSL_H2,
    h1_open_connections: 0,
    h1_open_streams: 0,
    h1_total_connections: 0,
    h1_total_streams: 0,
    h1_bytes_in: 0,
    h1_bytes_out: 0,
    h1_spliced_bytes_in: 0,
    h1_spliced_bytes_out: 0,
  };
  if (http) Object.assign(row, { hrsp_1xx: 0, hrsp_2xx: 0, hrsp_3xx: 0, hrsp_4xx: 0, hrsp_5xx: 0, hrsp_other: 0, req_tot: 0, cache_lookups: 0, cache_hits: 0 });
  return row;
}
