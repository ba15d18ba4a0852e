/** Where the package reports what it did. Lines are complete sentences that name the peer. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** The default: info and above to stderr, prefixed with the local node name. */
export function stderrLogger(prefix: string): Logger {
  const write = (level: string, message: string): void => {
    process.stderr.write(`${new Date().toISOString()} [${level}] ${prefix}: ${message}\n`);
  };
  return {
    debug: () => {},
    info: (m) => write('info', m),
    warn: (m) => write('warning', m),
    error: (m) => write('error', m),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
