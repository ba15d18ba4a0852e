// Status as JSON over HTTP, on a unix socket (`--status-socket PATH`) or 127.0.0.1:PORT (`--status-port PORT`).
//   GET /          -> { routerId, pid, startedAt, instances: [...], scripts: [...] }
//   GET /instances/<name> -> one instance
// curl --unix-socket /run/vrrpd.sock http://x/   or   curl http://127.0.0.1:PORT/

import type { Server } from 'node:http';
import { httpModule } from './builtins.ts';
import { unlinkSync } from 'node:fs';

export type StatusSource = () => { instances: Record<string, unknown>[] } & Record<string, unknown>;

export class StatusServer {
  private server: Server | undefined;

  constructor(private readonly source: StatusSource) {}

  listen(where: { socket?: string; port?: number; host?: string }): Promise<string> {
    const server = httpModule().createServer((req, res) => {
      const body = this.source();
      let out: unknown = body;
      const m = /^\/instances\/([^/?]+)/.exec(req.url ?? '/');
      if (m !== null) {
        out = body.instances.find((i) => i['name'] === decodeURIComponent(m[1]!));
        if (out === undefined) {
          res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no such instance"}\n');
          return;
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(out, null, 2)}\n`);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      if (where.socket !== undefined) {
        try {
          unlinkSync(where.socket);
        } catch {
          // no stale socket
        }
        const path = where.socket;
        server.listen(path, () => resolve(`unix:${path}`));
      } else {
        const host = where.host ?? '127.0.0.1';
        server.listen(where.port ?? 0, host, () => {
          const a = server.address();
          resolve(typeof a === 'object' && a !== null ? `http://${host}:${a.port}` : String(a));
        });
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())));
  }
}
