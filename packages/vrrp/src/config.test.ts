import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from './config.ts';

const fixture = (name: string): string => new URL(`../../../test/vrrp/fixtures/${name}`, import.meta.url).pathname;

describe('seed configs load unchanged', () => {
  it('article0 haproxy01: two unicast instances, scripts, notify, smtp_alert warning', () => {
    const c = loadConfig(fixture('keepalived-article0-haproxy01.conf'));
    expect(c.global.routerId).toBe('haproxy43');
    expect(c.instances.map((i) => i.name)).toEqual(['KEVIN_GATEWAY', 'kevin_rabbitMQ_GATEWAY']);
    const [a, b] = c.instances;
    expect(a).toMatchObject({
      initialState: 'MASTER',
      interface: 'em1',
      vrid: 101,
      priority: 200,
      advertIntervalCs: 100,
      version: 2,
      authType: 1,
      authPass: '123456',
      unicastSrcIp: '192.168.1.43',
      unicastPeers: ['192.168.1.44'],
      vips: [{ address: '192.168.1.45', prefix: 32 }],
      notifyMaster: '/usr/local/bin/keepalived_notify.sh notify_master',
      notify: '/usr/local/bin/keepalived_notify.sh',
      smtpAlert: true,
    });
    expect(a!.trackScripts.map((t) => t.name)).toEqual(['chk_nginx']);
    expect(b).toMatchObject({ initialState: 'BACKUP', vrid: 111, priority: 199 });
    expect(c.scripts.get('chk_haproxy')).toMatchObject({
      script: 'killall -0 haproxy',
      intervalMs: 1000,
      weight: 2,
      fall: 2,
      rise: 1,
    });
    expect(c.warnings.map((w) => w.keyword)).toContain('smtp_alert');
    expect(c.warnings.map((w) => w.keyword)).toContain('notification_email');
  });

  it.each([
    ['keepalived-article1-master.conf', 'MASTER', 100, '172.16.2.200', 32],
    ['keepalived-article1-backup.conf', 'BACKUP', 50, '172.16.2.200', 32],
    ['keepalived-article3-master.conf', 'MASTER', 100, '192.168.8.100', 24],
  ])('%s', (file, state, priority, vip, prefix) => {
    const c = loadConfig(fixture(file));
    expect(c.instances).toHaveLength(1);
    expect(c.instances[0]).toMatchObject({ initialState: state, priority, vips: [{ address: vip, prefix }] });
  });
});

