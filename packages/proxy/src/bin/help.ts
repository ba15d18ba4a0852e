/** `proxy --help`: every option, signal, default and exit status of the proxy binary (see also README.md). */

/** haproxy has no default; its Debian package's unit and init script use this file, and so does `proxy` without -f. */
export const DEFAULT_CONFIG_FILE = '/etc/haproxy/haproxy.cfg';

export const PROXY_HELP = `Usage: proxy [-f <cfgfile>]... [-c] [-p <pidfile>] [-q] [-db] [-V] [-D] [-v] [-h]

An HAProxy-compatible TCP load balancer (Warren). Reads haproxy.cfg: global, defaults, frontend, backend and
listen sections; round robin and other balance algorithms, health checks with inter/rise/fall, option amqp-check,
retries, redispatch, timeouts, maxconn, the stats page and the stats socket's runtime API.

Options:
  -f <cfgfile>   configuration file; repeat to read several files in order as one configuration
                 (default: ${DEFAULT_CONFIG_FILE})
  -c             check the configuration and exit: prints "Configuration file is valid" and exits 0, or reports
                 every error with file, line and directive and exits 1
  -p <pidfile>   write the process id to <pidfile> (overrides global 'pidfile'); removed at exit
  -q             quiet: no notices or warnings on stderr (alerts are still printed)
  -db            stay in the foreground, even where the configuration says 'daemon' (as haproxy -db)
  -V             accepted (verbose is the default)
  -D             daemon mode, as 'daemon' in the global section: the command returns once the proxy runs in the
                 background (its pid in 'pidfile' / -p), or fails with the proxy's error; under a service manager
                 use -db (the systemd unit in the package's systemd/ directory does)
  -v, -vv        print the version and exit
  -h, --help     print this help and exit

Signals:
  SIGHUP         reload the configuration files; established sessions keep running; a configuration with errors
                 is reported and the running one kept
  SIGTERM, SIGUSR1
                 stop gracefully: listeners close, sessions finish (bounded by global 'hard-stop-after')
  SIGINT, or a second SIGTERM
                 stop at once

Logs go to stderr ([NOTICE], [WARNING], [ALERT] lines; under systemd, the journal) and to the syslog targets of
'log' directives.

Exit status: 0 stopped cleanly or configuration valid, 1 configuration or start-up error, or a bad option.
`;
