// The VRRP state machine as a pure function: step(params, state, event) -> { state, actions }.
//
// No sockets, no timers, no clock reads: the caller passes `now` (ms) with every event, timers are deadlines kept
// in the state (`advertAt`, `masterDownAt`), and the runtime (scheduler.ts / instance.ts) fires TIMER events
// when they are due and carries out the actions. Handlers follow keepalived's naming `vrrp_state_<state>_<event>`.
//
// States (RFC 5798 §6.4): INIT, BACKUP, MASTER, plus keepalived's FAULT (a tracked interface is down or a
// weight-0 track script failed) and STOP after a graceful shutdown.

import { ipToInt } from './packet.ts';

export type VrrpState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

export const VRRP_PRIO_OWNER = 255; // RFC 5798 §5.2.4: the address owner
export const VRRP_PRIO_STOP = 0; // RFC 5798 §5.2.4: the master is stopping

export interface MachineParams {
  version: 2 | 3;
  /** Configured Advertisement_Interval in centiseconds. */
  advertIntervalCs: number;
  /** Preempt_Mode (RFC 5798 §6.1); keepalived's `nopreempt` clears it. */
  preempt: boolean;
  /** keepalived preempt_delay: ms a backup waits after startup / first lower-priority advert before preempting. */
  preemptDelayMs: number;
  /** Our primary address (source of our adverts), for the RFC 5798 §6.4.3 tie-break. */
  primaryIp: string;
  /** keepalived sends an advert straight back to a lower-priority master (default, unless lower_prio_no_advert). */
  lowerPrioAdvert: boolean;
}

export interface MachineState {
  state: VrrpState;
  /** Effective priority: configured priority adjusted by track-script weights. */
  priority: number;
  /** Master_Adver_Interval in centiseconds: learned from the master in v3 (RFC 5798 §6.4.2), ours in v2. */
  masterAdverIntervalCs: number;
  /** Deadline (ms) of the Adver_Timer while MASTER. */
  advertAt?: number;
  /** Deadline (ms) of the Master_Down_Timer while BACKUP. */
  masterDownAt?: number;
  /** keepalived preempt_delay: no preemption before this time. */
  preemptAllowedAt?: number;
  /** Address of the master we last heard (or our own while MASTER). */
  masterIp?: string;
  masterPriority?: number;
  /** Why we are in a fault state (interface/script names), while FAULT. */
  faults: string[];
}

export type MachineEvent =
  | { type: 'START'; now: number }
  | { type: 'TIMER'; now: number }
  | { type: 'ADVERT'; now: number; src: string; priority: number; intervalCs: number }
  | { type: 'PRIORITY'; now: number; priority: number }
  | { type: 'FAULT'; now: number; faults: string[] }
  | { type: 'SHUTDOWN'; now: number };

export type MachineAction =
  | { type: 'SEND_ADVERT'; priority: number }
  | { type: 'ADD_VIPS' }
  | { type: 'REMOVE_VIPS' }
  | { type: 'SEND_GARP' }
  | { type: 'TRANSITION'; from: VrrpState; to: VrrpState; reason: string };

export interface StepResult {
  state: MachineState;
  actions: MachineAction[];
}

// RFC 5798 §6.1 timer formulas, in centiseconds (v2: RFC 3768 §6.1 in seconds, i.e. Priority/256 s).
/** Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256 (v3); (256 - Priority) / 256 s (v2). */
export function skewTimeCs(version: 2 | 3, priority: number, masterAdverIntervalCs: number): number {
  return version === 3 ? ((256 - priority) * masterAdverIntervalCs) / 256 : ((256 - priority) * 100) / 256;
}

/** Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time. */
export function masterDownIntervalCs(version: 2 | 3, priority: number, masterAdverIntervalCs: number): number {
  return 3 * masterAdverIntervalCs + skewTimeCs(version, priority, masterAdverIntervalCs);
}

export const VRRP_MS_DOWN_TIMER = (p: MachineParams, s: MachineState): number =>
  masterDownIntervalCs(p.version, s.priority, s.masterAdverIntervalCs) * 10;
export const VRRP_SKEW_TIMER = (p: MachineParams, s: MachineState): number =>
  skewTimeCs(p.version, s.priority, s.masterAdverIntervalCs) * 10;
export const VRRP_ADVER_TIMER = (p: MachineParams): number => p.advertIntervalCs * 10;

export function initialState(params: MachineParams, priority: number): MachineState {
  return { state: 'INIT', priority, masterAdverIntervalCs: params.advertIntervalCs, faults: [] };
}

const transition = (from: VrrpState, to: VrrpState, reason: string): MachineAction => ({
  type: 'TRANSITION',
  from,
  to,
  reason,
});

function without(s: MachineState, ...keys: ('advertAt' | 'masterDownAt' | 'preemptAllowedAt')[]): MachineState {
  const c = { ...s };
  for (const k of keys) delete c[k];
  return c;
}

