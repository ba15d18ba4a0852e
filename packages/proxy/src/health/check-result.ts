/**
 * A health check's outcome, reported by layer as haproxy does (configuration.txt §9.1, "check_status"):
 * L4 = TCP connect, L6 = a protocol greeting, L7 = an application answer.
 */
export type CheckStatus =
  | 'UNK' // unknown
  | 'INI' // initializing, no check run yet
  | 'L4OK' // layer 4 check passed
  | 'L4TOUT' // layer 1-4 timeout
  | 'L4CON' // layer 1-4 connection problem (refused, reset, unreachable)
  | 'L6OK'
  | 'L6TOUT'
  | 'L6RSP' // layer 6 invalid response
  | 'L7OK' // layer 7 check passed
  | 'L7TOUT' // layer 7 timeout: connected, but no answer in time (a wedged broker)
  | 'L7RSP' // layer 7 invalid response
  | 'L7STS'; // layer 7 response error (e.g. HTTP 5xx)

export interface CheckResult {
  status: CheckStatus;
  ok: boolean;
  info: string;
  code: number | null;
  durationMs: number;
}

export const CHECK_DESCRIPTION: Record<CheckStatus, string> = {
  UNK: 'Unknown',
  INI: 'Initializing',
  L4OK: 'Layer4 check passed',
  L4TOUT: 'Layer4 timeout',
  L4CON: 'Layer4 connection problem',
  L6OK: 'Layer6 check passed',
  L6TOUT: 'Layer6 timeout',
  L6RSP: 'Layer6 invalid response',
  L7OK: 'Layer7 check passed',
  L7TOUT: 'Layer7 timeout',
  L7RSP: 'Layer7 invalid response',
  L7STS: 'Layer7 wrong status',
};
