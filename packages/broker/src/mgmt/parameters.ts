// Runtime parameters (/api/parameters): component, vhost, name -> a JSON value. The broker keeps them in its
// `parameters` map and definitions store; no component of Warren reads them yet (federation and shovel are absent),
// but they round-trip through the API and definitions as RabbitMQ's do.
import type { Broker } from '../server/broker.ts';
import { key } from '../server/vhost.ts';

export interface ParameterRecord {
  component: string;
  vhost: string;
  name: string;
  value: unknown;
}

function isRecord(v: unknown): v is ParameterRecord {
  const o = v as ParameterRecord;
  return typeof o === 'object' && o !== null && typeof o.component === 'string' && typeof o.vhost === 'string' && typeof o.name === 'string';
}

export function parameterList(b: Broker): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const v of b.parameters.values()) if (isRecord(v)) out.push({ vhost: v.vhost, component: v.component, name: v.name, value: v.value });
  return out;
}

export function getParameter(b: Broker, component: string, vhost: string, name: string): ParameterRecord | undefined {
  const v = b.parameters.get(key(component, vhost, name));
  return isRecord(v) ? v : undefined;
}

export function putParameter(b: Broker, component: string, vhost: string, name: string, value: unknown): boolean {
  const k = key(component, vhost, name);
  const existed = b.parameters.has(k);
  const rec: ParameterRecord = { component, vhost, name, value };
  b.parameters.set(k, rec);
  b.definitions.put('parameter', k, rec);
  return !existed;
}

export function deleteParameter(b: Broker, component: string, vhost: string, name: string): boolean {
  const k = key(component, vhost, name);
  if (!b.parameters.delete(k)) return false;
  b.definitions.remove('parameter', k);
  return true;
}
