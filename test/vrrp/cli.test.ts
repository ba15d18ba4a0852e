// vrrpd -t on the seed configs (unchanged) and on broken ones; the sh wrapper in packages/vrrp/bin.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './lab.ts';

const WRAPPER = join(REPO, 'packages/vrrp/bin/vrrpd');
const FIXTURES = join(REPO, 'test/vrrp/fixtures');
const vrrpd = (...args: string[]) => spawnSync(WRAPPER, args, { encoding: 'utf8', cwd: tmpdir(), timeout: 30_000 });

describe('vrrpd -t', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vrrpd-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // The seeds parse unchanged. Whether -t then passes depends on this host, as with keepalived -t: their
  // interfaces (em1, ens33) and scripts may be missing, and they run scripts without enable_script_security.
  // test/vrrp/config-test-keepalived.test.ts compares the verdicts with keepalived's in namespaces.
  it.each(readdirSync(FIXTURES).filter((f) => f.endsWith('.conf')))('parses the seed config %s unchanged', (f) => {
    const r = vrrpd('-t', '-f', join(FIXTURES, f));
    const checks = /^vrrpd: (warning: .*|.*: WARNING - interface \S+ for vrrp_instance \S+ doesn't exist|Non-existent interface specified in configuration|.*: Disabling track script \S+ since not found\/accessible|SECURITY VIOLATION - scripts are being executed but script_security not enabled\.)\n/gm;
    expect(r.stderr.replace(checks, '')).toBe('');
    expect([0, 5, 6]).toContain(r.status);
    expect(r.stdout).toMatch(r.status === 0 ? /configuration OK/ : /configuration parsed .*, but not usable as it is on this system/);
  });

  it('warns about smtp_alert and the e-mail settings', () => {
    const r = vrrpd('-t', '-f', join(FIXTURES, 'keepalived-article0-haproxy01.conf'));
    expect(r.stderr).toMatch(/keepalived-article0-haproxy01\.conf:48: smtp_alert: accepted but ignored/);
  });

  it('rejects a malformed config naming file, line and keyword', () => {
    const bad = join(dir, 'bad.conf');
    writeFileSync(bad, 'vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority high\n}\n');
    const r = vrrpd('-t', '-f', bad);
    expect(r.status).toBe(5); // keepalived -t: KEEPALIVED_CHK_EXIT_CONFIG_TEST
    expect(r.stderr).toContain(`${bad}:4: priority: 'high' is not an integer in 1..255`);
  });

  it('reports a missing file and unknown options', () => {
    expect(vrrpd('-t', '-f', join(dir, 'nope.conf')).status).toBe(4); // KEEPALIVED_CHK_EXIT_CONFIG
    const r = vrrpd('--bogus');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Usage: vrrpd/);
  });
});
