// keepalived.conf semantics for the VRRP subset: global_defs, vrrp_script, vrrp_instance.
// Keywords are a table per block: implemented ones set fields, `accepted` ones only warn (they do not change
// VRRP behaviour here, e.g. SMTP alerts), anything else is an error naming file, line and keyword.

import { ConfigError, parseFile, parseText, type Statement } from './config-parser.ts';
import { ipToInt, VRRP_AUTH_NONE, VRRP_AUTH_PASS, VRRP_MCAST_ADDR } from './packet.ts';

export { ConfigError } from './config-parser.ts';

export interface ConfigWarning {
  file: string;
  line: number;
  keyword: string;
  message: string;
}

export interface GarpSettings {
  /** Seconds after becoming master before the second burst (keepalived garp_master_delay, default 5). */
  delayMs: number;
  /** GARPs per burst (garp_master_repeat, default 5). */
  repeat: number;
  /** Periodic refresh while master, 0 = off (garp_master_refresh). */
  refreshMs: number;
  refreshRepeat: number;
}

export interface GlobalConfig {
  routerId?: string;
  vrrpVersion: 2 | 3;
  garp: GarpSettings;
  mcastGroup: string;
  v3ChecksumAsV2: boolean;
  checkUnicastSrc: boolean;
  /** vrrp_skip_check_adv_addr: default of the instances' skip_check_adv_addr. */
  skipCheckAdvAddr: boolean;
  /** enable_script_security: unsafe scripts are disabled, and running scripts is not a security violation. */
  scriptSecurity: boolean;
}

export interface TrackScriptConfig {
  name: string;
  script: string;
  intervalMs: number;
  timeoutMs: number;
  weight: number;
  /** weight ... reverse: the weight applies when the script succeeds, negated. */
  weightReverse: boolean;
  fall: number;
  rise: number;
  initFail: boolean;
  file: string;
  line: number;
}

export interface VirtualIp {
  address: string;
  prefix: number;
  dev?: string;
  label?: string;
}

export interface TrackRef {
  name: string;
  weight?: number;
  line: number;
}

export interface InstanceConfig {
  name: string;
  file: string;
  line: number;
  initialState: 'MASTER' | 'BACKUP';
  interface: string;
  vrid: number;
  priority: number;
  advertIntervalCs: number;
  version: 2 | 3;
  preempt: boolean;
  preemptDelayMs: number;
  authType: number;
  authPass: string;
  vips: VirtualIp[];
  vipsExcluded: VirtualIp[];
  unicastSrcIp?: string;
  unicastPeers: string[];
  unicastTtl: number;
  trackScripts: TrackRef[];
  trackInterfaces: TrackRef[];
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notifyStop?: string;
  notify?: string;
  smtpAlert: boolean;
  garp: GarpSettings;
  v3ChecksumAsV2: boolean;
  lowerPrioAdvert: boolean;
  dontTrackPrimary: boolean;
  mcastSrcIp?: string;
  /** keepalived skip_check_adv_addr: a backup does not check the address list of its current master's adverts. */
  skipCheckAdvAddr: boolean;
}

export interface VrrpConfig {
  global: GlobalConfig;
  scripts: Map<string, TrackScriptConfig>;
  instances: InstanceConfig[];
  warnings: ConfigWarning[];
}

type Ctx = { warnings: ConfigWarning[] };
type Handler<T> = (st: Statement, target: T, ctx: Ctx) => void;

const arg = (st: Statement, i = 0): string => {
  const v = st.args[i];
  if (v === undefined) throw new ConfigError('MISSING', st.file, st.line, st.keyword, 'missing value');
  return v;
};
const bad = (st: Statement, msg: string): ConfigError => new ConfigError('BAD_VALUE', st.file, st.line, st.keyword, msg);

function int(st: Statement, min: number, max: number, i = 0): number {
  const s = arg(st, i);
  const v = Number(s);
  if (!/^-?\d+$/.test(s) || v < min || v > max) throw bad(st, `'${s}' is not an integer in ${min}..${max}`);
  return v;
}

