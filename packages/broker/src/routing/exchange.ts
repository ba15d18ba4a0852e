// Exchanges route a message to destinations (queues or, for exchange-to-exchange bindings, other exchanges).
// Each type is a small subclass with its own index over the bindings (STYLE: LavinMQ's each_destination).
import type { FieldTable } from '../amqp/reader.ts';

export interface Destination {
  readonly kind: 'queue' | 'exchange';
  readonly name: string;
}

export interface Binding {
  readonly source: string;
  readonly destination: Destination;
  readonly routingKey: string;
  readonly arguments: FieldTable;
  readonly key: string;
}

export function bindingKey(destination: Destination, routingKey: string, args: FieldTable): string {
  return `${destination.kind}\u0000${destination.name}\u0000${routingKey}\u0000${stableJson(args)}`;
}

function stableJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? v.toString() : JSON.stringify(v) ?? '';
  if (Buffer.isBuffer(v)) return `b:${v.toString('hex')}`;
  if (v instanceof Date) return `d:${v.getTime()}`;
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stableJson(o[k])}`).join(',')}}`;
}

export interface ExchangeOptions {
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export abstract class Exchange implements Destination {
  readonly kind = 'exchange' as const;
  readonly name: string;
  readonly vhost: string;
  abstract readonly type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
  /** Every binding with this exchange as source, by binding key. */
  readonly bindings = new Map<string, Binding>();
  /** Alternate exchange from arguments or policy (AMQP extension: alternate-exchange). */
  alternateExchange: string | undefined;

  constructor(vhost: string, name: string, opts: ExchangeOptions) {
    this.vhost = vhost;
    this.name = name;
    this.durable = opts.durable;
    this.autoDelete = opts.autoDelete;
    this.internal = opts.internal;
    this.arguments = opts.arguments;
    const ae = opts.arguments['alternate-exchange'];
    this.alternateExchange = typeof ae === 'string' ? ae : undefined;
  }

  bind(b: Binding): boolean {
    if (this.bindings.has(b.key)) return false;
    this.bindings.set(b.key, b);
    this.add(b);
    return true;
  }

  unbind(key: string): Binding | undefined {
    const b = this.bindings.get(key);
    if (!b) return undefined;
    this.bindings.delete(key);
    this.remove(b);
    return b;
  }

  protected abstract add(b: Binding): void;
  protected abstract remove(b: Binding): void;
  /** Adds every destination matching the message to out. */
  abstract route(routingKey: string, headers: FieldTable | undefined, out: Set<Destination>): void;
}
