// CRC-32C (Castagnoli, the iSCSI/ext4/LevelDB checksum), table-driven, slicing by 8: eight table lookups per 8 bytes
// instead of one per byte. Node 20 has no built-in CRC (zlib.crc32 arrived in Node 22, and is CRC-32 IEEE).
// Castagnoli rather than IEEE: a larger minimum Hamming distance at the record sizes a message store writes.

const POLY = 0x82f63b78; // reversed 0x1EDC6F41

const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** Little-endian hosts read the bytes four at a time through an Int32Array over the buffer's memory. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
// The last ArrayBuffer seen and its Int32Array view: the store checksums records in a few long-lived buffers (the
// pending write buffers, a segment read at boot), so the view is made once per buffer, not per record.
let viewOf: ArrayBufferLike | null = null;
let view32: Int32Array<ArrayBufferLike> = new Int32Array(0);

/**
 * Continues a CRC-32C over bytes[start, end). Start a checksum with crc = 0; chain calls to cover several ranges
 * (crc32c(b, 9, n, crc32c(b, 0, 5))) without copying them together.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  if (LITTLE_ENDIAN && end - i >= 16) {
    // bytes one at a time up to a 4-byte boundary of the underlying memory, then 8 bytes per step as two words
    const base = bytes.byteOffset;
    while (((base + i) & 3) !== 0) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
    if (viewOf !== bytes.buffer) {
      viewOf = bytes.buffer;
      view32 = new Int32Array(bytes.buffer, 0, bytes.buffer.byteLength >>> 2);
    }
    const w = view32;
    let k = (base + i) >>> 2;
    const stop = k + ((end - i) >>> 3) * 2;
    while (k < stop) {
      const lo = c ^ w[k]!;
      const hi = w[k + 1]!;
      c =
        t[1792 + (lo & 0xff)]! ^
        t[1536 + ((lo >>> 8) & 0xff)]! ^
        t[1280 + ((lo >>> 16) & 0xff)]! ^
        t[1024 + (lo >>> 24)]! ^
        t[768 + (hi & 0xff)]! ^
        t[512 + ((hi >>> 8) & 0xff)]! ^
        t[256 + ((hi >>> 16) & 0xff)]! ^
        t[hi >>> 24]!;
      k += 2;
    }
    i = (k << 2) - base;
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
