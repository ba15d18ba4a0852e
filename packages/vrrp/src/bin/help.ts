/** `vrrpd --help`: every option, signal, default and exit status of the vrrpd binary (see also README.md). */

/** keepalived's default configuration file, used when no -f is given. */
export const DEFAULT_CONFIG_FILE = '/etc/keepalived/keepalived.conf';

export const VRRPD_HELP = `Usage: vrrpd [options]

A keepalived-compatible VRRP agent (Warren): runs the VRRP part of keepalived.conf (vrrp_instance, vrrp_script,
global_defs), VRRPv2/v3, multicast or unicast, virtual IPs via iproute2, gratuitous ARP via arping, track and
notify scripts. Needs root (raw sockets, ip addr) to run; not to check a configuration.

Options:
  -f, --use-file FILE        configuration file (default ${DEFAULT_CONFIG_FILE})
  -t, --config-test          check the configuration and exit with keepalived -t's codes: 0 ok,
                             4 file not found, 5 configuration error (also a missing interface or
                             script), 6 security violation (scripts without enable_script_security)
  -l, --log-console          log to the console (the default; accepted for keepalived compatibility)
  -D, --log-detail           detailed log (every invalid packet, GARP burst and unknown VRID)
  -g, --log-file FILE        log to FILE instead of stdout
  -s, --status-socket PATH   serve status JSON over HTTP on a unix socket
      --status-port PORT     serve status JSON over HTTP on 127.0.0.1:PORT (0 = any free port)
  -p, --pid FILE             write the pid to FILE; removed at exit
  -r, --vrrp_pid FILE        the same (keepalived's VRRP child pid file)
  -n, --dont-fork            accepted (vrrpd never forks)
  -P, --vrrp                 accepted (vrrpd only does VRRP)
  -h, --help                 print this help and exit

Signals:
  SIGHUP     reload the configuration file: unchanged instances keep running, changed ones hand over and restart;
             a configuration with errors is logged and the running one kept
  SIGTERM, SIGINT
             stop: a master sends a priority 0 advert and removes its virtual IPs; notify_stop runs
  SIGUSR1    log the status JSON

Logs go to stdout (under systemd, the journal) or to --log-file.

Exit status: 0 stopped cleanly or configuration valid, 1 start-up error, 2 bad option; with -t, 4, 5 or 6 as above.
`;
