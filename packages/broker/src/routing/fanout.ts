import type { FieldTable } from '../amqp/reader.ts';
import { Exchange, type Binding, type Destination } from './exchange.ts';

/** AMQP 0-9-1 §3.1.3.2: routes to every bound destination, ignoring the routing key. */
export class FanoutExchange extends Exchange {
  readonly type = 'fanout';
  private readonly destinations: Destination[] = [];

  protected add(b: Binding): void {
    if (!this.destinations.includes(b.destination)) this.destinations.push(b.destination);
  }

  protected remove(b: Binding): void {
    for (const other of this.bindings.values()) if (other.destination === b.destination) return;
    const i = this.destinations.indexOf(b.destination);
    if (i >= 0) this.destinations.splice(i, 1);
  }

  route(_routingKey: string, _headers: FieldTable | undefined, out: Set<Destination>): void {
    const d = this.destinations;
    for (let i = 0; i < d.length; i++) out.add(d[i]!);
  }
}
