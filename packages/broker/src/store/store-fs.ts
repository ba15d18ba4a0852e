// The file operations the segment store performs, behind a small interface: the real one (node:fs) for the broker,
// and others for tests (faults injected into real files, a simulated disc that loses what was not synced). Only the
// calls a group commit makes are on the hot path (write, fdatasync): one call per queue per group, no allocation
// in the implementation beyond what node:fs does.
import {
  closeSync,
  constants,
  existsSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlink,
  write,
  writeSync,
} from 'node:fs';

export type WriteCallback = (err: NodeJS.ErrnoException | null, bytesWritten: number) => void;
export type DoneCallback = (err: NodeJS.ErrnoException | null) => void;

export interface StoreFs {
  /** true when a write on a file opened by openAppend is durable once it returns (O_DSYNC): no fdatasync needed */
  readonly durableWrites: boolean;
  mkdirp(path: string): void;
  exists(path: string): boolean;
  list(dir: string): string[];
  readFile(path: string): Buffer;
  /** Replaces a small file atomically and durably (a temporary file, fsync, rename). */
  replaceFile(path: string, data: string): void;
  /** Opens (creating) a file for appending. */
  openAppend(path: string): number;
  /** Writes bytes[offset, offset+length) at the end of the file; bytesWritten may be less than length. */
  write(fd: number, bytes: Uint8Array, offset: number, length: number, cb: WriteCallback): void;
  writeSync(fd: number, bytes: Uint8Array, offset: number, length: number): number;
  fdatasync(fd: number, cb: DoneCallback): void;
  fsyncSync(fd: number): void;
  /** Cuts the file to length and makes the new length durable. */
  truncateSync(fd: number, length: number): void;
  /** Opens an existing file, cuts it to length durably, closes it. */
  truncatePath(path: string, length: number): void;
  close(fd: number): void;
  /** Deletes a file, off the event loop where possible; a failure is ignored (the file is garbage either way). */
  unlink(path: string): void;
  removeTree(path: string): void;
}

/** O_DSYNC where the platform has it: a write is durable when it returns (else the store fdatasyncs after it). */
const O_DSYNC: number | undefined = constants.O_DSYNC;
const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | (O_DSYNC ?? 0);

function ignore(): void {
  /* gone either way */
}

export const nodeFs: StoreFs = {
  durableWrites: O_DSYNC !== undefined,
  mkdirp: (path) => void mkdirSync(path, { recursive: true }),
  exists: (path) => existsSync(path),
  list: (dir) => readdirSync(dir),
  readFile: (path) => readFileSync(path),
  replaceFile(path, data) {
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      const b = Buffer.from(data);
      let done = 0;
      while (done < b.length) {
        const n = writeSync(fd, b, done, b.length - done);
        if (n <= 0) throw Object.assign(new Error(`${tmp}: short write`), { code: 'EIO' });
        done += n;
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  },
  openAppend: (path) => openSync(path, APPEND_FLAGS, 0o600),
  write: (fd, bytes, offset, length, cb) => write(fd, bytes, offset, length, null, cb),
  writeSync: (fd, bytes, offset, length) => writeSync(fd, bytes, offset, length),
  fdatasync: (fd, cb) => fdatasync(fd, cb),
  fsyncSync: (fd) => fsyncSync(fd),
  truncateSync(fd, length) {
    ftruncateSync(fd, length);
    fdatasyncSync(fd);
  },
  truncatePath(path, length) {
    const fd = openSync(path, 'r+');
    try {
      ftruncateSync(fd, length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  },
  close: (fd) => closeSync(fd),
  unlink: (path) => unlink(path, ignore),
  removeTree: (path) => rmSync(path, { recursive: true, force: true }),
};
