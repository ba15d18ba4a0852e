import type { FieldTable, FieldValue } from '../amqp/reader.ts';
import { Exchange, type Binding, type Destination } from './exchange.ts';

/** AMQP 0-9-1 §3.1.3.4: matches message headers against binding arguments, x-match all (default) or any. */
export class HeadersExchange extends Exchange {
  readonly type = 'headers';
  private readonly list: Binding[] = [];

  protected add(b: Binding): void {
    this.list.push(b);
  }

  protected remove(b: Binding): void {
    const i = this.list.indexOf(b);
    if (i >= 0) this.list.splice(i, 1);
  }

  route(_routingKey: string, headers: FieldTable | undefined, out: Set<Destination>): void {
    const h = headers ?? {};
    for (const b of this.list) if (matches(b.arguments, h)) out.add(b.destination);
  }
}

function same(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  if (typeof a === 'number' || typeof a === 'bigint') return (typeof b === 'number' || typeof b === 'bigint') && BigInt(a) === BigInt(b);
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  return JSON.stringify(a) === JSON.stringify(b);
}

export function matches(args: FieldTable, headers: FieldTable): boolean {
  const mode = args['x-match'];
  const any = mode === 'any' || mode === 'any-with-x';
  const withX = mode === 'all-with-x' || mode === 'any-with-x';
  for (const key of Object.keys(args)) {
    if (key.startsWith('x-') && !withX) continue;
    if (key === 'x-match') continue;
    const want = args[key];
    const has = Object.prototype.hasOwnProperty.call(headers, key);
    // a void binding value matches on presence alone (RabbitMQ)
    const ok = has && (want === null || same(want, headers[key]));
    if (any && ok) return true;
    if (!any && !ok) return false;
  }
  return !any;
}
