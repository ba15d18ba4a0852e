import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PeerError } from './errors.ts';
import { cryptoRandom } from './random.ts';

/** Erlang writes 20 upper-case letters; we do the same, so a cookie file can be shared with Erlang tooling. */
const GENERATED_COOKIE_LENGTH = 20;
const COOKIE_FILE_MODE = 0o600;

function generateCookie(): string {
  const bytes = cryptoRandom.bytes(GENERATED_COOKIE_LENGTH);
  // 256 % 26 != 0 leaves a slight bias toward A-V; irrelevant next to 20 letters (~94 bits).
  return Array.from(bytes, (b) => String.fromCharCode(65 + (b % 26))).join('');
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

export interface ReadCookieOptions {
  /** Create the file with a random cookie and mode 0600 if it does not exist. Default true, as Erlang does. */
  readonly create?: boolean;
}

/**
 * Reads the shared cookie from `path` (like ~/.erlang.cookie). Refuses a file that group or others can read or
 * write, as Erlang does ("Cookie file ... must be accessible by owner only"), because anyone who can read it can
 * join the cluster. Surrounding whitespace is ignored.
 */
export async function readCookieFile(path: string, options?: ReadCookieOptions): Promise<string> {
  const create = options?.create ?? true;
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new PeerError('COOKIE_FILE', `cookie file ${path}: ${(error as Error).message}`);
    }
    if (!create) throw new PeerError('COOKIE_FILE', `cookie file ${path} does not exist`);
    return createCookieFile(path);
  }
  if (!info.isFile()) throw new PeerError('COOKIE_FILE', `cookie file ${path} is not a regular file`);
  if ((info.mode & 0o077) !== 0) {
    throw new PeerError(
      'COOKIE_FILE',
      `cookie file ${path} has mode ${octal(info.mode)}; it must be accessible by its owner only (chmod 600 ${path})`,
    );
  }
  const cookie = (await readFile(path, 'utf8')).trim();
  if (cookie.length === 0) throw new PeerError('COOKIE_FILE', `cookie file ${path} is empty`);
  return cookie;
}

/**
 * Creates the file so that no reader ever sees it without its cookie: nodes started together (a lab, a test suite,
 * systemd bringing up several units) race to create one shared file. The cookie is written and synced under a private
 * temporary name in the same directory, then hard-linked to `path`; link(2) fails with EEXIST rather than replace a
 * file another process created meanwhile, and then that file's cookie is the one to use.
 */
async function createCookieFile(path: string): Promise<string> {
  const cookie = generateCookie();
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Buffer.from(cryptoRandom.bytes(6)).toString('hex')}`);
  try {
    let handle;
    try {
      // 'wx' with a random name: never follow or reuse someone else's file; the mode applies at creation.
      handle = await open(temporary, 'wx', COOKIE_FILE_MODE);
    } catch (error) {
      throw new PeerError('COOKIE_FILE', `cannot create cookie file ${path}: ${(error as Error).message}`);
    }
    try {
      // The umask can only remove bits from 0600; chmod anyway in case the file system ignored the creation mode.
      await handle.chmod(COOKIE_FILE_MODE);
      await handle.writeFile(cookie, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    try {
      await link(temporary, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readCookieFile(path, { create: false });
      throw new PeerError('COOKIE_FILE', `cannot create cookie file ${path}: ${(error as Error).message}`);
    }
    return cookie;
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
}
