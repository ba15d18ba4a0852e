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

/**
 * The media types a write may carry. RabbitMQ's API (cowboy_rest content_types_accepted) takes application/json, and
 * multipart/form-data only for a definitions import (the web UI's file upload); anything else is 415. This is also
 * what keeps a plain HTML form on another site from posting to the API (a form can only send
 * application/x-www-form-urlencoded, multipart/form-data or text/plain).
 */
export function checkContentType(req: IncomingMessage, multipartAllowed: boolean): void {
  const header = req.headers['content-type'];
  // no content type at all (curl -X PUT -d '{}' without -H): RabbitMQ reads the body as JSON, and so do we; a browser
  // that could send such a request cross-site also sends an Origin (checkOrigin)
  if (header === undefined || header === '') return;
  const type = header.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return;
  if (type === 'multipart/form-data' && multipartAllowed) return;
  throw unsupportedMediaType(type);
}

const unsupportedMediaType = (type: string): ApiError =>
  new ApiError(415, 'unsupported_media_type', `request bodies must be application/json, not ${type}`);

/**
 * A state-changing request a browser sends from another site's page (cross-site request forgery) carries that page's
 * Origin, or Sec-Fetch-Site: cross-site. Such requests are refused (403) before anything runs; requests without
 * either header (curl, rabbitmqadmin, client libraries) and the API's own web UI (same origin) are unaffected.
 */
export function checkOrigin(req: IncomingMessage): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site' || site === 'same-site') throw crossOrigin(`Sec-Fetch-Site: ${site}`);
  const origin = req.headers.origin;
  if (origin === undefined) return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw crossOrigin(`Origin: ${origin}`);
  }
  if (host === '' || host.toLowerCase() !== (req.headers.host ?? '').toLowerCase()) throw crossOrigin(`Origin: ${origin}`);
}

const crossOrigin = (what: string): ApiError =>
  new ApiError(403, 'forbidden', `cross-origin request refused (${what.slice(0, 200)}): the API only takes writes from its own origin`);

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
