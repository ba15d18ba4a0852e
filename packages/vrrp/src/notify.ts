// Notify scripts, called as keepalived calls them:
//   notify_master / notify_backup / notify_fault / notify_stop: the configured line, split into argv, no extras;
//   notify: <script> INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>.
// Scripts run in the background (keepalived does not wait for them either); their exit is logged.

import type { NotifyKey } from './config-check.ts';
import type { InstanceConfig } from './config.ts';
import { launch, splitCommand } from './exec.ts';
import type { VrrpState } from './machine.ts';

export interface NotifyOps {
  run(argv: string[], onExit: (code: number | null, err?: Error) => void): void;
}

export const SPAWN_NOTIFY: NotifyOps = {
  run(argv, onExit) {
    launch(argv[0]!, argv.slice(1), onExit);
  },
};

/**
 * The argv lists to run when `cfg` enters `state` with `priority`. Pure. `disabled`: the notify settings whose
 * program was missing or unsafe at start (config-check.ts); keepalived drops them once, with one log line,
 * instead of failing at every transition.
 */
export function notifyCommands(
  cfg: InstanceConfig,
  state: VrrpState,
  priority: number,
  disabled: ReadonlySet<NotifyKey> = new Set(),
): string[][] {
  const key: NotifyKey | undefined =
    state === 'MASTER' ? 'notifyMaster' : state === 'BACKUP' ? 'notifyBackup' : state === 'FAULT' ? 'notifyFault' : state === 'STOP' ? 'notifyStop' : undefined;
  const specific = key === undefined || disabled.has(key) ? undefined : cfg[key];
  const out: string[][] = [];
  if (specific !== undefined) out.push(splitCommand(specific));
  if (cfg.notify !== undefined && state !== 'INIT' && !disabled.has('notify')) {
    out.push([...splitCommand(cfg.notify), 'INSTANCE', cfg.name, state, String(priority)]);
  }
  return out.filter((a) => a.length > 0);
}