function seconds(st: Statement, min: number, max: number): number {
  const s = arg(st);
  const v = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || v < min || v > max) throw bad(st, `'${s}' is not a number of seconds in ${min}..${max}`);
  return v;
}

function ipv4(st: Statement, s: string): string {
  if (Number.isNaN(ipToInt(s))) throw bad(st, `'${s}' is not an IPv4 address`);
  return s;
}

function accepted(what: string): Handler<unknown> {
  return (st, _t, ctx) =>
    ctx.warnings.push({ file: st.file, line: st.line, keyword: st.keyword, message: `accepted but ignored: ${what}` });
}

const DEFAULT_GARP: GarpSettings = { delayMs: 5000, repeat: 5, refreshMs: 0, refreshRepeat: 1 };

const GARP_HANDLERS = (prefix: string): Record<string, Handler<{ garp: GarpSettings }>> => ({
  [`${prefix}garp_master_delay`]: (st, t) => (t.garp.delayMs = int(st, 0, 86400) * 1000),
  [`${prefix}garp_master_repeat`]: (st, t) => (t.garp.repeat = Math.max(1, int(st, 0, 1000))),
  [`${prefix}garp_master_refresh`]: (st, t) => (t.garp.refreshMs = int(st, 0, 86400) * 1000),
  [`${prefix}garp_master_refresh_repeat`]: (st, t) => (t.garp.refreshRepeat = Math.max(1, int(st, 0, 1000))),
  [`${prefix}garp_interval`]: accepted('GARPs of a burst are sent back to back'),
  [`${prefix}garp_lower_prio_repeat`]: accepted('no GARPs on lower-priority adverts'),
  [`${prefix}garp_lower_prio_delay`]: accepted('no GARPs on lower-priority adverts'),
});

const SMTP = accepted('vrrpd sends no e-mail; use notify scripts');

const GLOBAL: Record<string, Handler<GlobalConfig>> = {
  router_id: (st, g) => (g.routerId = arg(st)),
  vrrp_version: (st, g) => (g.vrrpVersion = int(st, 2, 3) as 2 | 3),
  vrrp_mcast_group4: (st, g) => (g.mcastGroup = ipv4(st, arg(st))),
  v3_checksum_as_v2: (st, g) => (g.v3ChecksumAsV2 = st.args[0] !== 'false'),
  vrrp_check_unicast_src: (_st, g) => (g.checkUnicastSrc = true),
  ...(GARP_HANDLERS('vrrp_') as Record<string, Handler<GlobalConfig>>),
  notification_email: SMTP,
  notification_email_from: SMTP,
  smtp_server: SMTP,
  smtp_connect_timeout: SMTP,
  smtp_helo_name: SMTP,
  enable_script_security: (_st, g) => (g.scriptSecurity = true),
  script_user: accepted('scripts run as the vrrpd user'),
  vrrp_skip_check_adv_addr: (_st, g) => (g.skipCheckAdvAddr = true),
  vrrp_strict: accepted('strict mode is not enforced'),
  lvs_id: accepted('no LVS'),
  lvs_sync_daemon: accepted('no LVS'),
  vrrp_iptables: accepted('no firewall rules are managed'),
  vrrp_no_swap: accepted('no memory locking'),
  vrrp_priority: accepted('process priority is not changed'),
  max_auto_priority: accepted('process priority is not changed'),
  dynamic_interfaces: accepted('interfaces must exist at start'),
};

