import type { FieldTable } from '../amqp/reader.ts';
import { Exchange, type Binding, type Destination } from './exchange.ts';

/** AMQP 0-9-1 §3.1.3.1: routes on an exact routing-key match. */
export class DirectExchange extends Exchange {
  readonly type = 'direct';
  private readonly byKey = new Map<string, Destination[]>();

  protected add(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (list) {
      if (!list.includes(b.destination)) list.push(b.destination);
    } else this.byKey.set(b.routingKey, [b.destination]);
  }

  protected remove(b: Binding): void {
    const list = this.byKey.get(b.routingKey);
    if (!list) return;
    // another binding (different arguments) may still route the same key to the same destination
    for (const other of this.bindings.values()) if (other.routingKey === b.routingKey && other.destination === b.destination) return;
    const i = list.indexOf(b.destination);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byKey.delete(b.routingKey);
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Set<Destination>): void {
    const list = this.byKey.get(routingKey);
    if (list) for (let i = 0; i < list.length; i++) out.add(list[i]!);
  }
}
