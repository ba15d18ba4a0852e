// VRRP advertisement codec and receive checks for IPv4.
//
// VRRPv2 (RFC 3768 §5.1):                 VRRPv3 (RFC 5798 §5.1, RFC 9568 §5.1):
//   0      ver|type  vrid  prio  count      0      ver|type  vrid  prio  count
//   4      auth_type adver_int checksum     4      rsvd(4)|max_adver_int(12, cs)  checksum
//   8..    IPv4 addresses                   8..    IPv4 addresses
//   ..+8   authentication data (8 bytes)
//
// The checksum is the Internet checksum of the VRRP message. For v3 over IPv4 RFC 5798 §5.2.8 also covers an
// IPv4 pseudo-header (src, dst, 0, 112, length); keepalived does that (captures in test/vrrp/fixtures) unless
// `v3_checksum_as_v2` is set, for peers that sum the message alone. Encoding and checking are pure; sockets
// live in socket.ts.

export const VRRP_PROTOCOL = 112;
export const VRRP_MCAST_ADDR = '224.0.0.18';
export const VRRP_TTL = 255; // RFC 5798 §5.1.1.3
export const VRRP_TOS = 0xc0; // keepalived: network control precedence
export const VRRP_TYPE_ADVERTISEMENT = 1;
export const VRRP_AUTH_NONE = 0;
export const VRRP_AUTH_PASS = 1; // RFC 2338 §5.3.6.2, kept by keepalived for v2
export const VRRP_AUTH_AH = 2;
export const VRRP_AUTH_DATA_LEN = 8;
export const VRRP_HEADER_LEN = 8;
export const IPV4_HEADER_MIN_LEN = 20;
/** v3 Max Adver Int is a 12-bit count of centiseconds (RFC 5798 §5.2.7). */
export const VRRP_V3_MAX_INTERVAL_CS = 0x0fff;

export type VrrpVersion = 2 | 3;

export interface Advert {
  version: VrrpVersion;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds (v2 carries whole seconds; stored here × 100). */
  intervalCs: number;
  addresses: string[];
  /** v2 only: 0 none, 1 simple password. v3 has no authentication (RFC 5798 §9). */
  authType: number;
  /** v2 PASS: up to 8 bytes, NUL padded on the wire. */
  authData: string;
}

export interface Ipv4Header {
  headerLength: number;
  totalLength: number;
  ttl: number;
  protocol: number;
  src: string;
  dst: string;
}