const SCRIPT: Record<string, Handler<TrackScriptConfig>> = {
  script: (st, s) => (s.script = st.args.join(' ')),
  interval: (st, s) => (s.intervalMs = Math.round(seconds(st, 0.01, 86400) * 1000)),
  timeout: (st, s) => (s.timeoutMs = Math.round(seconds(st, 0.01, 86400) * 1000)),
  weight: (st, s) => {
    s.weight = int(st, -253, 253);
    if (st.args[1] === 'reverse') s.weightReverse = true;
  },
  fall: (st, s) => (s.fall = int(st, 1, 1000)),
  rise: (st, s) => (s.rise = int(st, 1, 1000)),
  init_fail: (_st, s) => (s.initFail = true),
  user: accepted('scripts run as the vrrpd user'),
};

function parseVip(st: Statement): VirtualIp {
  const [addr, pfx] = st.keyword.split('/');
  const vip: VirtualIp = { address: ipv4(st, addr ?? ''), prefix: 32 };
  if (pfx !== undefined) {
    const p = Number(pfx);
    if (!/^\d+$/.test(pfx) || p > 32) throw bad(st, `bad prefix length '${pfx}'`);
    vip.prefix = p;
  }
  for (let i = 0; i < st.args.length; i += 2) {
    const k = st.args[i]!;
    const v = st.args[i + 1];
    if (k === 'dev' && v !== undefined) vip.dev = v;
    else if (k === 'label' && v !== undefined) vip.label = v;
    else if (['brd', 'broadcast', 'scope'].includes(k)) continue;
    else throw bad(st, `unsupported virtual_ipaddress option '${k}'`);
  }
  return vip;
}

function trackList(st: Statement, withWeight: boolean): TrackRef[] {
  return (st.block ?? []).map((e) => {
    const r: TrackRef = { name: e.keyword, line: e.line };
    if (e.args[0] === 'weight') {
      if (!withWeight) throw bad(e, 'weight not allowed here');
      r.weight = int({ ...e, keyword: `${st.keyword} ${e.keyword}` }, -254, 254, 1);
    }
    return r;
  });
}

const INSTANCE: Record<string, Handler<InstanceConfig>> = {
  state: (st, i) => {
    const s = arg(st).toUpperCase();
    if (s !== 'MASTER' && s !== 'BACKUP') throw bad(st, `'${arg(st)}' is not MASTER or BACKUP`);
    i.initialState = s;
  },
  interface: (st, i) => (i.interface = arg(st)),
  virtual_router_id: (st, i) => (i.vrid = int(st, 1, 255)),
  priority: (st, i) => (i.priority = int(st, 1, 255)),
  advert_int: (st, i) => (i.advertIntervalCs = Math.round(seconds(st, 0.01, 255) * 100)),
  version: (st, i) => (i.version = int(st, 2, 3) as 2 | 3),
  nopreempt: (_st, i) => (i.preempt = false),
  preempt: (_st, i) => (i.preempt = true),
  preempt_delay: (st, i) => (i.preemptDelayMs = Math.round(seconds(st, 0, 1000) * 1000)),
  authentication: (st, i) => {
    for (const e of st.block ?? []) {
      if (e.keyword === 'auth_type') {
        const t = arg(e).toUpperCase();
        if (t === 'PASS') i.authType = VRRP_AUTH_PASS;
        else if (t === 'AH') throw bad(e, 'auth_type AH is not supported (use PASS or none)');
        else throw bad(e, `unknown auth_type '${arg(e)}'`);
      } else if (e.keyword === 'auth_pass') {
        i.authPass = arg(e);
      } else {
        throw new ConfigError('UNKNOWN_KEYWORD', e.file, e.line, e.keyword, 'unknown keyword in authentication');
      }
    }
  },
  virtual_ipaddress: (st, i) => i.vips.push(...(st.block ?? []).map(parseVip)),
  virtual_ipaddress_excluded: (st, i) => i.vipsExcluded.push(...(st.block ?? []).map(parseVip)),
  unicast_src_ip: (st, i) => (i.unicastSrcIp = ipv4(st, arg(st))),
  unicast_peer: (st, i) => i.unicastPeers.push(...(st.block ?? []).map((e) => ipv4(e, e.keyword))),
  unicast_ttl: (st, i) => (i.unicastTtl = int(st, 1, 255)),
  mcast_src_ip: (st, i) => (i.mcastSrcIp = ipv4(st, arg(st))),
  track_script: (st, i) => i.trackScripts.push(...trackList(st, true)),
  track_interface: (st, i) => i.trackInterfaces.push(...trackList(st, true)),
  notify_master: (st, i) => (i.notifyMaster = st.args.join(' ')),
  notify_backup: (st, i) => (i.notifyBackup = st.args.join(' ')),
  notify_fault: (st, i) => (i.notifyFault = st.args.join(' ')),
  notify_stop: (st, i) => (i.notifyStop = st.args.join(' ')),
  notify: (st, i) => (i.notify = st.args.join(' ')),
  smtp_alert: (st, i, ctx) => {
    i.smtpAlert = true;
    accepted('vrrpd sends no e-mail; use notify scripts')(st, i, ctx);
  },
  v3_checksum_as_v2: (st, i) => (i.v3ChecksumAsV2 = st.args[0] !== 'false'),
  lower_prio_no_advert: (st, i) => (i.lowerPrioAdvert = st.args[0] === 'false'),
  dont_track_primary: (_st, i) => (i.dontTrackPrimary = true),
  skip_check_adv_addr: (st, i) => (i.skipCheckAdvAddr = st.args[0] !== 'false'),
  ...(GARP_HANDLERS('') as Record<string, Handler<InstanceConfig>>),
  debug: accepted('use vrrpd -D'),
  accept: accepted('addresses are always accepted'),
  no_accept: accepted('addresses are always accepted'),
  strict_mode: accepted('strict mode is not enforced'),
  old_unicast_checksum: accepted('unicast v3 checksums use the peer address'),
};

