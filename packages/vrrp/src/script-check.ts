// keepalived's start-up check of track and notify scripts (lib/notify.c, check_script_secure; vrrp.c,
// check_vrrp_script_security), done once when a configuration is loaded, by `vrrpd -t` and by the daemon:
//  - the program must exist (a bare name is looked up in PATH) and be executable, else the script is disabled
//    ("Disabling track script X since not found/accessible"; a notify script is dropped with its log line);
//  - when vrrpd runs as root, every part of the path must be root's and not writable by others (sticky
//    directories excepted), else it is unsafe: disabled with `enable_script_security`, only reported without;
//  - a configuration that runs scripts without `enable_script_security` is a security violation
//    (keepalived -t exits 6; the daemon logs it and runs them).
// A disabled track script no longer counts for any instance: the instance elects as if it were not tracked.

import { accessSync, constants, lstatSync, realpathSync, type Stats } from 'node:fs';
import { delimiter, join } from 'node:path';
import { splitCommand } from './exec.ts';

export type ScriptProblemKind = 'not_found' | 'not_executable' | 'unsafe';

export interface ScriptCheck {
  /** Resolved program path, when found. */
  path?: string;
  problem?: ScriptProblemKind;
  /** keepalived's log line for the problem. */
  message?: string;
}

const isExecFile = (p: string): boolean => {
  try {
    accessSync(p, constants.X_OK);
    return lstatSync(p).isFile() || lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
};

/** Unsafe: not root's, or writable by a non-root group or by others (directories with the sticky bit excepted). */
function unsafe(st: Stats): boolean {
  if (st.uid !== 0) return true;
  const stickyDir = st.isDirectory() && (st.mode & 0o1000) !== 0;
  if (stickyDir || !(st.isDirectory() || st.isFile())) return false;
  return (st.gid !== 0 && (st.mode & 0o020) !== 0) || (st.mode & 0o002) !== 0;
}

/** Check the program a script line runs. `asRoot`: also check the path's permissions (keepalived does as root). */
export function checkScript(line: string, asRoot: boolean, path = process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'): ScriptCheck {
  const prog = splitCommand(line)[0] ?? '';
  let file = prog;
  if (!prog.includes('/')) {
    const hit = path.split(delimiter).map((d) => join(d || '.', prog)).find(isExecFile);
    if (hit === undefined) return { problem: 'not_found', message: `Cannot find script ${prog} in path - disabling` };
    file = hit;
  }
  let real: string;
  try {
    real = realpathSync(file);
  } catch (e) {
    const err = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'No such file or directory' : (e as Error).message;
    return { problem: 'not_found', message: `Script ${file} cannot be accessed - ${err}` };
  }
  if (!isExecFile(real)) {
    return { path: file, problem: 'not_executable', message: `WARNING - script '${file}' is not executable for uid:gid ${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0} - disabling.` };
  }
  if (asRoot) {
    for (const f of new Set([file, real])) {
      const parts = f.split('/').filter((p) => p !== '');
      for (let i = 0; i <= parts.length; i++) {
        const p = `/${parts.slice(0, i).join('/')}`;
        let st: Stats;
        try {
          st = lstatSync(p);
        } catch {
          return { path: file, problem: 'not_found', message: `check_script_secure could not find script '${f}' - disabling` };
        }
        if (unsafe(st)) return { path: file, problem: 'unsafe', message: `Unsafe permissions found for script '${f}'` };
      }
    }
  }
  return { path: file };
}
