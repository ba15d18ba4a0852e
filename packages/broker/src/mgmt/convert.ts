// Conversions between AMQP values and the JSON the management API speaks (RabbitMQ's rabbit_mgmt_format).
import { Float, MAX_FIELD_DEPTH, type FieldTable, type FieldValue } from '../amqp/reader.ts';
import type { BasicProperties } from '../amqp/methods.ts';
import { badRequest } from './http.ts';

/** An AMQP field value as JSON: 64-bit integers as numbers, byte arrays as strings, timestamps as seconds. */
export function fieldToJson(v: FieldValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Float) return v.value;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return Math.floor(v.getTime() / 1000);
  if (Array.isArray(v)) return v.map(fieldToJson);
  if (isDecimal(v)) return v.value / 10 ** v.scale;
  return tableToJson(v as FieldTable);
}

function isDecimal(v: object): v is { scale: number; value: number } {
  const o = v as Record<string, unknown>;
  return Object.keys(o).length === 2 && typeof o['scale'] === 'number' && typeof o['value'] === 'number';
}

export function tableToJson(t: FieldTable | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!t) return out;
  for (const [k, v] of Object.entries(t)) out[k] = fieldToJson(v);
  return out;
}

/** JSON from a request body to an AMQP value (numbers stay numbers: the codec picks the wire type). */
export function jsonToField(v: unknown, what: string, depth = 0): FieldValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  // the same nesting limit as values from AMQP clients (reader.ts)
  if (depth >= MAX_FIELD_DEPTH) throw badRequest(`${what}: nested deeper than ${MAX_FIELD_DEPTH} levels`);
  if (Array.isArray(v)) return v.map((x) => jsonToField(x, what, depth + 1));
  if (typeof v === 'object') return jsonToTable(v, what, depth + 1);
  throw badRequest(`${what}: unsupported value ${JSON.stringify(v)}`);
}

export function jsonToTable(v: unknown, what: string, depth = 0): FieldTable {
  if (v === undefined || v === null || v === '') return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${what} must be a JSON object`);
  const out: FieldTable = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    // a field table's keys are shortstrs (AMQP 0-9-1 §4.2.5.3)
    if (Buffer.byteLength(k) > 255) throw badRequest(`${what}: key longer than 255 bytes`);
    out[k] = jsonToField(x, what, depth);
  }
  return out;
}

const PROPS: [keyof BasicProperties, string][] = [
  ['contentType', 'content_type'], ['contentEncoding', 'content_encoding'], ['headers', 'headers'],
  ['deliveryMode', 'delivery_mode'], ['priority', 'priority'], ['correlationId', 'correlation_id'],
  ['replyTo', 'reply_to'], ['expiration', 'expiration'], ['messageId', 'message_id'], ['timestamp', 'timestamp'],
  ['type', 'type'], ['userId', 'user_id'], ['appId', 'app_id'], ['clusterId', 'cluster_id'],
];

export function propertiesToJson(p: BasicProperties): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, j] of PROPS) {
    const v = p[k];
    if (v === undefined) continue;
    if (k === 'headers') out[j] = tableToJson(v as FieldTable);
    else if (k === 'timestamp') out[j] = Math.floor((v as Date).getTime() / 1000);
    else out[j] = v;
  }
  return out;
}

/** The "properties" object of a publish request (RabbitMQ rejects unknown keys). */
export function jsonToProperties(v: unknown): BasicProperties {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest('properties must be a JSON object');
  const src = v as Record<string, unknown>;
  const p: BasicProperties = {};
  const known = new Map(PROPS.map(([k, j]) => [j, k]));
  for (const [j, val] of Object.entries(src)) {
    const k = known.get(j);
    if (k === undefined) throw badRequest(`invalid property '${j}'`);
    if (val === null || val === undefined) continue;
    switch (k) {
      case 'headers':
        p.headers = jsonToTable(val, 'headers');
        break;
      case 'deliveryMode':
      case 'priority': {
        const n = typeof val === 'string' ? Number(val) : val;
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 255) throw badRequest(`${j} must be an integer 0..255`);
        p[k] = n;
        break;
      }
      case 'timestamp': {
        const n = typeof val === 'string' ? Number(val) : val;
        if (typeof n !== 'number' || !Number.isFinite(n)) throw badRequest('timestamp must be a number of seconds');
        p.timestamp = new Date(n * 1000);
        break;
      }
      default:
        if (typeof val !== 'string' && typeof val !== 'number') throw badRequest(`${j} must be a string`);
        (p as Record<string, unknown>)[k] = String(val);
    }
  }
  return p;
}

/** Payload for a get reply: 'auto' gives a string when the bytes are valid UTF-8, base64 otherwise. */
export function encodePayload(body: Buffer, encoding: string, truncate: number | undefined): { payload: string; payload_encoding: string } {
  const b = truncate !== undefined && body.length > truncate ? body.subarray(0, truncate) : body;
  if (encoding === 'auto') {
    const s = b.toString('utf8');
    if (Buffer.from(s, 'utf8').equals(b)) return { payload: s, payload_encoding: 'string' };
  }
  return { payload: b.toString('base64'), payload_encoding: 'base64' };
}