function runBlock<T>(block: Statement[], table: Record<string, Handler<T>>, target: T, ctx: Ctx, where: string): void {
  for (const st of block) {
    const h = table[st.keyword];
    if (h === undefined) throw new ConfigError('UNKNOWN_KEYWORD', st.file, st.line, st.keyword, `unknown keyword in ${where}`);
    h(st, target, ctx);
  }
}

function build(stmts: Statement[]): VrrpConfig {
  const ctx: Ctx = { warnings: [] };
  const global: GlobalConfig = {
    vrrpVersion: 2,
    garp: { ...DEFAULT_GARP },
    mcastGroup: VRRP_MCAST_ADDR,
    v3ChecksumAsV2: false,
    checkUnicastSrc: false,
    skipCheckAdvAddr: false,
    scriptSecurity: false,
  };
  const scripts = new Map<string, TrackScriptConfig>();
  const raw: { st: Statement }[] = [];
  for (const st of stmts) {
    if (st.keyword === 'global_defs') runBlock(st.block ?? [], GLOBAL, global, ctx, 'global_defs');
    else if (st.keyword === 'vrrp_script') {
      const name = arg(st);
      const s: TrackScriptConfig = {
        name,
        script: '',
        intervalMs: 1000,
        timeoutMs: 0,
        weight: 0,
        weightReverse: false,
        fall: 1,
        rise: 1,
        initFail: false,
        file: st.file,
        line: st.line,
      };
      runBlock(st.block ?? [], SCRIPT, s, ctx, `vrrp_script ${name}`);
      if (s.script === '') throw new ConfigError('MISSING', st.file, st.line, 'vrrp_script', `${name}: no script`);
      if (s.timeoutMs === 0) s.timeoutMs = s.intervalMs;
      scripts.set(name, s);
    } else if (st.keyword === 'vrrp_instance') raw.push({ st });
    else if (['virtual_server', 'virtual_server_group', 'vrrp_sync_group', 'static_ipaddress', 'static_routes', 'linkbeat_interfaces'].includes(st.keyword)) {
      accepted(`${st.keyword} is not part of vrrpd`)(st, undefined, ctx);
    } else throw new ConfigError('UNKNOWN_KEYWORD', st.file, st.line, st.keyword, 'unknown top-level keyword');
  }
  // Instances are built after all vrrp_script blocks: keepalived allows a script defined after its user.
  const instances = raw.map(({ st }) => buildInstance(st, global, scripts, ctx));
  const seen = new Map<string, InstanceConfig>();
  for (const i of instances) {
    const key = `${i.interface}/${i.vrid}`;
    const other = seen.get(key);
    if (other !== undefined && (other.unicastPeers.length === 0) === (i.unicastPeers.length === 0)) {
      throw new ConfigError('BAD_VALUE', i.file, i.line, 'virtual_router_id', `${i.vrid} on ${i.interface} already used by ${other.name}`);
    }
    seen.set(key, i);
  }
  return { global, scripts, instances, warnings: ctx.warnings };
}

