// One table of AMQP reply codes (AMQP 0-9-1 §1.9, constants) and the error classes that carry them.
// A ChannelError closes the channel (soft error); a ConnectionError closes the connection (hard error).

export const REPLY = {
  SUCCESS: 200,
  CONTENT_TOO_LARGE: 311,
  NO_ROUTE: 312,
  NO_CONSUMERS: 313,
  CONNECTION_FORCED: 320,
  INVALID_PATH: 402,
  ACCESS_REFUSED: 403,
  NOT_FOUND: 404,
  RESOURCE_LOCKED: 405,
  PRECONDITION_FAILED: 406,
  FRAME_ERROR: 501,
  SYNTAX_ERROR: 502,
  COMMAND_INVALID: 503,
  CHANNEL_ERROR: 504,
  UNEXPECTED_FRAME: 505,
  RESOURCE_ERROR: 506,
  NOT_ALLOWED: 530,
  NOT_IMPLEMENTED: 540,
  INTERNAL_ERROR: 541,
} as const;

export const REPLY_TEXT: Record<number, string> = {
  200: 'OK',
  311: 'CONTENT_TOO_LARGE',
  312: 'NO_ROUTE',
  313: 'NO_CONSUMERS',
  320: 'CONNECTION_FORCED',
  402: 'INVALID_PATH',
  403: 'ACCESS_REFUSED',
  404: 'NOT_FOUND',
  405: 'RESOURCE_LOCKED',
  406: 'PRECONDITION_FAILED',
  501: 'FRAME_ERROR',
  502: 'SYNTAX_ERROR',
  503: 'COMMAND_INVALID',
  504: 'CHANNEL_ERROR',
  505: 'UNEXPECTED_FRAME',
  506: 'RESOURCE_ERROR',
  530: 'NOT_ALLOWED',
  540: 'NOT_IMPLEMENTED',
  541: 'INTERNAL_ERROR',
};

export class AmqpError extends Error {
  readonly code: number;
  classId = 0;
  methodId = 0;
  constructor(code: number, text: string) {
    super(text);
    this.code = code;
  }
  /** RabbitMQ's reply-text shape: "NOT_FOUND - no queue 'q' in vhost '/'". */
  replyText(): string {
    const t = `${REPLY_TEXT[this.code] ?? 'ERROR'} - ${this.message}`;
    return t.length > 255 ? t.slice(0, 255) : t;
  }
}

export class ChannelError extends AmqpError {}
export class ConnectionError extends AmqpError {}

export class SyntaxError extends ConnectionError {
  constructor(text: string) {
    super(REPLY.SYNTAX_ERROR, text);
  }
}
export class FrameError extends ConnectionError {
  constructor(text: string) {
    super(REPLY.FRAME_ERROR, text);
  }
}

export const notFound = (text: string): ChannelError => new ChannelError(REPLY.NOT_FOUND, text);
export const accessRefused = (text: string): ChannelError => new ChannelError(REPLY.ACCESS_REFUSED, text);
export const preconditionFailed = (text: string): ChannelError => new ChannelError(REPLY.PRECONDITION_FAILED, text);
export const resourceLocked = (text: string): ChannelError => new ChannelError(REPLY.RESOURCE_LOCKED, text);
export const commandInvalid = (text: string): ConnectionError => new ConnectionError(REPLY.COMMAND_INVALID, text);
export const channelError = (text: string): ConnectionError => new ConnectionError(REPLY.CHANNEL_ERROR, text);
export const unexpectedFrame = (text: string): ConnectionError => new ConnectionError(REPLY.UNEXPECTED_FRAME, text);
export const notAllowed = (text: string): ConnectionError => new ConnectionError(REPLY.NOT_ALLOWED, text);
export const notImplemented = (text: string): ConnectionError => new ConnectionError(REPLY.NOT_IMPLEMENTED, text);
