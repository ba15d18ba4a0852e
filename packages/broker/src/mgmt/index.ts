// The management plugin: RabbitMQ's HTTP API under /api, a one-page web UI at /, and Prometheus metrics at
// /metrics, on one node:http server (RabbitMQ: port 15672, loopback here unless told otherwise).
//
//   const mgmt = await startManagement(broker, { port: 15672 });   // port 0 picks a free port
//   ...
//   await mgmt.close();
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Broker } from '../server/broker.ts';
import { isLoopback } from '../server/connection.ts';
import { checkPassword, type User } from '../auth/users.ts';
import { Api, type Reply, type RequestContext } from './api.ts';
import { isManagementUser } from './access.ts';
import { localClusterView, type ClusterView } from './cluster.ts';
import { Stats } from './stats.ts';
import { managementAgent } from './listings.ts';
import { collect } from './metrics.ts';
import { ApiError, checkContentType, checkOrigin, methodNotAllowed, notFound, parseJsonBody, readBody, sendEmpty, sendError, sendJson, splitPath } from './http.ts';
import type { FormatContext } from './format.ts';
import { defaultSortOf, shape } from './shape.ts';

export type { ClusterView, ClusterNode, QueueLocation } from './cluster.ts';
export { localClusterView, localCounts } from './cluster.ts';

export interface ManagementOptions {
  /** 15672 in RabbitMQ; 0 picks a free port */
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  /** the cluster as this node sees it; default: a cluster of this node alone */
  cluster?: ClusterView;
  /** ms between rate samples; default 5000 (RabbitMQ's collect_statistics_interval) */
  sampleIntervalMs?: number;
}

export interface RunningManagement {
  readonly port: number;
  close(): Promise<void>;
}

const REALM = 'Basic realm="RabbitMQ Management"';

let uiPage: Buffer | null = null;
function ui(): Buffer {
  uiPage ??= readFileSync(new URL('./ui.html', import.meta.url));
  return uiPage;
}

export async function startManagement(broker: Broker, opts: ManagementOptions): Promise<RunningManagement> {
  const stats = new Stats(broker, opts.sampleIntervalMs ?? 5000);
  const f: FormatContext = { broker, cluster: opts.cluster ?? localClusterView(broker), stats, httpPort: opts.port, httpHost: opts.host ?? '127.0.0.1' };
  const api = new Api(f);
  broker.management = managementAgent(f);
  const server = createServer((req, res) => {
    handle(api, broker, req, res).catch((err: unknown) => {
      if (err instanceof ApiError) return sendError(res, err);
      broker.log(`management: internal error on ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendJson(res, 500, { error: 'internal_server_error', reason: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: opts.port, host: opts.host ?? '127.0.0.1' }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    stats.close();
    broker.management = null;
    throw err;
  }
  server.on('error', (err) => broker.log(`management: listener error: ${err.message}`));
  const port = (server.address() as AddressInfo).port;
  f.httpPort = port;
  broker.log(`management: HTTP API, web UI and /metrics on http://${opts.host ?? '127.0.0.1'}:${port}/`);
  return {
    port,
    close: () => closeServer(server, stats, broker),
  };
}

function closeServer(server: Server, stats: Stats, broker: Broker): Promise<void> {
  stats.close();
  broker.management = null;
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function authenticate(broker: Broker, req: IncomingMessage): User {
  // the web UI asks with X-Requested-With so that a 401 does not make the browser pop up its own login dialog
  const realm: Record<string, string> = req.headers['x-requested-with'] === 'XMLHttpRequest' ? {} : { 'www-authenticate': REALM };
  const h = req.headers.authorization;
  const m = h ? /^Basic\s+(\S+)$/i.exec(h) : null;
  if (!m) throw new ApiError(401, 'not_authorised', 'Not_Authorized', realm);
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  const name = i < 0 ? decoded : decoded.slice(0, i);
  const pass = i < 0 ? '' : decoded.slice(i + 1);
  const user = broker.users.get(name);
  if (!user || !checkPassword(user, pass)) throw new ApiError(401, 'not_authorised', 'Login failed', realm);
  if (broker.opts.loopbackUsers.includes(name) && !isLoopback(req.socket.remoteAddress ?? '')) {
    throw new ApiError(401, 'not_authorised', 'User can only log in via localhost', realm);
  }
  if (!isManagementUser(user)) throw new ApiError(401, 'not_authorised', 'Not management user', realm);
  return user;
}

async function handle(api: Api, broker: Broker, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  const path = url.pathname;
  if (path === '/' || path === '/index.html') {
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(['GET', 'HEAD']);
    const page = ui();
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cache-control': 'no-cache' });
    res.end(method === 'HEAD' ? undefined : page);
    return;
  }
  if (path === '/favicon.ico') return sendEmpty(res, 204);
  if (path === '/metrics') {
    if (method !== 'GET') throw methodNotAllowed(['GET']);
    const text = collect(api.f);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return;
  }
  const segs = splitPath(path);
  if (segs[0] !== 'api') throw notFound();
  if (method === 'OPTIONS') return sendEmpty(res, 204, { allow: 'GET, PUT, POST, DELETE, OPTIONS' });
  const m = api.match(segs.slice(1));
  if (!m) {
    // authenticate first so an anonymous caller learns nothing about which paths exist
    authenticate(broker, req);
    throw notFound();
  }
  const verb = method === 'HEAD' ? 'GET' : method;
  const handler = m.route.methods[verb as 'GET'];
  const user = authenticate(broker, req);
  if (!handler) throw methodNotAllowed(Object.keys(m.route.methods));
  if (verb !== 'GET') {
    checkOrigin(req);
    checkContentType(req, segs[1] === 'definitions');
  }
  let raw: Buffer | null = null;
  const rawBody = async (): Promise<Buffer> => (raw ??= await readBody(req));
  const ctx: RequestContext = {
    req,
    method: verb,
    params: m.params,
    query: url.searchParams,
    user,
    rawBody,
    body: async () => parseJsonBody(await rawBody()),
  };
  const reply: Reply = await handler(ctx);
  if (reply.body === undefined) return sendEmpty(res, reply.status, reply.headers ?? {});
  const body = reply.status === 200 && verb === 'GET' ? shape(reply.body, url.searchParams, defaultSortOf(segs)) : reply.body;
  sendJson(res, reply.status, body, reply.headers ?? {});
}