// RFC 5798 §6.4.1 (and §6.4.2 "Master_Down_Timer fires"): become master.
function goMaster(p: MachineParams, s: MachineState, now: number, reason: string): StepResult {
  const next: MachineState = {
    ...without(s, 'masterDownAt', 'preemptAllowedAt'),
    state: 'MASTER',
    advertAt: now + VRRP_ADVER_TIMER(p),
    masterIp: p.primaryIp,
    masterPriority: s.priority,
    masterAdverIntervalCs: p.advertIntervalCs,
  };
  return {
    state: next,
    // What the clients wait for first: the GARPs that repoint them and the VIPs that answer them, then the advert,
    // all issued in this turn; the log line and notify scripts only after all of that is on its way. keepalived
    // (vrrp_state_master_tx) sends advert, VIPs, GARPs from one process within a fraction of a millisecond;
    // vrrpd's GARPs and VIPs go to helper processes, and waking one can cost this process its CPU for tens of
    // ms on a busy machine (measured at load 24), so both helper requests are written before anything else.
    actions: [
      { type: 'SEND_GARP' },
      { type: 'ADD_VIPS' },
      { type: 'SEND_ADVERT', priority: s.priority },
      transition(s.state, 'MASTER', reason),
    ],
  };
}

// RFC 5798 §6.4.1: become backup; Master_Down_Timer = Master_Down_Interval.
function goBackup(p: MachineParams, s: MachineState, now: number, reason: string, extra: MachineAction[] = []): StepResult {
  const base: MachineState = { ...without(s, 'advertAt'), state: 'BACKUP', masterAdverIntervalCs: s.masterAdverIntervalCs };
  const next: MachineState = { ...base, masterDownAt: now + VRRP_MS_DOWN_TIMER(p, base) };
  if (p.preemptDelayMs > 0 && s.state === 'INIT') next.preemptAllowedAt = now + p.preemptDelayMs;
  const leaving: MachineAction[] = s.state === 'MASTER' ? [{ type: 'REMOVE_VIPS' }] : [];
  return { state: next, actions: [...extra, ...leaving, transition(s.state, 'BACKUP', reason)] };
}

function vrrp_state_init_start(p: MachineParams, s: MachineState, now: number): StepResult {
  // RFC 5798 §6.4.1: the address owner goes straight to MASTER; everyone else waits a Master_Down_Interval.
  if (s.priority === VRRP_PRIO_OWNER) return goMaster(p, s, now, 'address owner (priority 255) starting');
  return goBackup(p, { ...s, masterAdverIntervalCs: p.advertIntervalCs }, now, 'starting');
}

function vrrp_state_backup_timer(p: MachineParams, s: MachineState, now: number): StepResult {
  if (s.masterDownAt !== undefined && now >= s.masterDownAt) {
    if (s.masterPriority === VRRP_PRIO_STOP) {
      const skew = (VRRP_SKEW_TIMER(p, s) / 1000).toFixed(3);
      return goMaster(p, s, now, `master ${s.masterIp ?? '?'} sent priority 0 (stopping); took over after Skew_Time (${skew} s)`);
    }
    const waited = (VRRP_MS_DOWN_TIMER(p, s) / 1000).toFixed(3);
    return goMaster(p, s, now, `no advert from a master for Master_Down_Interval (${waited} s)`);
  }
  return { state: s, actions: [] };
}

// RFC 5798 §6.4.2: Backup receives an ADVERTISEMENT.
function vrrp_state_backup_advert(
  p: MachineParams,
  s: MachineState,
  e: Extract<MachineEvent, { type: 'ADVERT' }>,
): StepResult {
  if (e.priority === VRRP_PRIO_STOP) {
    // The master is leaving: take over after Skew_Time only.
    return {
      state: { ...s, masterDownAt: e.now + VRRP_SKEW_TIMER(p, s), masterIp: e.src, masterPriority: 0 },
      actions: [],
    };
  }
  const delaying = s.preemptAllowedAt !== undefined && e.now < s.preemptAllowedAt;
  if (!p.preempt || e.priority >= s.priority || delaying) {
    // v3 learns the master's interval (RFC 5798 §6.4.2); v2 intervals must match, checked on receive.
    const mai = p.version === 3 ? e.intervalCs : s.masterAdverIntervalCs;
    const next: MachineState = { ...s, masterAdverIntervalCs: mai, masterIp: e.src, masterPriority: e.priority };
    next.masterDownAt = e.now + VRRP_MS_DOWN_TIMER(p, next);
    return { state: next, actions: [] };
  }
  // Preempt: discard the lower-priority advert and let the Master_Down_Timer expire.
  return { state: s, actions: [] };
}

function vrrp_state_master_timer(p: MachineParams, s: MachineState, now: number): StepResult {
  if (s.advertAt !== undefined && now >= s.advertAt) {
    return {
      state: { ...s, advertAt: now + VRRP_ADVER_TIMER(p) },
      actions: [{ type: 'SEND_ADVERT', priority: s.priority }],
    };
  }
  return { state: s, actions: [] };
}

