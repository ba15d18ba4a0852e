// Who may do what: RabbitMQ's management user tags and the AMQP permissions of the user in a vhost.
//   administrator ⊃ monitoring ⊃ management, administrator ⊃ policymaker ⊃ management.
import type { Broker } from '../server/broker.ts';
import type { User, PermissionKind } from '../auth/users.ts';
import { ApiError, notAuthorised, notFound } from './http.ts';

export const MANAGEMENT_TAGS = ['management', 'policymaker', 'monitoring', 'administrator'];

export const isAdmin = (u: User): boolean => u.tags.includes('administrator');
export const isMonitor = (u: User): boolean => isAdmin(u) || u.tags.includes('monitoring');
export const isPolicymaker = (u: User): boolean => isAdmin(u) || u.tags.includes('policymaker');
export const isManagementUser = (u: User): boolean => u.tags.some((t) => MANAGEMENT_TAGS.includes(t));

export function requireAdmin(u: User): void {
  if (!isAdmin(u)) throw notAuthorised('Not administrator user');
}

export function requireMonitor(u: User): void {
  if (!isMonitor(u)) throw notAuthorised('Not monitor user');
}

export function requirePolicymaker(u: User): void {
  if (!isPolicymaker(u)) throw notAuthorised('Not policymaker user');
}

/** The vhosts a user sees in listings: all for administrators and monitors, else those it has permissions in. */
export function visibleVhosts(b: Broker, u: User): string[] {
  const all = [...b.vhosts.keys()];
  if (isMonitor(u)) return all;
  return all.filter((v) => b.permissionFor(u.name, v) !== null);
}

export function canSeeVhost(b: Broker, u: User, vhost: string): boolean {
  return isMonitor(u) || b.permissionFor(u.name, vhost) !== null;
}

/** The vhost must exist (404) and the user must see it (401). */
export function vhostForRead(b: Broker, u: User, vhost: string): NonNullable<ReturnType<Broker['vhosts']['get']>> {
  const vh = b.vhosts.get(vhost);
  if (!vh) throw notFound();
  if (!canSeeVhost(b, u, vhost)) throw notAuthorised('Access refused.');
  return vh;
}

/** For changes inside a vhost: the user needs permissions there, whatever its tags (RabbitMQ does the same). */
export function vhostForWrite(b: Broker, u: User, vhost: string): NonNullable<ReturnType<Broker['vhosts']['get']>> {
  const vh = b.vhosts.get(vhost);
  if (!vh) throw notFound();
  if (b.permissionFor(u.name, vhost) === null) throw notAuthorised('Access refused.');
  return vh;
}

/** configure / write / read on a queue or exchange, as an AMQP channel checks it. */
export function checkResource(b: Broker, u: User, vhost: string, kind: PermissionKind, type: 'queue' | 'exchange', name: string): void {
  const perm = b.permissionFor(u.name, vhost);
  const n = type === 'exchange' && name === '' ? 'amq.default' : name;
  if (perm === null || !perm[kind].test(n)) {
    throw new ApiError(401, 'not_authorised', `ACCESS_REFUSED - ${kind} access to ${type} '${n}' in vhost '${vhost}' refused for user '${u.name}'`);
  }
}
