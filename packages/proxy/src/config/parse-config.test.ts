import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigTexts } from './parse-config.ts';

const FIXTURES = join(import.meta.dirname, '../../../../test/proxy/fixtures');
const parse = (text: string) => parseConfigTexts([{ file: 'x.cfg', text }]);
const errorOf = (text: string): ConfigError => {
  try {
    parse(text);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
};

describe('parseConfig', () => {
  it('reads seed article 1: listen sections, defaults inheritance, servers', () => {
    const cfg = parseConfigTexts([{ file: 'a1.cfg', text: readFileSync(join(FIXTURES, 'haproxy-article1.cfg'), 'utf8') }]);
    expect(cfg.global.maxconn).toBe(4096);
    const [rmq, mon] = cfg.proxies;
    expect(rmq?.name).toBe('rabbitmq_cluster');
    expect(rmq?.binds).toEqual([{ host: '', port: 5671, file: 'a1.cfg', line: 23 }]);
    expect(rmq?.retries).toBe(3);
    expect(rmq?.maxconn).toBe(2000);
    expect(rmq?.timeouts).toMatchObject({ connect: 5000, client: 120_000, server: 120_000 });
    expect(rmq?.servers.map((s) => [s.name, s.host, s.port, s.check, s.inter, s.rise, s.fall, s.weight])).toEqual([
      ['rabbit1', 'rabbit1', 5672, true, 5000, 2, 3, 1],
      ['rabbit2', 'rabbit2', 5672, true, 5000, 2, 3, 1],
      ['rabbit3', 'rabbit3', 5672, true, 5000, 2, 3, 1],
    ]);
    expect(mon?.mode).toBe('http');
    expect(mon?.stats).toMatchObject({ enabled: true, uri: '/stats', refresh: 5000 });
    expect(cfg.warnings.map((w) => w.directive)).toEqual(expect.arrayContaining(['chroot', 'uid', 'gid']));
    expect(cfg.global.daemon).toBe(true);
    expect(cfg.global.logTargets).toEqual([{ kind: 'udp', host: '127.0.0.1', port: 514, facility: 16, level: 6, file: 'a1.cfg', line: 3 }]);
    expect(rmq?.logGlobal).toBe(true);
    expect(rmq?.options.tcplog).toBe(true);
  });

  it('reads seed article 0: legacy listen address, escaped realm, stats socket, frontends and backends', () => {
    const cfg = parseConfigTexts([{ file: 'a0.cfg', text: readFileSync(join(FIXTURES, 'haproxy-article0.cfg'), 'utf8') }]);
    const statics = cfg.proxies.find((p) => p.name === 'statics');
    expect(statics?.binds[0]).toMatchObject({ host: '0.0.0.0', port: 8888 });
    expect(statics?.stats).toMatchObject({ uri: '/', realm: 'Haproxy statistic', refresh: 60_000, auth: [{ user: 'laijingli', password: 'xxxxx' }] });
    const fe = cfg.proxies.find((p) => p.name === 'kevin_rabbitMQ_cluster_frontend');
    expect(fe?.defaultBackend).toBe('kevin_rabbitMQ_cluster_backend');
    expect(fe?.options.clitcpka).toBe(true);
    expect(fe?.options.redispatch).toBe(true);
    const be = cfg.proxies.find((p) => p.name === 'kevin_rabbitMQ_cluster_backend');
    expect(be?.servers[0]).toMatchObject({ host: '192.168.1.40', port: 5672, inter: 3000, rise: 1, fall: 2 });
    expect(be?.timeouts).toMatchObject({ queue: 60_000, check: 10_000 });
    expect(cfg.global.statsSockets[0]?.path).toBe('/var/lib/haproxy/stats');
    expect(cfg.warnings.some((w) => w.line === 29 && w.directive === 'listen')).toBe(true);
    expect(cfg.warnings.some((w) => w.directive === 'stats uri')).toBe(true);
  });

  it('a later defaults section resets what follows it', () => {
    const cfg = parse('defaults\n mode tcp\n retries 5\nbackend a\n server s 1.2.3.4:1\ndefaults\n timeout connect 1s\nbackend b\n server s 1.2.3.4:1\n');
    expect(cfg.proxies[0]?.retries).toBe(5);
    expect(cfg.proxies[1]?.retries).toBe(5); // defaults inherit from the previous defaults
    expect(cfg.proxies[1]?.timeouts.connect).toBe(1000);
    expect(cfg.proxies[0]?.timeouts.connect).toBeNull();
  });

  it('timeout 0 means no timeout; default-server applies to later servers', () => {
    const cfg = parse('listen l\n bind :1\n timeout client 0\n default-server inter 100 fall 5\n server a 1.1.1.1:1 check\n server b 1.1.1.1:2 check fall 1\n');
    const p = cfg.proxies[0];
    expect(p?.timeouts.client).toBeNull();
    expect(p?.servers.map((s) => [s.inter, s.fall])).toEqual([[100, 5], [100, 1]]);
  });

  it('reads server keywords beyond the seeds', () => {
    const cfg = parse('defaults\n option amqp-check\nlisten l\n bind 127.0.0.1:1\n balance first\n server a h:1 check fastinter 50 downinter 2s backup disabled maxconn 7 on-marked-down shutdown-sessions port 99\n');
    expect(cfg.proxies[0]?.servers[0]).toMatchObject({ fastinter: 50, downinter: 2000, backup: true, disabled: true, maxconn: 7, onMarkedDown: 'shutdown-sessions', checkPort: 99 });
  });

  it.each([
    ['unknown keyword', 'listen l\n bind :1\n frobnicate 3\n', 3, 'frobnicate', /unknown keyword 'frobnicate'/],
    ['bad timeout', 'defaults\n timeout client 10q\n', 2, 'timeout client', /expects a time value/],
    ['bad balance', 'backend b\n balance random-ish\n', 2, 'balance', /unsupported algorithm/],
    ['server without address', 'backend b\n server s\n', 2, 'server', /expects <name> and <address>/],
    ['bad server keyword', 'backend b\n server s 1.2.3.4:5 chek\n', 2, 'server', /unknown server keyword 'chek'/],
    ['bad weight', 'backend b\n server s 1.2.3.4:5 weight 300\n', 2, 'server', /'weight' expects an integer between 0 and 256/],
    ['bad port', 'listen l\n bind :99999\n', 2, 'bind', /out of range/],
    ['missing backend', 'frontend f\n bind :1\n default_backend nope\n', 3, 'use_backend', /unable to find backend 'nope'/],
    ['no bind', 'frontend f\n default_backend b\nbackend b\n', 1, 'frontend', /has no 'bind'/],
    ['keyword in the wrong section', 'frontend f\n bind :1\n server s 1.2.3.4:5\n', 3, 'server', /not allowed in a 'frontend' section/],
    ['keyword out of section', 'bind :1\n', 1, 'bind', /out of section/],
    ['duplicate proxy', 'backend b\nbackend b\n', 2, 'backend', /same name/],
    ['bad option', 'defaults\n option tcpkaa\n', 2, 'option tcpkaa', /unknown option/],
    ['unterminated quote', 'defaults\n stats realm "abc\n', 2, '', /unmatched quote/],
    ['unsupported ACL', 'frontend f\n bind :1\n use_backend b if is_amqp\nbackend b\n', 3, 'use_backend', /ACL conditions are not supported/],
  ])('%s is an error naming file, line and directive', (_name, text, line, directive, re) => {
    const e = errorOf(text);
    const m = e.errors[0];
    expect(m).toMatchObject({ file: 'x.cfg', line, directive });
    expect(m?.message).toMatch(re);
    expect(e.message).toContain(`[x.cfg:${line}]`);
  });

  it('reports every error, not only the first', () => {
    const e = errorOf('defaults\n retries x\n timeout server y\n');
    expect(e.errors.map((m) => m.line)).toEqual([2, 3]);
  });
});
