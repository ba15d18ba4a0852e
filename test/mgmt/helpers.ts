// Shared set-up for the management tests: an embedded broker with the management plugin on ephemeral loopback
// ports, an HTTP client with basic auth, Debian's rabbitmqadmin, and AMQP clients.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { AMQPClient } from '@cloudamqp/amqp-client';
import { startBroker, type RunningBroker } from '../../packages/broker/src/index.ts';
import { startManagement, type ManagementOptions, type RunningManagement } from '../../packages/broker/src/mgmt/index.ts';

export interface Env {
  b: RunningBroker;
  m: RunningManagement;
  base: string;
  close(): Promise<void>;
}

export async function startEnv(opts: Partial<ManagementOptions> = {}): Promise<Env> {
  const b = await startBroker({ port: 0 });
  const m = await startManagement(b.broker, { port: 0, sampleIntervalMs: 200, ...opts });
  return {
    b,
    m,
    base: `http://127.0.0.1:${m.port}`,
    close: async () => {
      await m.close();
      await b.close();
    },
  };
}

export interface HttpReply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function http(env: Env, method: string, path: string, body?: unknown, auth: [string, string] | null = ['guest', 'guest'], headers: Record<string, string> = {}): Promise<HttpReply> {
  const h: Record<string, string> = { ...headers };
  if (auth) h['authorization'] = `Basic ${Buffer.from(`${auth[0]}:${auth[1]}`).toString('base64')}`;
  let payload: string | undefined;
  if (body !== undefined) {
    h['content-type'] ??= 'application/json';
    payload = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch(env.base + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, headers: r.headers, text, json };
}

/** Debian's rabbitmqadmin (package rabbitmq-server): $RABBITMQADMIN, the plugin's copy, or /usr/bin/rabbitmqadmin. */
export function findRabbitmqadmin(): string | null {
  const fromEnv = process.env['RABBITMQADMIN'];
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : null;
  const root = '/usr/lib/rabbitmq/lib';
  if (existsSync(root)) {
    for (const server of readdirSync(root).filter((d) => d.startsWith('rabbitmq_server-')).sort().reverse()) {
      const plugins = `${root}/${server}/plugins`;
      if (!existsSync(plugins)) continue;
      for (const p of readdirSync(plugins).filter((d) => d.startsWith('rabbitmq_management-') && !d.endsWith('.ez'))) {
        const f = `${plugins}/${p}/priv/www/cli/rabbitmqadmin`;
        if (existsSync(f)) return f;
      }
    }
  }
  return existsSync('/usr/bin/rabbitmqadmin') ? '/usr/bin/rabbitmqadmin' : null;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function rabbitmqadmin(script: string, env: Env, args: string[], input?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile('python3', [script, '-H', '127.0.0.1', '-P', String(env.m.port), '-u', 'guest', '-p', 'guest', ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });
}

export async function amqp(env: Env, user = 'guest', pass = 'guest', vhost = '/'): Promise<{ client: AMQPClient; conn: Awaited<ReturnType<AMQPClient['connect']>> }> {
  const client = new AMQPClient(`amqp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@127.0.0.1:${env.b.port}/${encodeURIComponent(vhost)}`);
  const conn = await client.connect();
  return { client, conn };
}

export async function until<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}