export function ipToInt(ip: string): number {
  const p = ip.split('.');
  if (p.length !== 4) return Number.NaN;
  let n = 0;
  for (const s of p) {
    const v = Number(s);
    if (!/^\d{1,3}$/.test(s) || v > 255) return Number.NaN;
    n = n * 256 + v;
  }
  return n;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** One's complement sum folded to 16 bits, over several buffers treated as one stream of even-length parts. */
function onesSum(parts: Buffer[]): number {
  let sum = 0;
  for (const b of parts) {
    let i = 0;
    for (; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (i < b.length) sum += b[i]! << 8;
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

export function internetChecksum(...parts: Buffer[]): number {
  return ~onesSum(parts) & 0xffff;
}

function pseudoHeader(src: string, dst: string, length: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(ipToInt(src) >>> 0, 0);
  b.writeUInt32BE(ipToInt(dst) >>> 0, 4);
  b[9] = VRRP_PROTOCOL;
  b.writeUInt16BE(length, 10);
  return b;
}

export interface ChecksumContext {
  src: string;
  dst: string;
  /** keepalived `v3_checksum_as_v2`: leave the pseudo-header out of the v3 sum. */
  v3ChecksumAsV2?: boolean;
}

/** Checksum of a VRRP message whose checksum field is zero (or summed as-is for verification). */
export function vrrpChecksum(msg: Buffer, version: VrrpVersion, ctx: ChecksumContext): number {
  if (version === 3 && ctx.v3ChecksumAsV2 !== true) {
    return internetChecksum(pseudoHeader(ctx.src, ctx.dst, msg.length), msg);
  }
  return internetChecksum(msg);
}

/** Encode the VRRP message (no IP header) with its checksum. */
export function encodeAdvert(a: Advert, ctx: ChecksumContext): Buffer {
  const n = a.addresses.length;
  const len = VRRP_HEADER_LEN + 4 * n + (a.version === 2 ? VRRP_AUTH_DATA_LEN : 0);
  const b = Buffer.alloc(len);
  b[0] = (a.version << 4) | VRRP_TYPE_ADVERTISEMENT;
  b[1] = a.vrid;
  b[2] = a.priority;
  b[3] = n;
  if (a.version === 2) {
    b[4] = a.authType;
    b[5] = Math.max(1, Math.round(a.intervalCs / 100)); // RFC 3768 §5.3.7: seconds
  } else {
    b.writeUInt16BE(Math.min(VRRP_V3_MAX_INTERVAL_CS, Math.max(1, Math.round(a.intervalCs))) & 0x0fff, 4);
  }
  a.addresses.forEach((ip, i) => b.writeUInt32BE(ipToInt(ip) >>> 0, VRRP_HEADER_LEN + 4 * i));
  if (a.version === 2 && a.authType === VRRP_AUTH_PASS) {
    b.write(a.authData.slice(0, VRRP_AUTH_DATA_LEN), VRRP_HEADER_LEN + 4 * n, 'latin1');
  }
  b.writeUInt16BE(vrrpChecksum(b, a.version, ctx), 6);
  return b;
}

/** Build a full IPv4 packet (for an IP_HDRINCL socket): TOS 0xc0, TTL 255, protocol 112, DF clear. */
export function encodeIpv4(payload: Buffer, src: string, dst: string, id: number, ttl = VRRP_TTL): Buffer {
  const b = Buffer.alloc(IPV4_HEADER_MIN_LEN + payload.length);
  b[0] = 0x45;
  b[1] = VRRP_TOS;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(id & 0xffff, 4);
  b[8] = ttl;
  b[9] = VRRP_PROTOCOL;
  b.writeUInt32BE(ipToInt(src) >>> 0, 12);
  b.writeUInt32BE(ipToInt(dst) >>> 0, 16);
  b.writeUInt16BE(internetChecksum(b.subarray(0, IPV4_HEADER_MIN_LEN)), 10);
  payload.copy(b, IPV4_HEADER_MIN_LEN);
  return b;
}

export function decodeIpv4(b: Buffer): Ipv4Header | undefined {
  if (b.length < IPV4_HEADER_MIN_LEN || b[0]! >> 4 !== 4) return undefined;
  const headerLength = (b[0]! & 0x0f) * 4;
  if (headerLength < IPV4_HEADER_MIN_LEN || b.length < headerLength) return undefined;
  return {
    headerLength,
    totalLength: b.readUInt16BE(2),
    ttl: b[8]!,
    protocol: b[9]!,
    src: intToIp(b.readUInt32BE(12)),
    dst: intToIp(b.readUInt32BE(16)),
  };
}

/** Decode a VRRP message without validating it (see checkAdvert). Returns undefined if too short to read. */
export function decodeAdvert(msg: Buffer): Advert | undefined {
  if (msg.length < VRRP_HEADER_LEN) return undefined;
  const version = msg[0]! >> 4;
  const n = msg[3]!;
  if (msg.length < VRRP_HEADER_LEN + 4 * n) return undefined;
  const addresses: string[] = [];
  for (let i = 0; i < n; i++) addresses.push(intToIp(msg.readUInt32BE(VRRP_HEADER_LEN + 4 * i)));
  const v2 = version === 2;
  const authOff = VRRP_HEADER_LEN + 4 * n;
  const authData =
    v2 && msg.length >= authOff + VRRP_AUTH_DATA_LEN
      ? msg.subarray(authOff, authOff + VRRP_AUTH_DATA_LEN).toString('latin1').replace(/\0+$/, '')
      : '';
  return {
    version: v2 ? 2 : 3,
    vrid: msg[1]!,
    priority: msg[2]!,
    intervalCs: v2 ? msg[5]! * 100 : msg.readUInt16BE(4) & 0x0fff,
    addresses,
    authType: v2 ? msg[4]! : VRRP_AUTH_NONE,
    authData,
  };
}

/** Outcome of the receive checks; everything but OK is counted and logged, never acted on. */
export enum PacketCheck {
  OK = 'ok',
  TOO_SHORT = 'too_short',
  NOT_VRRP = 'not_vrrp',
  BAD_TTL = 'bad_ttl',
  BAD_VERSION = 'bad_version',
  BAD_TYPE = 'bad_type',
  OTHER_VRID = 'other_vrid',
  BAD_CHECKSUM = 'bad_checksum',
  BAD_AUTH_TYPE = 'bad_auth_type',
  BAD_AUTH = 'bad_auth',
  BAD_INTERVAL = 'bad_interval',
  BAD_LENGTH = 'bad_length',
  /** A valid advert whose address list is not ours (keepalived: addr_list_err, the advert is dropped). */
  ADDRESS_LIST = 'address_list',
  OWN_PACKET = 'own_packet',
}

export interface ReceiverExpectations {
  version: VrrpVersion;
  vrid: number;
  /** Multicast mode checks TTL 255; unicast mode does not (keepalived's unicast_ttl may differ). */
  unicast: boolean;
  authType: number;
  authPass: string;
  /** v2: the advert interval must match ours (RFC 3768 §7.1). */
  intervalCs: number;
  v3ChecksumAsV2: boolean;
  /** Our own source address(es): looped-back adverts are dropped. */
  ownAddresses: readonly string[];
}

export interface CheckedPacket {
  check: PacketCheck;
  ip?: Ipv4Header;
  advert?: Advert;
}

/**
 * RFC 3768 §7.1 / RFC 5798 §7.1 "MAY verify that the IP address(es) associated with the VRID are valid":
 * keepalived does (unless vrrp_skip_check_adv_addr) and drops an advert whose address count differs from ours or
 * that lacks one of our addresses, with these log lines (vrrp.c, vrrp_check_packet). Returns the reason, or
 * undefined when the list is ours.
 */
export function addressListProblem(instance: string, vrid: number, theirs: readonly string[], ours: readonly string[]): string | undefined {
  if (theirs.length !== ours.length) {
    return `(${instance}) received an unexpected ip number count ${theirs.length}, expected ${ours.length}!`;
  }
  const s = new Set(theirs);
  const missing = ours.find((x) => !s.has(x));
  if (missing !== undefined) return `(${instance}) ip address associated with VRID ${vrid} not present in MASTER advert: ${missing}`;
  return undefined;
}

/** RFC 3768 §7.1 / RFC 5798 §7.1: receive checks in RFC order, on a whole IPv4 packet. */
export function checkPacket(pkt: Buffer, exp: ReceiverExpectations): CheckedPacket {
  const ip = decodeIpv4(pkt);
  if (ip === undefined) return { check: PacketCheck.TOO_SHORT };
  if (ip.protocol !== VRRP_PROTOCOL) return { check: PacketCheck.NOT_VRRP, ip };
  if (exp.ownAddresses.includes(ip.src)) return { check: PacketCheck.OWN_PACKET, ip };
  const msg = pkt.subarray(ip.headerLength, Math.min(pkt.length, ip.totalLength || pkt.length));
  if (msg.length < VRRP_HEADER_LEN) return { check: PacketCheck.TOO_SHORT, ip };
  // RFC 5798 §7.1: MUST verify that the IP TTL is 255 (multicast only in keepalived's unicast mode).
  if (!exp.unicast && ip.ttl !== VRRP_TTL) return { check: PacketCheck.BAD_TTL, ip };
  const version = msg[0]! >> 4;
  if (version !== exp.version) return { check: PacketCheck.BAD_VERSION, ip };
  if ((msg[0]! & 0x0f) !== VRRP_TYPE_ADVERTISEMENT) return { check: PacketCheck.BAD_TYPE, ip };
  const advert = decodeAdvert(msg);
  if (advert === undefined) return { check: PacketCheck.BAD_LENGTH, ip };
  const expectedLen = VRRP_HEADER_LEN + 4 * advert.addresses.length + (version === 2 ? VRRP_AUTH_DATA_LEN : 0);
  if (msg.length < expectedLen) return { check: PacketCheck.BAD_LENGTH, ip, advert };
  const body = msg.subarray(0, expectedLen);
  // RFC 5798 §7.1: MUST verify the checksum.
  const sum = vrrpChecksum(body, advert.version, { src: ip.src, dst: ip.dst, v3ChecksumAsV2: exp.v3ChecksumAsV2 });
  if (sum !== 0) return { check: PacketCheck.BAD_CHECKSUM, ip, advert };
  // RFC 5798 §7.1: MUST verify the VRID is configured on the receiving interface (otherwise: another group).
  if (advert.vrid !== exp.vrid) return { check: PacketCheck.OTHER_VRID, ip, advert };
  if (version === 2) {
    // RFC 3768 §7.1: auth type must match, and the simple password must match.
    if (advert.authType !== exp.authType) return { check: PacketCheck.BAD_AUTH_TYPE, ip, advert };
    if (exp.authType === VRRP_AUTH_PASS && advert.authData !== exp.authPass.slice(0, VRRP_AUTH_DATA_LEN)) {
      return { check: PacketCheck.BAD_AUTH, ip, advert };
    }
    // RFC 3768 §7.1: MUST verify the Adver Interval matches the locally configured one.
    if (advert.intervalCs !== Math.max(1, Math.round(exp.intervalCs / 100)) * 100) {
      return { check: PacketCheck.BAD_INTERVAL, ip, advert };
    }
  }
  return { check: PacketCheck.OK, ip, advert };
}
