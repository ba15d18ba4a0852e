// A StoreFs over real files that fails, shortens or holds chosen calls: for tests of what the disc does wrong.
import { nodeFs, type StoreFs } from './store-fs.ts';

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

/**
 * Real files (node:fs), with faults scheduled per call: what the disc does to the next writes, syncs, cuts and
 * creates. A testing tool for the store and whatever waits on it (confirms, transactions, the disk alarm).
 */
export class FaultFs implements StoreFs {
  durableWrites = true;
  /**
   * per upcoming write: 'ok'; 'short' writes half (really) and returns that count; 'partial:<code>' writes half and
   * fails the rest with <code>; 'hold' writes, but calls back only at release(); any other string fails with that code
   */
  writes: string[] = [];
  syncs: string[] = [];
  truncates: string[] = [];
  opens: string[] = [];
  writeCalls = 0;
  private held: (() => void)[] = [];
  /** Calls back the held writes. */
  release(): void {
    for (const f of this.held.splice(0)) f();
  }
  get holding(): number {
    return this.held.length;
  }
  mkdirp = nodeFs.mkdirp;
  exists = nodeFs.exists;
  list = nodeFs.list;
  readFile = nodeFs.readFile;
  replaceFile = nodeFs.replaceFile;
  writeSync = nodeFs.writeSync;
  fsyncSync = nodeFs.fsyncSync;
  truncatePath = nodeFs.truncatePath;
  close = nodeFs.close;
  unlink = nodeFs.unlink;
  removeTree = nodeFs.removeTree;
  openAppend(path: string): number {
    const f = this.opens.shift();
    if (f !== undefined && f !== 'ok') throw errno(f);
    return nodeFs.openAppend(path);
  }
  write(fd: number, bytes: Uint8Array, offset: number, length: number, cb: (err: NodeJS.ErrnoException | null, n: number) => void): void {
    this.writeCalls++;
    const f = this.writes.shift() ?? 'ok';
    if (f === 'ok') return nodeFs.write(fd, bytes, offset, length, cb);
    if (f === 'hold') return nodeFs.write(fd, bytes, offset, length, (err, n) => this.held.push(() => cb(err, n)));
    if (f === 'short') return nodeFs.write(fd, bytes, offset, Math.max(1, length >> 1), cb);
    if (f.startsWith('partial:')) {
      // the disc fills up mid-write: half the bytes land, the next call gets the error
      this.writes.unshift(f.slice(8));
      return nodeFs.write(fd, bytes, offset, Math.max(1, length >> 1), cb);
    }
    setImmediate(() => cb(errno(f), 0));
  }
  fdatasync(fd: number, cb: (err: NodeJS.ErrnoException | null) => void): void {
    const f = this.syncs.shift();
    if (f !== undefined && f !== 'ok') return void setImmediate(() => cb(errno(f)));
    nodeFs.fdatasync(fd, cb);
  }
  truncateSync(fd: number, length: number): void {
    const f = this.truncates.shift();
    if (f !== undefined && f !== 'ok') throw errno(f);
    nodeFs.truncateSync(fd, length);
  }
}
