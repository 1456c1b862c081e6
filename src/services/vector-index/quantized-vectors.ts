import { instantiateKernel, type ScoreFunction } from './int8-dot-kernel.js';

/** Largest int8 code: ±127 keeps the code symmetric. */
const VECTOR_LEVELS = 127;
/** Largest query code; lowered for very long vectors so no integer sum can overflow i32. */
const QUERY_LEVELS = 2047;
/**
 * Added to every bound: covers float64 rounding in the bounds and in the exact cosine
 * they bound (both ~1e-15 relative), by orders of magnitude.
 */
const BOUND_SLACK = 1e-6;
const PAGE = 65536;
const MIN_CAPACITY = 64;
/** Capacity grows by a quarter: copying is cheap next to loading, and memory stays near the need. */
const GROWTH = 1.25;
/** Per vector beyond its codes: a score (4), three float64 norms (24), its id and slot (about 64). */
const PER_VECTOR_OVERHEAD = 4 + 24 + 64;

/**
 * One user's vectors of one embedding space, held in memory as int8 codes of the unit
 * vectors, for exact top-k search in two stages:
 *
 * 1. Every vector is scored against the query with integer arithmetic (WebAssembly
 *    SIMD). For unit vectors u = s·q + e (int8 codes q, scale s, rounding error e)
 *    and x = t·p + f (int16 codes p), the cosine is
 *        x·u = s·t·(p·q) + x·e + f·(s·q),
 *    so |cosine − s·t·(p·q)| ≤ ‖e‖ + ‖f‖·‖s·q‖: an interval that surely holds the
 *    true cosine, from the integer score and two norms kept per vector.
 * 2. Only vectors whose interval reaches the k-th best lower bound can be in the top
 *    k; the caller rescores those exactly from the stored float32 vectors.
 *
 * The result equals scoring every vector exactly. Codes take one byte per dimension
 * (a quarter of float32), in one WebAssembly memory per index, freed with it.
 */
export class QuantizedVectors {
  readonly dimensions: number;
  /** Bytes per vector: dimensions rounded up to the kernel's 16-dimension step. */
  private readonly stride: number;
  private readonly queryLevels: number;
  private capacity = 0;
  private memory!: WebAssembly.Memory;
  private score!: ScoreFunction;
  private readonly queryAt = 0;
  private scoresAt = 0;
  private vectorsAt = 0;
  private ids: string[] = [];
  private readonly slots = new Map<string, number>();
  /** Per vector: the code scale s, ‖e‖ and ‖s·q‖. */
  private scale = new Float64Array(0);
  private errorNorm = new Float64Array(0);
  private codeNorm = new Float64Array(0);

  /** Most vectors this index will hold, from its memory limit. */
  readonly maxCapacity: number;

  /** `maxBytes` bounds the memory it may take (see `bytes`); `set` refuses vectors beyond it. */
  constructor(dimensions: number, options: { maxBytes?: number } = {}) {
    if (!Number.isInteger(dimensions) || dimensions < 1) throw new RangeError('dimensions must be a positive integer');
    this.dimensions = dimensions;
    this.stride = Math.ceil(dimensions / 16) * 16;
    // Memory comes in 64 KiB pages: keep one page for the query and rounding.
    this.maxCapacity = Math.max(0, Math.floor(((options.maxBytes ?? Infinity) - PAGE - this.stride * 2 - 64) / (this.stride + PER_VECTOR_OVERHEAD)));
    this.queryLevels = Math.min(QUERY_LEVELS, Math.floor((2 ** 31 - 1) / (VECTOR_LEVELS * this.stride)));
    if (this.queryLevels < 1) throw new RangeError('dimensions too large for the int8 index');
    this.allocate(Math.min(MIN_CAPACITY, this.maxCapacity));
  }

  /** What an index of `count` vectors of `dimensions` holds, about. */
  static estimateBytes(dimensions: number, count: number): number {
    return PAGE + count * (Math.ceil(dimensions / 16) * 16 + PER_VECTOR_OVERHEAD);
  }

  /** Makes room for `count` vectors at once (avoids regrowing while loading), within the limit. */
  reserve(count: number): void {
    if (count > this.capacity) this.allocate(Math.min(count, this.maxCapacity));
  }

  get size(): number {
    return this.ids.length;
  }

  /** Bytes held: codes, per-vector norms and ids (estimated). */
  get bytes(): number {
    return this.memory.buffer.byteLength + this.capacity * 24 + this.ids.length * 64;
  }

  /** Every id held, in no particular order. */
  idList(): readonly string[] {
    return this.ids;
  }