function buildInstance(st: Statement, g: GlobalConfig, scripts: Map<string, TrackScriptConfig>, ctx: Ctx): InstanceConfig {
  const name = arg(st);
  const i: InstanceConfig = {
    name,
    file: st.file,
    line: st.line,
    initialState: 'BACKUP',
    interface: '',
    vrid: 0,
    priority: 100,
    advertIntervalCs: 100,
    version: g.vrrpVersion,
    preempt: true,
    preemptDelayMs: 0,
    authType: VRRP_AUTH_NONE,
    authPass: '',
    vips: [],
    vipsExcluded: [],
    unicastPeers: [],
    unicastTtl: 255,
    trackScripts: [],
    trackInterfaces: [],
    smtpAlert: false,
    garp: { ...g.garp },
    v3ChecksumAsV2: g.v3ChecksumAsV2,
    lowerPrioAdvert: true,
    dontTrackPrimary: false,
    skipCheckAdvAddr: g.skipCheckAdvAddr,
  };
  runBlock(st.block ?? [], INSTANCE, i, ctx, `vrrp_instance ${name}`);
  const missing = (kw: string): ConfigError => new ConfigError('MISSING', st.file, st.line, kw, `vrrp_instance ${name} has no ${kw}`);
  if (i.interface === '') throw missing('interface');
  if (i.vrid === 0) throw missing('virtual_router_id');
  if (i.version === 2 && i.advertIntervalCs % 100 !== 0) {
    ctx.warnings.push({ file: st.file, line: st.line, keyword: 'advert_int', message: `${name}: VRRPv2 advertises whole seconds; rounding` });
    i.advertIntervalCs = Math.max(100, Math.round(i.advertIntervalCs / 100) * 100);
  }
  if (i.version === 3 && i.authType !== VRRP_AUTH_NONE) {
    ctx.warnings.push({ file: st.file, line: st.line, keyword: 'authentication', message: `${name}: VRRPv3 has no authentication (RFC 5798 §9); ignoring` });
    i.authType = VRRP_AUTH_NONE;
  }
  if (i.authType === VRRP_AUTH_PASS && i.authPass === '') throw missing('auth_pass');
  if (i.authPass.length > 8) {
    ctx.warnings.push({ file: st.file, line: st.line, keyword: 'auth_pass', message: `${name}: truncated to 8 characters` });
    i.authPass = i.authPass.slice(0, 8);
  }
  if (i.priority === 255 && !i.preempt) i.preempt = true; // keepalived: nopreempt is incompatible with 255
  for (const r of i.trackScripts) {
    if (!scripts.has(r.name)) throw new ConfigError('MISSING', st.file, r.line, 'track_script', `vrrp_script ${r.name} is not defined`);
  }
  if (i.vips.length === 0) {
    ctx.warnings.push({ file: st.file, line: st.line, keyword: 'virtual_ipaddress', message: `${name}: no virtual addresses` });
  }
  return i;
}

export function loadConfig(file: string): VrrpConfig {
  return build(parseFile(file));
}

export function parseConfig(text: string, file = '<text>'): VrrpConfig {
  return build(parseText(text, file));
}
