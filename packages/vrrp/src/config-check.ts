// What keepalived checks about a configuration against the running system, after parsing it (`keepalived -t`
// and every start): the interfaces exist, the scripts exist, are executable and safe, and scripts are not run
// without `enable_script_security`. The same report drives `vrrpd -t` (its lines and exit code) and the daemon
// (lines logged once at start, disabled scripts left out).
//
// keepalived 2.2.7 -t exit codes (lib/scheduler.h KEEPALIVED_CHK_EXIT_*): 0 OK, 4 configuration file not found,
// 5 configuration error, 6 security violation (the highest problem wins).

import { existsSync } from 'node:fs';
import type { InstanceConfig, VrrpConfig } from './config.ts';
import { checkScript, type ScriptCheck } from './script-check.ts';

export const CHK_EXIT_OK = 0;
export const CHK_EXIT_CONFIG = 4;
export const CHK_EXIT_CONFIG_TEST = 5;
export const CHK_EXIT_CONFIG_TEST_SECURITY = 6;

export type NotifyKey = 'notifyMaster' | 'notifyBackup' | 'notifyFault' | 'notifyStop' | 'notify';
const NOTIFY_KEYS: readonly NotifyKey[] = ['notifyBackup', 'notifyMaster', 'notifyFault', 'notifyStop', 'notify'];

export interface CheckLine {
  /** `file:line` when the problem belongs to a line of the configuration. */
  where?: string;
  text: string;
  /** Shown by -t (keepalived's report_config_error); the others only go to the daemon's log. */
  config: boolean;
}

export interface CheckReport {
  lines: CheckLine[];
  exitCode: number;
  /** vrrp_script names that are disabled (missing, not executable, unsafe under enable_script_security). */
  disabledScripts: Set<string>;
  /** Per instance, the notify settings dropped because their program is missing, not executable or unsafe. */
  disabledNotify: Map<string, Set<NotifyKey>>;
  /** Instances whose interface (or a tracked interface) does not exist. */
  missingInterfaces: Set<string>;
}

export interface CheckEnv {
  interfaceExists: (name: string) => boolean;
  checkScript: (line: string) => ScriptCheck;
}

export const SYSTEM_ENV: CheckEnv = {
  interfaceExists: (name) => existsSync(`/sys/class/net/${name}`),
  checkScript: (line) => checkScript(line, process.getuid?.() === 0),
};

export function checkConfig(cfg: VrrpConfig, env: CheckEnv = SYSTEM_ENV): CheckReport {
  const r: CheckReport = {
    lines: [],
    exitCode: CHK_EXIT_OK,
    disabledScripts: new Set(),
    disabledNotify: new Map(),
    missingInterfaces: new Set(),
  };
  const fail = (code: number): void => void (r.exitCode = Math.max(r.exitCode, code));
  const at = (i: InstanceConfig | { file: string; line: number }): string => `${i.file}:${i.line}`;

  // vrrp_parser.c / vrrp.c: a missing interface removes the instance ("Non-existent interface specified").
  const live: InstanceConfig[] = [];
  for (const i of cfg.instances) {
    let ok = true;
    if (!env.interfaceExists(i.interface)) {
      r.lines.push({ where: at(i), text: `WARNING - interface ${i.interface} for vrrp_instance ${i.name} doesn't exist`, config: true });
      ok = false;
    }
    for (const t of i.trackInterfaces) {
      if (!env.interfaceExists(t.name)) {
        r.lines.push({ where: `${i.file}:${t.line}`, text: `(${i.name}) tracked interface ${t.name} doesn't exist`, config: true });
        ok = false;
      }
    }
    if (ok) live.push(i);
    else r.missingInterfaces.add(i.name);
  }
  if (r.missingInterfaces.size > 0) {
    r.lines.push({ text: 'Non-existent interface specified in configuration', config: true });
    fail(CHK_EXIT_CONFIG_TEST);
  }
  // vrrp.c check_vrrp_script_security: nothing to check without a usable instance.
  if (live.length === 0) return r;

  const security = cfg.global.scriptSecurity;
  let runsScripts = false;
  let insecure = false;
  for (const s of cfg.scripts.values()) {
    const c = env.checkScript(s.script);
    if (c.problem === undefined) {
      runsScripts = true;
      continue;
    }
    if (c.message !== undefined) r.lines.push({ text: c.message, config: false });
    if (c.problem === 'unsafe') {
      insecure = true;
      runsScripts = true;
      if (!security) continue;
      r.lines.push({ where: at(s), text: `Disabling track script ${s.name} due to insecure`, config: true });
    } else {
      r.lines.push({ where: at(s), text: `Disabling track script ${s.name} since not found/accessible`, config: true });
    }
    r.disabledScripts.add(s.name);
    fail(CHK_EXIT_CONFIG_TEST);
  }
  for (const i of live) {
    for (const k of NOTIFY_KEYS) {
      const line = i[k];
      if (line === undefined) continue;
      const c = env.checkScript(line);
      if (c.problem === undefined || (c.problem === 'unsafe' && !security)) {
        runsScripts = true;
        insecure ||= c.problem === 'unsafe';
        continue;
      }
      // keepalived drops such a notify script at start, with its log line only (-t does not report it).
      if (c.message !== undefined) r.lines.push({ text: `(${i.name}) ${c.message}`, config: false });
      const set = r.disabledNotify.get(i.name) ?? new Set<NotifyKey>();
      set.add(k);
      r.disabledNotify.set(i.name, set);
    }
  }
  if (runsScripts && !security) {
    r.lines.push({
      text: `SECURITY VIOLATION - scripts are being executed but script_security not enabled.${insecure ? ' There are insecure scripts.' : ''}`,
      config: true,
    });
    fail(CHK_EXIT_CONFIG_TEST_SECURITY);
  }
  return r;
}

/** A report line as vrrpd prints it: `file:line: text`, or the text alone. */
export function formatCheckLine(l: CheckLine): string {
  return l.where === undefined ? l.text : `${l.where}: ${l.text}`;
}
