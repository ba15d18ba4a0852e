// `--help` of the proxy and vrrpd binaries: on stdout, exit 0, every option the command line accepts described; and
// without -f both read the originals' default configuration file.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/broker-process.ts';

const PROXY = join(REPO, 'packages/proxy/bin/proxy');
const VRRPD = join(REPO, 'packages/vrrp/bin/vrrpd');

function run(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

describe('proxy', () => {
  it('--help and -h print every option and signal on stdout and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run(PROXY, [flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: proxy /);
      for (const opt of ['-f <cfgfile>', '-c ', '-p <pidfile>', '-q ', '-db ', '-V ', '-D ', '-v, -vv', '-h, --help']) {
        expect(r.stdout).toContain(`\n  ${opt}`);
      }
      for (const sig of ['SIGHUP', 'SIGTERM', 'SIGUSR1', 'SIGINT']) expect(r.stdout).toContain(sig);
      expect(r.stdout).toContain('/etc/haproxy/haproxy.cfg');
    }
  });

  it('an unknown option is refused on stderr with exit 1, pointing at --help', async () => {
    const r = await run(PROXY, ['--bogus']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("unknown option '--bogus'");
    expect(r.stderr).toContain('proxy --help');
  });

  it('without -f reads /etc/haproxy/haproxy.cfg, as haproxy packages do', async () => {
    const r = await run(PROXY, ['-c']);
    if (existsSync('/etc/haproxy/haproxy.cfg')) {
      // this host's file: valid or not, it is the one read (warnings and errors name it)
      expect(r.stdout === 'Configuration file is valid\n' || r.stderr.includes('/etc/haproxy/haproxy.cfg')).toBe(true);
    } else {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('/etc/haproxy/haproxy.cfg');
    }
  });
});

describe('vrrpd', () => {
  it('--help and -h print every option and signal on stdout and exit 0', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run(VRRPD, [flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: vrrpd /);
      for (const opt of ['-f, --use-file', '-t, --config-test', '-l, --log-console', '-D, --log-detail', '-g, --log-file', '-s, --status-socket', '--status-port', '-p, --pid', '-r, --vrrp_pid', '-n, --dont-fork', '-P, --vrrp', '-h, --help']) {
        expect(r.stdout).toContain(opt);
      }
      for (const sig of ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR1']) expect(r.stdout).toContain(sig);
      expect(r.stdout).toContain('/etc/keepalived/keepalived.conf');
    }
  });

  it('without -f reads /etc/keepalived/keepalived.conf, as keepalived does', async () => {
    const r = await run(VRRPD, ['-t']);
    if (!existsSync('/etc/keepalived/keepalived.conf')) {
      // keepalived -t's code for a configuration file that cannot be read
      expect(r.code).toBe(4);
      expect(r.stderr).toContain('/etc/keepalived/keepalived.conf');
    } else {
      expect(r.stdout + r.stderr).toContain('/etc/keepalived/keepalived.conf');
    }
  });
});
