// The lab's state file: everything `lab up` made (namespaces, /etc/netns entries, the host's veth, processes with the
// command lines that start them again, the lab directory), written before each thing is made, so that `lab down`
// removes all of it even after `lab up` or a scenario crashed half-way.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ProcEntry {
  host: string;
  /** broker, proxy, vrrpd, haproxy (real), keepalived (real), page */
  kind: string;
  pid: number;
  /** argv to start it again (the netns wrapper included) */
  argv: string[];
  env: Record<string, string>;
  log: string;
}

export interface LabState {
  version: 1;
  mode: 'netns' | 'loopback';
  prefix: string;
  dir: string;
  /** first three octets of the lab's /24 */
  subnet: string;
  namespaces: string[];
  /** /etc/netns/<ns> directories made for the hosts files */
  etcNetns: string[];
  hostIf: string | null;
  procs: Record<string, ProcEntry>;
  /** loopback mode: the ports handed out, by host */
  ports: Record<string, Record<string, number>>;
  pagePort: number | null;
  real: { haproxy: string[]; keepalived: string[] };
  startedAt: number;
}

export const DEFAULT_DIR = process.env['WARREN_LAB_DIR'] ?? join(tmpdir(), 'warren-lab');

export function stateFile(dir: string): string {
  return join(dir, 'state.json');
}

export function readState(dir: string): LabState | null {
  try {
    return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as LabState;
  } catch {
    return null;
  }
}

export function writeState(s: LabState): void {
  mkdirSync(s.dir, { recursive: true });
  const f = stateFile(s.dir);
  writeFileSync(`${f}.${process.pid}.tmp`, JSON.stringify(s, null, 2));
  renameSync(`${f}.${process.pid}.tmp`, f);
}

/** Changes the state under a re-read (the page server and a scenario may both restart processes). */
export function updateState(dir: string, change: (s: LabState) => void): LabState {
  const s = readState(dir);
  if (s === null) throw new Error(`no lab is up in ${dir} (no ${stateFile(dir)}); run lab up`);
  change(s);
  writeState(s);
  return s;
}

export interface LabEvent {
  t: number;
  kind: string;
  host?: string;
  text: string;
}

export function eventsFile(dir: string): string {
  return join(dir, 'events.jsonl');
}

export function logEvent(dir: string, kind: string, text: string, host?: string): void {
  if (!existsSync(dir)) return;
  const e: LabEvent = { t: Date.now(), kind, text, ...(host !== undefined ? { host } : {}) };
  appendFileSync(eventsFile(dir), `${JSON.stringify(e)}\n`);
}

export function readEvents(dir: string, since = 0): LabEvent[] {
  let text = '';
  try {
    text = readFileSync(eventsFile(dir), 'utf8');
  } catch {
    return [];
  }
  const out: LabEvent[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const e = JSON.parse(line) as LabEvent;
      if (e.t >= since) out.push(e);
    } catch {
      // a line being written
    }
  }
  return out;
}
