/**
 * The `stats socket` of the global section: a unix socket speaking haproxy's CLI (haproxy: management.txt §9.3).
 * Each connection reads one line (several commands may be separated by ';'), answers and closes, as haproxy does
 * outside of interactive `prompt` mode; `echo "show stat" | socat stdio /path/to/sock` works the same.
 */
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { StatsSocketConfig } from '../config/types.ts';
import type { LoadBalancer } from '../load-balancer.ts';
import { runCommand, type Level } from './commands.ts';

const MAX_LINE_BYTES = 16 * 1024;

export class CliSocket {
  private constructor(
    readonly path: string,
    public level: Level,
    private readonly server: net.Server,
  ) {}

  static open(lb: LoadBalancer, cfg: StatsSocketConfig): Promise<CliSocket> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((conn) => {
        let buf = '';
        conn.setEncoding('utf8');
        conn.on('error', () => conn.destroy());
        conn.on('data', (chunk: string) => {
          buf += chunk;
          if (buf.length > MAX_LINE_BYTES) return void conn.destroy();
          const nl = buf.indexOf('\n');
          if (nl < 0) return;
          answer(buf.slice(0, nl));
        });
        conn.on('end', () => {
          if (buf.trim()) answer(buf);
          else conn.end();
        });
        let answered = false;
        const answer = (line: string): void => {
          if (answered) return;
          answered = true;
          const out = line
            .split(';')
            .map((c) => runCommand(lb, c, sock.level))
            .join('');
          conn.end(out);
        };
      });
      const sock = new CliSocket(cfg.path, cfg.level, server);
      // A socket file left by a previous run would make listen() fail with EADDRINUSE.
      if (existsSync(cfg.path)) {
        try {
          unlinkSync(cfg.path);
        } catch {
          // listen() reports the problem
        }
      }
      server.once('error', reject);
      server.listen(cfg.path, () => {
        server.removeAllListeners('error');
        if (cfg.mode !== null) chmodSync(cfg.path, cfg.mode);
        resolve(sock);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}
