import { endianness } from 'node:os';

/** Float32 vectors as both databases store them, and the one way similarity is computed. */

const LITTLE_ENDIAN = endianness() === 'LE';

/** float32 little-endian bytes, as stored. */
export function vectorToBytes(vector: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength));
  const bytes = Buffer.allocUnsafe(vector.length * 4);
  for (let i = 0; i < vector.length; i++) bytes.writeFloatLE(vector[i]!, i * 4);
  return bytes;
}

/** The stored bytes as a vector: read in place when aligned, else copied. */
export function bytesToVector(bytes: Uint8Array): Float32Array {
  const length = bytes.byteLength >> 2;
  if (LITTLE_ENDIAN) {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, length);
    return new Float32Array(bytes.slice().buffer, 0, length);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Cosine similarity in float64; 0 when either vector is zero. */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa === 0 || bb === 0 ? 0 : dot / (Math.sqrt(aa) * Math.sqrt(bb));
}

/** Search order: higher similarity first, equal similarities in id order. */
const moreSimilar = (a: { id: string; similarity: number }, b: { id: string; similarity: number }): boolean =>
  a.similarity > b.similarity || (a.similarity === b.similarity && a.id < b.id);

/** Keeps `best` (sorted by moreSimilar) at the `k` most similar after adding `item`. */
export function insertTopK<T extends { id: string; similarity: number }>(best: T[], item: T, k: number): void {
  if (best.length === k && !moreSimilar(item, best[k - 1]!)) return;
  let at = best.length;
  while (at > 0 && moreSimilar(item, best[at - 1]!)) at--;
  best.splice(at, 0, item);
  if (best.length > k) best.pop();
}
