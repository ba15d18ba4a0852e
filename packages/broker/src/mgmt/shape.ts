// Query parameters that shape GET replies as RabbitMQ's management does: columns (dotted paths), sort,
// sort_reverse, and pagination (page, page_size, name, use_regex) which wraps a list in a page object.
import { badRequest } from './http.ts';

type Obj = Record<string, unknown>;

function getPath(o: unknown, path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Obj)[p];
  }
  return cur;
}

function pick(o: unknown, columns: string[][]): unknown {
  if (typeof o !== 'object' || o === null) return o;
  const out: Obj = {};
  for (const path of columns) {
    const v = getPath(o, path);
    if (v === undefined) continue;
    let dst = out;
    for (let i = 0; i < path.length - 1; i++) {
      const k = path[i]!;
      if (typeof dst[k] !== 'object' || dst[k] === null) dst[k] = {};
      dst = dst[k] as Obj;
    }
    dst[path[path.length - 1]!] = v;
  }
  return out;
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === undefined || a === null) return -1;
  if (b === undefined || b === null) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  // (Erlang's order of binaries: byte by byte, upper case before lower)
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * The lists RabbitMQ's management sorts by vhost, then name, when no sort is asked (rabbit_mgmt_util's default sort
 * keys): rabbitmqadmin list queues / exchanges print them in that order; a sort asked for comes first, these after.
 */
const BY_VHOST_AND_NAME = new Set(['queues', 'exchanges', 'users', 'vhosts', 'connections', 'channels']);

export function defaultSortOf(segs: string[]): string[] {
  return segs[0] === 'api' && segs.length <= 3 && BY_VHOST_AND_NAME.has(segs[1] ?? '') ? ['vhost', 'name'] : [];
}

export function shape(body: unknown, q: URLSearchParams, defaultSort: string[] = []): unknown {
  const columns = q.get('columns');
  const cols = columns ? columns.split(',').filter((c) => c !== '').map((c) => c.split('.')) : null;
  if (!Array.isArray(body)) return cols ? pick(body, cols) : body;
  let list = body as unknown[];
  const sort = q.get('sort');
  const keys = [...(sort ? [sort] : []), ...defaultSort].map((k) => k.split('.'));
  if (keys.length > 0) {
    list = [...list].sort((a, b) => {
      for (const path of keys) {
        const c = compare(getPath(a, path), getPath(b, path));
        if (c !== 0) return c;
      }
      return 0;
    });
    if (q.get('sort_reverse') === 'true') list.reverse();
  }
  const page = q.get('page');
  if (page !== null) {
    const total = list.length;
    const pageNo = Number(page);
    const size = Number(q.get('page_size') ?? 100);
    if (!Number.isInteger(pageNo) || pageNo < 1) throw badRequest('page must be a positive integer');
    if (!Number.isInteger(size) || size < 1 || size > 500) throw badRequest('page_size must be an integer 1..500');
    const name = q.get('name');
    if (name) {
      let re: RegExp;
      try {
        re = q.get('use_regex') === 'true' ? new RegExp(name) : new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'i');
      } catch {
        throw badRequest(`invalid regular expression '${name}'`);
      }
      list = list.filter((x) => re.test(String((x as Obj)['name'] ?? '')));
    }
    const filtered = list.length;
    const pageCount = Math.max(1, Math.ceil(filtered / size));
    if (pageNo > pageCount) throw badRequest(`page ${pageNo} is past the last page (${pageCount})`);
    const items = list.slice((pageNo - 1) * size, pageNo * size);
    return { filtered_count: filtered, item_count: items.length, items: cols ? items.map((x) => pick(x, cols)) : items, page: pageNo, page_count: pageCount, page_size: size, total_count: total };
  }
  return cols ? list.map((x) => pick(x, cols)) : list;
}
