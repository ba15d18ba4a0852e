import type { FieldTable } from '../amqp/reader.ts';
import { Exchange, type Binding, type Destination } from './exchange.ts';

class TrieNode {
  readonly children = new Map<string, TrieNode>();
  /** destination -> number of bindings ending here with that destination */
  readonly destinations = new Map<Destination, number>();
}

/**
 * AMQP 0-9-1 §3.1.3.3: dot-separated words; `*` matches one word, `#` zero or more. Bindings live in a trie keyed by
 * word (with `*` and `#` as ordinary keys), so matching costs the depth of the key, not the number of bindings.
 */
export class TopicExchange extends Exchange {
  readonly type = 'topic';
  private readonly root = new TrieNode();

  protected add(b: Binding): void {
    let node = this.root;
    for (const w of words(b.routingKey)) {
      let next = node.children.get(w);
      if (!next) {
        next = new TrieNode();
        node.children.set(w, next);
      }
      node = next;
    }
    node.destinations.set(b.destination, (node.destinations.get(b.destination) ?? 0) + 1);
  }

  protected remove(b: Binding): void {
    const ws = words(b.routingKey);
    const path: TrieNode[] = [this.root];
    let node = this.root;
    for (const w of ws) {
      const next = node.children.get(w);
      if (!next) return;
      path.push(next);
      node = next;
    }
    const n = (node.destinations.get(b.destination) ?? 0) - 1;
    if (n > 0) node.destinations.set(b.destination, n);
    else node.destinations.delete(b.destination);
    // prune empty nodes
    for (let i = ws.length; i > 0; i--) {
      const child = path[i]!;
      if (child.children.size > 0 || child.destinations.size > 0) break;
      path[i - 1]!.children.delete(ws[i - 1]!);
    }
  }

  route(routingKey: string, _headers: FieldTable | undefined, out: Set<Destination>): void {
    // the empty routing key is zero words (RabbitMQ), so only '#' matches it
    match(this.root, routingKey === '' ? [] : routingKey.split('.'), 0, out);
  }
}

function words(key: string): string[] {
  return key === '' ? [] : key.split('.');
}

function collect(node: TrieNode, out: Set<Destination>): void {
  for (const d of node.destinations.keys()) out.add(d);
}

function match(node: TrieNode, words: string[], i: number, out: Set<Destination>): void {
  if (i === words.length) {
    collect(node, out);
    // trailing `#` nodes match zero words
    let h = node.children.get('#');
    while (h) {
      collect(h, out);
      h = h.children.get('#');
    }
    return;
  }
  const word = words[i]!;
  const exact = node.children.get(word);
  if (exact) match(exact, words, i + 1, out);
  const star = node.children.get('*');
  if (star) match(star, words, i + 1, out);
  const hash = node.children.get('#');
  if (hash) {
    // `#` consumes zero..all remaining words
    for (let j = i; j <= words.length; j++) match(hash, words, j, out);
  }
}
