// What brokerctl and a node say to each other over the control channel (cli/control.ts), and what a cluster member
// forwards to another (ClusterService.runOn): one request per command, one reply. A leaf module, so the cluster can
// carry these without importing the commands themselves (they are given to it: ClusterService's runCommand option).
export interface CommandRequest {
  cmd: string;
  args: string[];
  vhost: string;
  flags: Record<string, string | boolean>;
}

export interface CommandResult {
  /** "Listing queues for vhost / ..." — hidden by -q */
  info?: string;
  columns?: string[];
  rows?: unknown[][];
  /** free text output (status) */
  text?: string;
  /** what --formatter json prints when there are no rows */
  json?: unknown;
  /** ask the node to exit after replying */
  exit?: boolean;
}

/** A usage or data error: brokerctl prints it and exits with the code (64 usage, 65 data, 69 unavailable, 70 software). */
export class CommandError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 70) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface ControlReply {
  ok: boolean;
  result?: CommandResult;
  error?: string;
  exitCode?: number;
}