describe('malformed configs name file, line and keyword', () => {
  const cases: [string, string, number, string][] = [
    ['unknown keyword', 'vrrp_instance X {\n  interface eth0\n  virtual_router_id 1\n  prioritty 5\n}\n', 4, 'prioritty'],
    ['bad priority', 'vrrp_instance X {\n  interface eth0\n  priority abc\n}\n', 3, 'priority'],
    ['vrid out of range', 'vrrp_instance X {\n interface eth0\n virtual_router_id 300\n}\n', 3, 'virtual_router_id'],
    ['unclosed block', 'global_defs {\n router_id a\n', 1, '{'],
    ['stray brace', 'global_defs {\n}\n}\n', 3, '}'],
    ['missing interface', 'vrrp_instance X {\n virtual_router_id 3\n}\n', 1, 'interface'],
    ['undefined track script', 'vrrp_instance X {\n interface e\n virtual_router_id 3\n track_script {\n  nope\n }\n}\n', 5, 'track_script'],
    ['bad VIP', 'vrrp_instance X {\n interface e\n virtual_router_id 3\n virtual_ipaddress {\n  10.0.0.300\n }\n}\n', 5, '10.0.0.300'],
    ['bad auth_type', 'vrrp_instance X {\n interface e\n virtual_router_id 3\n authentication {\n auth_type FOO\n }\n}\n', 5, 'auth_type'],
  ];
  it.each(cases)('%s', (_n, text, line, keyword) => {
    let err: unknown;
    try {
      parseConfig(text, '/etc/keepalived/k.conf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const ce = err as ConfigError;
    expect([ce.file, ce.line, ce.keyword]).toEqual(['/etc/keepalived/k.conf', line, keyword]);
    expect(ce.message).toContain(`/etc/keepalived/k.conf:${line}: ${keyword}:`);
  });
});

describe('keepalived syntax details', () => {
  it('braces on the same line, quoted args, comments, v3 centisecond advert_int, garp settings, include', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vrrp-conf-'));
    writeFileSync(join(dir, 'scripts.conf'), 'vrrp_script chk { script "/bin/true  x" # comment\n interval 0.5 weight -20 }\n');
    writeFileSync(
      join(dir, 'main.conf'),
      [
        'global_defs { router_id r1 ! comment',
        '  vrrp_version 3 vrrp_garp_master_repeat 2 }',
        'include scripts.conf',
        'vrrp_instance V { interface veth0',
        '  virtual_router_id 9',
        '  advert_int 0.1',
        '  garp_master_delay 1',
        '  track_script { chk weight -30 }',
        '  track_interface { eth1 weight -10',
        '  eth2 }',
        '  virtual_ipaddress { 10.1.1.1/24 dev veth0 label veth0:1 }',
        '}',
      ].join('\n'),
    );
    const c = loadConfig(join(dir, 'main.conf'));
    // Everything after the first word on a line is that statement's arguments, as keepalived reads it.
    expect(c.global).toMatchObject({ routerId: 'r1', vrrpVersion: 3 });
    expect(c.scripts.get('chk')).toMatchObject({ script: '/bin/true  x', intervalMs: 500, weight: 0 });
    expect(c.instances[0]).toMatchObject({ interface: 'veth0', advertIntervalCs: 10, version: 3 });
    expect(c.instances[0]!.trackInterfaces.map((t) => [t.name, t.weight])).toEqual([
      ['eth1', -10],
      ['eth2', undefined],
    ]);
  });

  it('one statement per line', () => {
    const c = parseConfig(
      [
        'global_defs {',
        '  vrrp_version 3',
        '  vrrp_garp_master_repeat 2',
        '}',
        'vrrp_script chk {',
        '  script "/bin/true"',
        '  interval 0.5',
        '  weight -20 reverse',
        '}',
        'vrrp_instance V {',
        '  interface veth0',
        '  virtual_router_id 9',
        '  advert_int 0.1',
        '  garp_master_delay 1',
        '  track_script {',
        '    chk weight -30',
        '  }',
        '  track_interface {',
        '    eth1 weight -10',
        '    eth2',
        '  }',
        '  virtual_ipaddress {',
        '    10.1.1.1/24 dev veth0 label veth0:1',
        '  }',
        '  nopreempt',
        '  preempt_delay 3',
        '}',
      ].join('\n'),
    );
    const i = c.instances[0]!;
    expect(i).toMatchObject({
      version: 3,
      advertIntervalCs: 10,
      preempt: false,
      preemptDelayMs: 3000,
      garp: { delayMs: 1000, repeat: 2, refreshMs: 0, refreshRepeat: 1 },
      vips: [{ address: '10.1.1.1', prefix: 24, dev: 'veth0', label: 'veth0:1' }],
    });
    expect(i.trackScripts).toEqual([{ name: 'chk', weight: -30, line: 16 }]);
    expect(i.trackInterfaces.map((t) => [t.name, t.weight])).toEqual([
      ['eth1', -10],
      ['eth2', undefined],
    ]);
    expect(c.scripts.get('chk')).toMatchObject({ weight: -20, weightReverse: true, timeoutMs: 500 });
  });

  it('v2 rounds sub-second advert_int with a warning', () => {
    const c = parseConfig('vrrp_instance V {\n interface e\n virtual_router_id 1\n advert_int 0.5\n}\n');
    expect(c.instances[0]!.advertIntervalCs).toBe(100);
    expect(c.warnings.some((w) => w.keyword === 'advert_int')).toBe(true);
  });
});
