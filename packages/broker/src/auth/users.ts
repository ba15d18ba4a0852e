// Users, password hashes and permissions. Hashes use RabbitMQ's rabbit_password_hashing_sha256 format
// (base64 of 4-byte salt + SHA-256(salt + password)), so definitions exported from RabbitMQ import here.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface User {
  name: string;
  passwordHash: string;
  tags: string[];
}

export interface Permission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export function hashPassword(password: string, salt: Buffer = randomBytes(4)): string {
  const h = createHash('sha256').update(salt).update(password, 'utf8').digest();
  return Buffer.concat([salt, h]).toString('base64');
}

export function checkPassword(user: User, password: string): boolean {
  if (user.passwordHash === '') return false; // a user without a password cannot log in with PLAIN
  const stored = Buffer.from(user.passwordHash, 'base64');
  if (stored.length !== 36) return false;
  const candidate = Buffer.from(hashPassword(password, stored.subarray(0, 4)), 'base64');
  return timingSafeEqual(stored, candidate);
}

/** Compiled permission regexes for one user in one vhost. */
export class CompiledPermission {
  readonly configure: RegExp;
  readonly write: RegExp;
  readonly read: RegExp;
  constructor(p: Permission) {
    // an empty permission grants nothing (RabbitMQ reads '' as '^$')
    this.configure = new RegExp(p.configure === '' ? '^$' : p.configure);
    this.write = new RegExp(p.write === '' ? '^$' : p.write);
    this.read = new RegExp(p.read === '' ? '^$' : p.read);
  }
}

export type PermissionKind = 'configure' | 'write' | 'read';
