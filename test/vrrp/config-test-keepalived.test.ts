// `vrrpd -t` against `keepalived -t` (2.2.7) on the same files in the same network namespace: the same exit code
// (0 OK, 5 configuration error, 6 security violation) and the same problems reported, for the seed configs
// unchanged (without and with their interfaces) and for a missing interface, a missing script file, scripts
// without enable_script_security and a missing notify script. The namespaces have interfaces but no addresses.
// Skipped (with a note) when not root, without `ip netns`, or without keepalived.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepalivedUnavailable, labUnavailable, REPO, sh, TEST_MS } from './lab.ts';

const why = labUnavailable() ?? keepalivedUnavailable();
if (why !== undefined) console.warn(`[vrrp] skipping vrrpd -t vs keepalived -t: ${why}`);

const WRAPPER = join(REPO, 'packages/vrrp/bin/vrrpd');
const FIXTURES = join(REPO, 'test/vrrp/fixtures');
const BARE = `vcb${process.pid}`; // only lo
const WIRED = `vcw${process.pid}`; // em1, ens33, eth0 (the seeds' interfaces)

interface Verdict {
  code: number | null;
  problems: string[];
}

// The problems both report, without where they say it (keepalived "(file: Line N) ", vrrpd "vrrpd: file:N: ").
const PROBLEM = /(WARNING - interface \S+ for vrrp_instance \S+ doesn't exist|\(\S+\) tracked interface \S+ doesn't exist|Non-existent interface specified in configuration|Disabling track script \S+ (?:since not found\/accessible|due to insecure)|SECURITY VIOLATION - scripts are being executed but script_security not enabled\.(?: There are insecure scripts\.)?)/g;

function run(ns: string, cmd: string[]): Verdict {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', cwd: tmpdir(), timeout: 60_000 });
  return { code: r.status, problems: [...`${r.stdout}\n${r.stderr}`.matchAll(PROBLEM)].map((m) => m[1]!).sort() };
}
const keepalived = (ns: string, file: string): Verdict => run(ns, ['keepalived', '-t', '-l', '-n', '-f', file]);
const vrrpd = (ns: string, file: string): Verdict => run(ns, [WRAPPER, '-t', '-f', file]);

describe.skipIf(why !== undefined)('vrrpd -t agrees with keepalived -t', { timeout: TEST_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vrrpd-cfgtest-'));
  const ok = join(dir, 'ok.sh');
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const conf = (globals: string, scripts: string, instanceExtra: string): string => `global_defs {
${globals}}
${scripts}
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.1.1.1
    }
${instanceExtra}}
`;
  const SECURE = '    enable_script_security\n    script_user root\n';

  beforeAll(() => {
    sh('ip', ['netns', 'add', BARE]);
    sh('ip', ['netns', 'add', WIRED]);
    sh('ip', ['-n', WIRED, 'link', 'add', 'em1', 'type', 'veth', 'peer', 'name', 'ens33']);
    sh('ip', ['-n', WIRED, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    writeFileSync(ok, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  });
  afterAll(() => {
    spawnSync('ip', ['netns', 'del', BARE]);
    spawnSync('ip', ['netns', 'del', WIRED]);
    rmSync(dir, { recursive: true, force: true });
  });

  const seeds = readdirSync(FIXTURES).filter((f) => f.endsWith('.conf'));
  it.each(seeds)('seed %s unchanged, without and with its interfaces', (f) => {
    for (const ns of [BARE, WIRED]) {
      const k = keepalived(ns, join(FIXTURES, f));
      const v = vrrpd(ns, join(FIXTURES, f));
      expect(v, `${f} in ${ns === BARE ? 'a namespace without its interfaces' : 'a namespace with them'}`).toEqual(k);
    }
  });

  const cases: [string, string][] = [
    ['a missing interface', conf('', '', '    track_interface {\n        nope9\n    }\n').replace('interface eth0', 'interface nope0')],
    ['a missing track script (weight 0)', conf(SECURE, 'vrrp_script chk {\n    script /nonexistent/chk.sh\n}', '    track_script {\n        chk\n    }\n')],
    ['a missing track script (weight 10)', conf(SECURE, 'vrrp_script chk {\n    script /nonexistent/chk.sh\n    weight 10\n}', '    track_script {\n        chk\n    }\n')],
    ['a script without enable_script_security', conf('', `vrrp_script chk {\n    script ${ok}\n    weight 2\n}`, '    track_script {\n        chk\n    }\n')],
    ['a bare command name found in PATH, without enable_script_security', conf('', 'vrrp_script chk {\n    script "true"\n}', '    track_script {\n        chk\n    }\n')],
    ['scripts with enable_script_security', conf(SECURE, `vrrp_script chk {\n    script ${ok}\n}`, `    track_script {\n        chk\n    }\n    notify_master "${ok} master"\n`)],
    ['a missing notify script', conf('', '', '    notify_master "/nonexistent/notify.sh master"\n')],
    ['an existing notify script without enable_script_security', conf('', '', `    notify_master "${ok} master"\n`)],
  ];
  it.each(cases)('%s', (name, text) => {
    const file = write(`${name.replace(/\W+/g, '-')}.conf`, text);
    const k = keepalived(WIRED, file);
    expect(k.code, `keepalived -t on ${name}`).not.toBeNull();
    expect(vrrpd(WIRED, file)).toEqual(k);
  });

  it('the verdicts are the ones the issue names: non-zero for a missing interface, a missing script, scripts without enable_script_security', () => {
    expect(vrrpd(WIRED, write('a.conf', cases[0]![1])).code).toBe(5);
    expect(vrrpd(WIRED, write('b.conf', cases[1]![1])).code).toBe(5);
    expect(vrrpd(WIRED, write('c.conf', cases[3]![1])).code).toBe(6);
    expect(vrrpd(WIRED, write('d.conf', cases[5]![1])).code).toBe(0);
  });
});
