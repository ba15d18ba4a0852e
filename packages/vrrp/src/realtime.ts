// Run a takeover helper (ip -batch, the GARP sender) in the SCHED_FIFO class when the system allows it.
//
// Why: keepalived adds the VIPs and sends the GARPs from its own process in the same turn as the transition;
// vrrpd hands them to helper processes (ip-batch.ts, garp-helper.ts), and on a busy machine a woken helper in the
// normal class waited 4-35 ms (measured at load 14 on 2 cores) for a CPU, which clients see as failover time.
// In the real-time class the kernel runs it as soon as its pipe has a line. Both helpers only block on their
// input and do a few syscalls per takeover, so they cannot hog a CPU (and the kernel's RT throttling,
// sched_rt_runtime_us, caps them anyway). Where RT scheduling is not permitted (no CAP_SYS_NICE, a cgroup
// without an RT budget) or chrt is missing, the helper runs in the normal class.

/** Priority 1: the lowest real-time priority, above every normal process and below the kernel's own threads. */
export const HELPER_RT_PRIORITY = 1;

/** The command and arguments that run `argv` under SCHED_FIFO when possible, else as it is. */
export function realtimeArgv(argv: readonly string[]): [string, string[]] {
  const p = String(HELPER_RT_PRIORITY);
  const script = `chrt -f ${p} true 2>/dev/null && exec chrt -f ${p} "$@"; exec "$@"`;
  return ['sh', ['-c', script, 'sh', ...argv]];
}
