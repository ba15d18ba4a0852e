import { PeerError } from './errors.ts';

/** Erlang's default distribution port (inet_dist_listen_min when unset is random; RabbitMQ pins it to 25672). */
export const DEFAULT_DIST_PORT = 25672;

export interface NodeName {
  /** The part before '@': "rabbit". */
  readonly name: string;
  /** The part after '@': a host name or address, "node-a" or "10.0.0.2". */
  readonly host: string;
}

// Erlang node names are atoms "name@host"; RabbitMQ uses rabbit@<short hostname>. We accept the same characters
// RabbitMQ's rabbitmq-env accepts in practice: letters, digits, '_', '-', '.', and ':' inside the host (IPv6).
const NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
const HOST_PATTERN = /^[A-Za-z0-9_.:-]+$/;
const MAX_NODE_NAME_LENGTH = 255;

export function parseNodeName(node: string): NodeName {
  const at = node.indexOf('@');
  const name = node.slice(0, at);
  const host = node.slice(at + 1);
  if (
    at <= 0 ||
    node.length > MAX_NODE_NAME_LENGTH ||
    !NAME_PATTERN.test(name) ||
    !HOST_PATTERN.test(host)
  ) {
    throw new PeerError('INVALID_ARGUMENT', `invalid node name ${JSON.stringify(node)}: expected name@host, e.g. rabbit@node-a`);
  }
  return { name, host };
}

export function isValidNodeName(node: unknown): node is string {
  if (typeof node !== 'string') return false;
  try {
    parseNodeName(node);
    return true;
  } catch {
    return false;
  }
}
