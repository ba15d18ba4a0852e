import { Float, type FieldTable, type FieldValue } from '../amqp/reader.ts';
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

/**
 * RabbitMQ 3.10 (rabbit_exchange_type_headers) compares a binding's value with the header's by Erlang's `==`: numbers
 * of every type compare by value (int 1 matches long 1, double 1.0 and timestamp 1; float 1.5 matches double 1.5;
 * 1 does not match 1.5), a decimal matches only a decimal of the same scale and digits, other types only their own.
 * Checked against RabbitMQ 3.10.
 */
function same(a: FieldValue | undefined, b: FieldValue | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  const x = numeric(a);
  if (x !== undefined) {
    const y = numeric(b);
    if (y === undefined) return false;
    if (typeof x === 'number' && typeof y === 'number') return x === y;
    // a long beyond 2^53 against another number: exact only in BigInt, and only integers can equal it
    if (typeof x === 'number' && !Number.isInteger(x)) return false;
    if (typeof y === 'number' && !Number.isInteger(y)) return false;
    return BigInt(x) === BigInt(y);
  }
  if (numeric(b) !== undefined) return false;
  // a longstr and a byte array are both Erlang binaries there
  if (typeof a === 'string' && Buffer.isBuffer(b)) return b.equals(Buffer.from(a));
  if (Buffer.isBuffer(a) && typeof b === 'string') return a.equals(Buffer.from(b));
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The number a numeric field value stands for (a timestamp in seconds, as on the wire), or undefined. */
function numeric(v: FieldValue): number | bigint | undefined {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  if (v instanceof Float) return v.value;
  if (v instanceof Date) return v.getTime() / 1000;
  return undefined;
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
