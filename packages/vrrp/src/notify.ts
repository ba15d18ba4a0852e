// Notify scripts, called as keepalived calls them:
//   notify_master / notify_backup / notify_fault / notify_stop: the configured line, split into argv, no extras;
//   notify: <script> INSTANCE <name> <MASTER|BACKUP|FAULT|STOP> <priority>.
// Scripts run in the background (keepalived does not wait for them either); their exit is logged.

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

/** The argv lists to run when `cfg` enters `state` with `priority`. Pure. */
export function notifyCommands(cfg: InstanceConfig, state: VrrpState, priority: number): string[][] {
  const specific =
    state === 'MASTER' ? cfg.notifyMaster : state === 'BACKUP' ? cfg.notifyBackup : state === 'FAULT' ? cfg.notifyFault : state === 'STOP' ? cfg.notifyStop : undefined;
  const out: string[][] = [];
  if (specific !== undefined) out.push(splitCommand(specific));
  if (cfg.notify !== undefined && state !== 'INIT') {
    out.push([...splitCommand(cfg.notify), 'INSTANCE', cfg.name, state, String(priority)]);
  }
  return out.filter((a) => a.length > 0);
}
