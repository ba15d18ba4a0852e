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

/**
 * Continues a CRC-32C over bytes[start, end). Start a checksum with crc = 0; chain calls to cover several ranges
 * (crc32c(b, 9, n, crc32c(b, 0, 5))) without copying them together.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const t = TABLES;
  let c = ~crc;
  let i = start;
  const end8 = end - ((end - i) & 7);
  while (i < end8) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = t[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
