/**
 * Time values as haproxy writes them.
 *
 * haproxy: configuration.txt §2.5 "Time format": a number with an optional unit us, ms, s, m, h, d; no unit means
 * milliseconds. Microseconds are rounded up to whole milliseconds (Node timers have no finer grain).
 */
const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = UNIT_MS[m[2] ?? 'ms'] ?? 1;
  return Math.ceil(n * unit);
}

export function parseInteger(text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | null {
  if (!/^-?\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** Formats milliseconds the way the stats page shows ages: 1d2h, 3h4m, 5m6s, 7s. */
export function formatAge(ms: number): string {
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d}d${h}h`;
  if (h) return `${h}h${m}m`;
  if (m) return `${m}m${sec}s`;
  return `${sec}s`;
}
