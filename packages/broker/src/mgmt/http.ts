// HTTP plumbing for the management API: RabbitMQ's error bodies, JSON replies, request bodies, path splitting.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error the API answers with RabbitMQ's body: {"error": ..., "reason": ...}. */
export class ApiError extends Error {
  readonly status: number;
  readonly error: string;
  readonly headers: Record<string, string>;
  constructor(status: number, error: string, reason: string, headers: Record<string, string> = {}) {
    super(reason);
    this.status = status;
    this.error = error;
    this.headers = headers;
  }
}

export const notFound = (): ApiError => new ApiError(404, 'Object Not Found', 'Not Found');
export const badRequest = (reason: string): ApiError => new ApiError(400, 'bad_request', reason);
export const notAuthorised = (reason: string): ApiError => new ApiError(401, 'not_authorised', reason);
export const methodNotAllowed = (allowed: string[]): ApiError =>
  new ApiError(405, 'Method Not Allowed', 'Method Not Allowed', { allow: allowed.join(', ') });

const MAX_BODY = 64 * 1024 * 1024;

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new ApiError(413, 'bad_request', 'request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON object body; an empty body is {}. */
export function parseJsonBody(raw: Buffer): Record<string, unknown> {
  const text = raw.toString('utf8').trim();
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw badRequest(`failed to decode JSON: ${(err as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw badRequest('JSON body must be an object');
  return v as Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-cache',
    'content-length': Buffer.byteLength(text),
    vary: 'accept, accept-encoding, origin',
    ...headers,
  });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': 0, ...headers });
  res.end();
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: err.error, reason: err.message }, err.headers);
}

/** Splits a path into decoded segments: "/api/queues/%2F/q%20a" -> ["api", "queues", "/", "q a"]. */
export function splitPath(path: string): string[] {
  const parts = path.split('/').slice(1);
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      throw badRequest(`bad percent-encoding in path segment '${p}'`);
    }
  });
}

/** RabbitMQ accepts JSON booleans and the strings "true"/"false" (rabbitmqadmin sends strings). */
export function boolField(body: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = body[key];
  if (v === undefined || v === null || v === '') return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw badRequest(`${key} must be true or false, got ${JSON.stringify(v)}`);
}

export function strField(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`${key} must be a string`);
  return v;
}