  /** Adds or replaces the vector of `id` (of any norm: normalised here). False when the index is full (maxBytes). */
  set(id: string, vector: Float32Array): boolean {
    if (vector.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions, got ${vector.length}`);
    let slot = this.slots.get(id);
    if (slot === undefined) {
      if (this.ids.length === this.capacity) {
        if (this.capacity >= this.maxCapacity) return false;
        this.allocate(Math.min(this.maxCapacity, Math.max(this.capacity + MIN_CAPACITY, Math.ceil(this.capacity * GROWTH))));
      }
      slot = this.ids.length;
      this.ids.push(id);
      this.slots.set(id, slot);
    }
    this.encode(slot, vector);
    return true;
  }

  delete(id: string): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    const last = this.ids.length - 1;
    if (slot !== last) {
      const moved = this.ids[last]!;
      const codes = new Int8Array(this.memory.buffer);
      codes.copyWithin(this.vectorsAt + slot * this.stride, this.vectorsAt + last * this.stride, this.vectorsAt + (last + 1) * this.stride);
      this.scale[slot] = this.scale[last]!;
      this.errorNorm[slot] = this.errorNorm[last]!;
      this.codeNorm[slot] = this.codeNorm[last]!;
      this.ids[slot] = moved;
      this.slots.set(moved, slot);
    }
    this.ids.pop();
    this.slots.delete(id);
    return true;
  }

  /**
   * The ids that may be among the `k` most similar to `query` by cosine: a superset of
   * the exact top k (ties included), usually little more than k.
   */
  candidates(query: Float32Array, k: number): string[] {
    if (query.length !== this.dimensions) throw new RangeError(`expected ${this.dimensions} dimensions, got ${query.length}`);
    const count = this.ids.length;
    if (k <= 0 || count === 0) return [];
    if (count <= k) return [...this.ids];

    // x = query / ‖query‖ = t·p + f
    let norm = 0;
    for (let i = 0; i < query.length; i++) norm += query[i]! * query[i]!;
    norm = Math.sqrt(norm);
    // A zero query is equally similar (0) to everything: ties everywhere.
    if (norm === 0) return [...this.ids];
    let max = 0;
    for (let i = 0; i < query.length; i++) max = Math.max(max, Math.abs(query[i]! / norm));
    const t = max / this.queryLevels;
    const codes = new Int16Array(this.memory.buffer, this.queryAt, this.stride);
    let residual = 0;
    for (let i = 0; i < query.length; i++) {
      const x = query[i]! / norm;
      const p = Math.round(x / t);
      codes[i] = p;
      residual += (x - t * p) ** 2;
    }
    codes.fill(0, query.length);
    const queryError = Math.sqrt(residual);

    this.score(this.queryAt, this.vectorsAt, this.stride, count, this.scoresAt);
    const scores = new Int32Array(this.memory.buffer, this.scoresAt, count);

    // The k-th largest lower bound: nothing below it can be in the top k.
    const lows = new Float64Array(k).fill(-Infinity); // ascending: lows[0] is the k-th largest so far
    for (let j = 0; j < count; j++) {
      const low = this.scale[j]! * t * scores[j]! - this.slack(j, queryError);
      if (low > lows[0]!) {
        let at = 0;
        while (at + 1 < k && lows[at + 1]! < low) {
          lows[at] = lows[at + 1]!;
          at++;
        }
        lows[at] = low;
      }
    }
    const threshold = lows[0]!;
    const ids: string[] = [];
    for (let j = 0; j < count; j++) {
      if (this.scale[j]! * t * scores[j]! + this.slack(j, queryError) >= threshold) ids.push(this.ids[j]!);
    }
    return ids;
  }

  private slack(slot: number, queryError: number): number {
    return this.errorNorm[slot]! + queryError * this.codeNorm[slot]! + BOUND_SLACK;
  }

  private encode(slot: number, vector: Float32Array): void {
    const n = vector.length;
    let squares = 0;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const x = vector[i]!;
      squares += x * x;
      const a = x < 0 ? -x : x;
      if (a > max) max = a;
    }
    const codes = new Int8Array(this.memory.buffer, this.vectorsAt + slot * this.stride, this.stride);
    if (squares === 0) {
      // A zero vector has cosine 0 with everything: exactly what zero codes and norms say.
      codes.fill(0);
      this.scale[slot] = 0;
      this.errorNorm[slot] = 0;
      this.codeNorm[slot] = 0;
      return;
    }
    const inverseNorm = 1 / Math.sqrt(squares);
    const s = (max * inverseNorm) / VECTOR_LEVELS;
    const toCode = inverseNorm / s;
    let error = 0;
    let code = 0;
    for (let i = 0; i < n; i++) {
      const u = vector[i]! * inverseNorm;
      const q = Math.round(vector[i]! * toCode);
      codes[i] = q;
      const e = u - s * q;
      error += e * e;
      code += q * q;
    }
    codes.fill(0, n);
    this.scale[slot] = s;
    this.errorNorm[slot] = Math.sqrt(error);
    this.codeNorm[slot] = s * Math.sqrt(code);
  }

  /** Moves everything into a memory for `capacity` vectors: query | scores | codes. */
  private allocate(capacity: number): void {
    const scoresAt = Math.ceil((this.stride * 2) / 16) * 16;
    const vectorsAt = scoresAt + Math.ceil((capacity * 4) / 16) * 16;
    const memory = new WebAssembly.Memory({ initial: Math.ceil((vectorsAt + capacity * this.stride) / PAGE) });
    if (this.capacity > 0) {
      new Int8Array(memory.buffer, vectorsAt, this.ids.length * this.stride).set(
        new Int8Array(this.memory.buffer, this.vectorsAt, this.ids.length * this.stride),
      );
    }
    const grow = (old: Float64Array) => {
      const next = new Float64Array(capacity);
      next.set(old);
      return next;
    };
    this.scale = grow(this.scale);
    this.errorNorm = grow(this.errorNorm);
    this.codeNorm = grow(this.codeNorm);
    this.memory = memory;
    this.score = instantiateKernel(memory);
    this.scoresAt = scoresAt;
    this.vectorsAt = vectorsAt;
    this.capacity = capacity;
  }
}
