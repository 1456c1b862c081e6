/**
 * The scoring kernel of the in-memory vector index: int8 vectors × an int16 query,
 * exact integer dot products, 16 dimensions per step with WebAssembly SIMD (V8 has
 * run it without flags since Node 16). JavaScript cannot vectorise this loop; the
 * kernel is ~20 instructions, so it is assembled here from named opcodes rather than
 * shipped as a binary blob or built by a toolchain.
 *
 *   score(query, vectors, stride, count, out)
 *     for j in 0..count: out[j] = Σ_i query[i] · vectors[j·stride + i]
 *   query: i16[stride] at `query`; vectors: i8[count·stride] at `vectors`; out: i32[count].
 *   stride is a positive multiple of 16 (vectors zero-padded); the caller keeps every
 *   sum within i32 (|query| · 127 · stride < 2^31).
 */

const I32 = 0x7f;
const V128 = 0x7b;

const op = {
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, depth],
  get: (local: number) => [0x20, local],
  set: (local: number) => [0x21, local],
  tee: (local: number) => [0x22, local],
  i32Const: (value: number) => [0x41, ...sleb128(value)],
  i32Eqz: [0x45],
  i32LtU: [0x49],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Shl: [0x74],
  /** i32.store, 4-byte aligned, offset 0. */
  i32Store: [0x36, 2, 0],
  /** v128.load with a 16-byte alignment hint. */
  v128Load: (offset: number) => [0xfd, 0x00, 4, ...uleb128(offset)],
  v128Zero: [0xfd, 0x0c, ...new Array<number>(16).fill(0)],
  i16x8ExtendLowI8x16S: [0xfd, 0x87, 0x01],
  i16x8ExtendHighI8x16S: [0xfd, 0x88, 0x01],
  i32x4DotI16x8S: [0xfd, 0xba, 0x01],
  i32x4Add: [0xfd, 0xae, 0x01],
  i32x4ExtractLane: (lane: number) => [0xfd, 0x1b, lane],
} as const;

function uleb128(value: number): number[] {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb128(value: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const name = (text: string) => {
  const encoded = [...new TextEncoder().encode(text)];
  return [...uleb128(encoded.length), ...encoded];
};
const vec = (items: number[][]) => [...uleb128(items.length), ...items.flat()];
const section = (id: number, content: number[]) => [id, ...uleb128(content.length), ...content];

// Locals: parameters, then j-free loop state.
const [QUERY, VECTORS, STRIDE, COUNT, OUT, OFF, ACC, X] = [0, 1, 2, 3, 4, 5, 6, 7];

/** Adds query[off/16 half] · extend(x half) to the accumulator. */
const accumulate = (extend: readonly number[], queryOffset: number) => [
  ...op.get(X),
  ...extend,
  ...op.get(QUERY),
  ...op.get(OFF),
  ...op.i32Const(1),
  ...op.i32Shl,
  ...op.i32Add,
  ...op.v128Load(queryOffset),
  ...op.i32x4DotI16x8S,
  ...op.get(ACC),
  ...op.i32x4Add,
  ...op.set(ACC),
];

const body = [
  ...vec([
    [1, I32], // off
    [2, V128], // acc, x
  ]),
  ...op.block,
  ...op.get(COUNT),
  ...op.i32Eqz,
  ...op.brIf(0),
  ...op.loop, // per vector
  ...op.v128Zero,
  ...op.set(ACC),
  ...op.i32Const(0),
  ...op.set(OFF),
  ...op.loop, // per 16 dimensions
  ...op.get(VECTORS),
  ...op.get(OFF),
  ...op.i32Add,
  ...op.v128Load(0),
  ...op.set(X),
  ...accumulate(op.i16x8ExtendLowI8x16S, 0),
  ...accumulate(op.i16x8ExtendHighI8x16S, 16),
  ...op.get(OFF),
  ...op.i32Const(16),
  ...op.i32Add,
  ...op.tee(OFF),
  ...op.get(STRIDE),
  ...op.i32LtU,
  ...op.brIf(0),
  ...op.end,
  // out[j] = horizontal sum of the accumulator
  ...op.get(OUT),
  ...op.get(ACC),
  ...op.i32x4ExtractLane(0),
  ...op.get(ACC),
  ...op.i32x4ExtractLane(1),
  ...op.i32Add,
  ...op.get(ACC),
  ...op.i32x4ExtractLane(2),
  ...op.i32Add,
  ...op.get(ACC),
  ...op.i32x4ExtractLane(3),
  ...op.i32Add,
  ...op.i32Store,
  ...op.get(OUT),
  ...op.i32Const(4),
  ...op.i32Add,
  ...op.set(OUT),
  ...op.get(VECTORS),
  ...op.get(STRIDE),
  ...op.i32Add,
  ...op.set(VECTORS),
  ...op.get(COUNT),
  ...op.i32Const(1),
  ...op.i32Sub,
  ...op.tee(COUNT),
  ...op.brIf(0),
  ...op.end,
  ...op.end,
  ...op.end, // function
];

const moduleBytes = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
  ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0]])), // type 0: (i32 ×5) → ()
  ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x00]])), // import env.memory (memory, no maximum, min 0 pages)
  ...section(3, vec([[0]])), // function 0 has type 0
  ...section(7, vec([[...name('score'), 0x00, 0]])), // export "score" = function 0
  ...section(10, vec([[...uleb128(body.length), ...body]])),
]);

let compiled: WebAssembly.Module | undefined;

/** Whether this runtime can run the kernel (WebAssembly with SIMD). */
export function kernelSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(moduleBytes);
}

export type ScoreFunction = (query: number, vectors: number, stride: number, count: number, out: number) => void;

/** An instance of the kernel over `memory` (byte offsets into it). */
export function instantiateKernel(memory: WebAssembly.Memory): ScoreFunction {
  compiled ??= new WebAssembly.Module(moduleBytes);
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  return instance.exports.score as ScoreFunction;
}
