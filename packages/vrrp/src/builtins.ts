// Node built-ins that start-up does not need, loaded on first use. node:child_process and node:http take tens of
// milliseconds to compile; the daemon enters BACKUP before it starts a process or serves its status, so they are
// loaded just after (keepalived's start-up to BACKUP is ~0.1 s; Node's own bootstrap takes most of that already).

import { createRequire } from 'node:module';

// Only built-in modules are loaded through this require, so the path it resolves from does not matter (the bundle
// is CommonJS, the sources ES modules: '/' works under both).
const requireBuiltin = createRequire('/');

let cp: typeof import('node:child_process') | undefined;
let http: typeof import('node:http') | undefined;

export function childProcess(): typeof import('node:child_process') {
  cp ??= requireBuiltin('node:child_process') as typeof import('node:child_process');
  return cp;
}

export function httpModule(): typeof import('node:http') {
  http ??= requireBuiltin('node:http') as typeof import('node:http');
  return http;
}
