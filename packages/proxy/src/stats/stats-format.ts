/** CSV and JSON renderings of the stats rows. */
import { STAT_COLUMNS, type StatRow } from './stats-rows.ts';

/** haproxy: `show stat` / `;csv`: a `# ` header line of column names, then one comma-separated line per row. */
export function statsCsv(rows: StatRow[]): string {
  let out = `# ${STAT_COLUMNS.join(',')},\n`;
  for (const r of rows) out += STAT_COLUMNS.map((c) => csvField(r[c])).join(',') + ',\n';
  return out;
}

function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * `;json`: an array of objects keyed by the CSV column names (empty fields left out). Simpler than haproxy's typed
 * JSON (one object per field with type/origin/nature), and easy to consume.
 */
export function statsJson(rows: StatRow[]): string {
  return JSON.stringify(
    rows.map((r) => {
      const o: Record<string, string | number> = {};
      for (const c of STAT_COLUMNS) {
        const v = r[c];
        if (v !== undefined && v !== '') o[c] = v;
      }
      return o;
    }),
  );
}