// RFC 5798 §6.4.3: Master receives an ADVERTISEMENT.
function vrrp_state_master_advert(
  p: MachineParams,
  s: MachineState,
  e: Extract<MachineEvent, { type: 'ADVERT' }>,
): StepResult {
  if (e.priority === VRRP_PRIO_STOP) {
    // Another master is stopping: assert ourselves at once.
    return {
      state: { ...s, advertAt: e.now + VRRP_ADVER_TIMER(p) },
      actions: [{ type: 'SEND_ADVERT', priority: s.priority }],
    };
  }
  const higher = e.priority > s.priority;
  const tieLost = e.priority === s.priority && ipToInt(e.src) > ipToInt(p.primaryIp);
  if (higher || tieLost) {
    const mai = p.version === 3 ? e.intervalCs : s.masterAdverIntervalCs;
    const why = higher
      ? `advert from ${e.src} with higher priority ${e.priority} > ${s.priority}`
      : `advert from ${e.src} with equal priority ${e.priority} and higher address`;
    const r = goBackup(p, { ...s, masterAdverIntervalCs: mai }, e.now, why);
    r.state.masterIp = e.src;
    r.state.masterPriority = e.priority;
    return r;
  }
  // Lower priority master: RFC says discard; keepalived answers with an advert so it steps down sooner.
  return { state: s, actions: p.lowerPrioAdvert ? [{ type: 'SEND_ADVERT', priority: s.priority }] : [] };
}

function enterFault(s: MachineState, faults: string[]): StepResult {
  const actions: MachineAction[] = [];
  // Leaving MASTER for FAULT: tell the backups at once (priority 0) so they take over after Skew_Time.
  if (s.state === 'MASTER') actions.push({ type: 'SEND_ADVERT', priority: VRRP_PRIO_STOP }, { type: 'REMOVE_VIPS' });
  actions.push(transition(s.state, 'FAULT', `fault: ${faults.join(', ')}`));
  return { state: { ...without(s, 'advertAt', 'masterDownAt'), state: 'FAULT', faults }, actions };
}

function vrrp_state_fault_event(p: MachineParams, s: MachineState, e: MachineEvent): StepResult {
  if (e.type === 'FAULT' && e.faults.length === 0) {
    if (s.priority === VRRP_PRIO_OWNER) return goMaster(p, { ...s, faults: [] }, e.now, 'fault cleared (address owner)');
    return goBackup(p, { ...s, faults: [], masterAdverIntervalCs: p.advertIntervalCs }, e.now, 'fault cleared');
  }
  if (e.type === 'FAULT') return { state: { ...s, faults: e.faults }, actions: [] };
  if (e.type === 'PRIORITY') return { state: { ...s, priority: e.priority }, actions: [] };
  if (e.type === 'SHUTDOWN') return { state: { ...s, state: 'STOP' }, actions: [transition('FAULT', 'STOP', 'shutdown')] };
  return { state: s, actions: [] };
}

/** The machine: one pure step. */
export function step(p: MachineParams, s: MachineState, e: MachineEvent): StepResult {
  if (s.state === 'STOP') return { state: s, actions: [] };
  if (s.state === 'FAULT') return vrrp_state_fault_event(p, s, e);
  if (e.type === 'FAULT') {
    if (e.faults.length > 0) return enterFault(s, e.faults);
    return { state: s, actions: [] };
  }
  if (e.type === 'SHUTDOWN') {
    // RFC 5798 §6.4.3: a stopping master sends an advert with priority 0, then removes its addresses.
    // The advert leaves before the VIP removal is even issued (a synchronous send, socket.ts).
    const actions: MachineAction[] = [];
    if (s.state === 'MASTER') actions.push({ type: 'SEND_ADVERT', priority: VRRP_PRIO_STOP }, { type: 'REMOVE_VIPS' });
    actions.push(transition(s.state, 'STOP', 'shutdown'));
    return { state: { ...without(s, 'advertAt', 'masterDownAt', 'preemptAllowedAt'), state: 'STOP' }, actions };
  }
  if (e.type === 'PRIORITY') {
    const next = { ...s, priority: e.priority };
    if (s.state === 'MASTER') {
      // keepalived: advertise a priority change at once so a preempting backup can react.
      return { state: { ...next, masterPriority: e.priority }, actions: [{ type: 'SEND_ADVERT', priority: e.priority }] };
    }
    return { state: next, actions: [] };
  }
  switch (s.state) {
    case 'INIT':
      return e.type === 'START' ? vrrp_state_init_start(p, s, e.now) : { state: s, actions: [] };
    case 'BACKUP':
      if (e.type === 'TIMER') return vrrp_state_backup_timer(p, s, e.now);
      if (e.type === 'ADVERT') return vrrp_state_backup_advert(p, s, e);
      return { state: s, actions: [] };
    case 'MASTER':
      if (e.type === 'TIMER') return vrrp_state_master_timer(p, s, e.now);
      if (e.type === 'ADVERT') return vrrp_state_master_advert(p, s, e);
      return { state: s, actions: [] };
  }
}

/** The earliest pending deadline, for the scheduler. */
export function nextDeadline(s: MachineState): number | undefined {
  if (s.state === 'MASTER') return s.advertAt;
  if (s.state === 'BACKUP') return s.masterDownAt;
  return undefined;
}
