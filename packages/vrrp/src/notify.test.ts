import { describe, expect, it } from 'vitest';
import { parseConfig } from './config.ts';
import { splitCommand } from './exec.ts';
import { shQuote } from './helper.ts';
import { notifyCommands } from './notify.ts';

describe('notify scripts get keepalived arguments', () => {
  const cfg = parseConfig(`vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 1
    priority 90
    notify_master "/usr/local/bin/keepalived_notify.sh notify_master"
    notify_fault "/bin/echo 'two words'"
    notify /usr/local/bin/keepalived_notify.sh
}`).instances[0]!;

  it('MASTER: notify_master as written, then notify INSTANCE name state priority', () => {
    expect(notifyCommands(cfg, 'MASTER', 90)).toEqual([
      ['/usr/local/bin/keepalived_notify.sh', 'notify_master'],
      ['/usr/local/bin/keepalived_notify.sh', 'INSTANCE', 'VI_1', 'MASTER', '90'],
    ]);
  });
  it('BACKUP without notify_backup: only notify', () => {
    expect(notifyCommands(cfg, 'BACKUP', 90)).toEqual([['/usr/local/bin/keepalived_notify.sh', 'INSTANCE', 'VI_1', 'BACKUP', '90']]);
  });
  it('quotes group words', () => {
    expect(notifyCommands(cfg, 'FAULT', 90)[0]).toEqual(['/bin/echo', 'two words']);
    expect(splitCommand(`a "b c" 'd e' f""`)).toEqual(['a', 'b c', 'd e', 'f']);
    expect(splitCommand(`x ""`)).toEqual(['x', '']);
  });
  it('helper shell quoting is safe', () => {
    expect(shQuote('10.0.0.1/24')).toBe('10.0.0.1/24');
    expect(shQuote("a'b; rm -rf /")).toBe(`'a'\\''b; rm -rf /'`);
  });
});
