import { randomFillSync } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { sha256 } from './hash.js';

/**
 * Random bytes are drawn from a pool refilled 4 KiB at a time: uuid's own source asks
 * the OS through webcrypto for every id (about 2 µs each, measured), and a chat turn
 * makes several.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let used = POOL_BYTES;

function random16(): Uint8Array {
  if (used + 16 > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    used = 0;
  }
  return pool.subarray(used, (used += 16));
}

/** uuid's monotonic v7 state, kept here because ids are made with our random bytes. */
let lastMs = -Infinity;
let seq = 0;

/**
 * Opaque, time-sortable ids (UUIDv7): sorting by id sorts by creation time, and ids
 * made in the same millisecond by this process count up (uuid's own rule: a random
 * 31-bit start, then +1).
 */
export function newId(): string {
  const random = random16();
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) lastMs++;
  }
  return uuidv7({ random, msecs: lastMs, seq });
}

/**
 * The `n`th id derived from `base` (a newId; n = 0 is `base` itself): a UUIDv7 with base's
 * time and the rest from a hash of both, so that two parties that know `base` name the same
 * row without asking each other (a stream's producer and whoever settles it if it dies).
 */
export function derivedId(base: string, n: number): string {
  if (n === 0) return base;
  const h = sha256(`${base}:${n}`);
  const variant = ((parseInt(h[3]!, 16) & 0x3) | 0x8).toString(16);
  return `${base.slice(0, 13)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(7, 19)}`;
}
