import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { instantiateKernel, kernelSupported } from '../src/services/vector-index/int8-dot-kernel.js';
import { QuantizedVectors } from '../src/services/vector-index/quantized-vectors.js';
import { cosineSimilarity, insertTopK } from '../src/shared/vectors.js';
import { randoms } from './helpers/random.js';


const randomVector = (next: () => number, dims: number, scale = 1) => Float32Array.from({ length: dims }, () => next() * scale);

/** The exact top k by brute force, in search order. */
function exactTopK(vectors: Map<string, Float32Array>, query: Float32Array, k: number) {
  const best: Array<{ id: string; similarity: number }> = [];
  for (const [id, v] of vectors) insertTopK(best, { id, similarity: cosineSimilarity(query, v) }, k);
  return best;
}

/** What the search service does with the candidates: exact rescoring of just those. */
function viaIndex(index: QuantizedVectors, vectors: Map<string, Float32Array>, query: Float32Array, k: number) {
  const ids = index.candidates(query, k);
  const best: Array<{ id: string; similarity: number }> = [];
  for (const id of ids) insertTopK(best, { id, similarity: cosineSimilarity(query, vectors.get(id)!) }, k);
  return { best, candidates: ids.length };
}

function build(dims: number, vectors: Map<string, Float32Array>): QuantizedVectors {
  const index = new QuantizedVectors(dims);
  for (const [id, v] of vectors) index.set(id, v);
  return index;
}

describe('int8 dot-product kernel (WebAssembly SIMD)', () => {
  test('is supported on this runtime', () => {
    assert.equal(kernelSupported(), true);
  });

  test('computes exact integer dot products for every vector, including the extremes', () => {
    const stride = 48;
    const count = 37;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const score = instantiateKernel(memory);
    const query = new Int16Array(memory.buffer, 0, stride);
    const vectors = new Int8Array(memory.buffer, 1024, count * stride);
    const next = randoms(7);
    for (let i = 0; i < stride; i++) query[i] = Math.round(next() * 4094);
    for (let i = 0; i < vectors.length; i++) vectors[i] = Math.round(next() * 254);
    // Extremes: all +127 against the query's sign, all -127.
    for (let i = 0; i < stride; i++) {
      vectors[i] = query[i]! >= 0 ? 127 : -127;
      vectors[stride + i] = -127;
    }
    score(0, 1024, stride, count, 8192);
    const out = new Int32Array(memory.buffer, 8192, count);
    for (let j = 0; j < count; j++) {
      let expected = 0;
      for (let i = 0; i < stride; i++) expected += query[i]! * vectors[j * stride + i]!;
      assert.equal(out[j], expected, `vector ${j}`);
    }
  });

  test('scores nothing when count is 0', () => {
    const memory = new WebAssembly.Memory({ initial: 1 });
    new Int32Array(memory.buffer, 4096, 1)[0] = 12345;
    instantiateKernel(memory)(0, 1024, 16, 0, 4096);
    assert.equal(new Int32Array(memory.buffer, 4096, 1)[0], 12345);
  });
});

describe('QuantizedVectors: exact top k through int8 bounds', () => {
  test('random vectors: rescoring the candidates gives exactly the brute-force top k, from few candidates', () => {
    for (const dims of [3, 16, 100, 1536]) {
      const next = randoms(dims);
      const vectors = new Map<string, Float32Array>();
      for (let i = 0; i < 2000; i++) vectors.set(`t${i}`, randomVector(next, dims, 1 + i % 7));
      const index = build(dims, vectors);
      for (const k of [1, 5, 50]) {
        for (let q = 0; q < 5; q++) {
          const query = randomVector(next, dims);
          const { best, candidates } = viaIndex(index, vectors, query, k);
          assert.deepEqual(best, exactTopK(vectors, query, k), `dims ${dims}, k ${k}`);
          if (dims >= 100) assert.ok(candidates < k + 200, `${candidates} candidates for k ${k} at ${dims} dims`);
        }
      }
    }
  });

  test('near-duplicates and clustered vectors (differences far below the int8 step) still rank exactly', () => {
    const dims = 256;
    const next = randoms(11);
    const base = randomVector(next, dims);
    const vectors = new Map<string, Float32Array>();
    for (let i = 0; i < 500; i++) {
      const v = Float32Array.from(base, (x) => x + next() * 1e-4);
      vectors.set(`near${String(i).padStart(3, '0')}`, v);
    }
    for (let i = 0; i < 500; i++) vectors.set(`far${i}`, randomVector(next, dims));
    const index = build(dims, vectors);
    for (const query of [base, Float32Array.from(base, (x) => x + next() * 1e-3), randomVector(next, dims)]) {
      for (const k of [1, 10, 50]) assert.deepEqual(viaIndex(index, vectors, query, k).best, exactTopK(vectors, query, k));
    }
  });

  test('ties (identical vectors) are all candidates and resolve by id, as the database does', () => {
    const dims = 32;
    const same = randomVector(randoms(3), dims);
    const vectors = new Map<string, Float32Array>();
    for (const id of ['d', 'b', 'e', 'a', 'c']) vectors.set(id, same);
    vectors.set('x', randomVector(randoms(4), dims));
    const index = build(dims, vectors);
    const { best } = viaIndex(index, vectors, same, 3);
    assert.deepEqual(best.map((b) => b.id), ['a', 'b', 'c']);
    assert.deepEqual(best, exactTopK(vectors, same, 3));
  });

  test('zero vectors score 0, and a zero query makes everything a candidate', () => {
    const dims = 20;
    const next = randoms(5);
    const vectors = new Map<string, Float32Array>([
      ['zero', new Float32Array(dims)],
      ['neg', Float32Array.from(randomVector(next, dims), (x) => -Math.abs(x))],
      ['pos', Float32Array.from(randomVector(next, dims), (x) => Math.abs(x))],
    ]);
    const index = build(dims, vectors);
    const query = new Float32Array(dims).fill(1);
    assert.deepEqual(viaIndex(index, vectors, query, 2).best, exactTopK(vectors, query, 2));
    assert.equal(index.candidates(new Float32Array(dims), 1).length, 3);
  });

  test('replacing and deleting vectors keeps the index exact (swap-remove, growth past capacity)', () => {
    const dims = 48;
    const next = randoms(9);
    const vectors = new Map<string, Float32Array>();
    const index = new QuantizedVectors(dims);
    for (let i = 0; i < 300; i++) {
      const v = randomVector(next, dims);
      vectors.set(`t${i}`, v);
      index.set(`t${i}`, v);
    }
    for (let i = 0; i < 300; i += 3) {
      vectors.delete(`t${i}`);
      assert.equal(index.delete(`t${i}`), true);
    }
    assert.equal(index.delete('t0'), false);
    for (let i = 1; i < 300; i += 3) {
      const v = randomVector(next, dims);
      vectors.set(`t${i}`, v);
      index.set(`t${i}`, v);
    }
    assert.equal(index.size, vectors.size);
    assert.deepEqual([...index.idList()].sort(), [...vectors.keys()].sort());
    for (let q = 0; q < 10; q++) {
      const query = randomVector(next, dims);
      assert.deepEqual(viaIndex(index, vectors, query, 7).best, exactTopK(vectors, query, 7));
    }
  });

  test('fewer vectors than k: all of them', () => {
    const vectors = new Map([['a', new Float32Array([1, 0])], ['b', new Float32Array([0, 1])]]);
    assert.deepEqual(build(2, vectors).candidates(new Float32Array([1, 1]), 5).sort(), ['a', 'b']);
    assert.deepEqual(new QuantizedVectors(2).candidates(new Float32Array([1, 1]), 5), []);
  });

  test('rejects vectors of another size', () => {
    const index = new QuantizedVectors(4);
    assert.throws(() => index.set('a', new Float32Array(3)), RangeError);
    assert.throws(() => index.candidates(new Float32Array(5), 1), RangeError);
  });
});

describe('QuantizedVectors memory limit', () => {
  test('grows within maxBytes and refuses vectors beyond it, staying exact for what it holds', () => {
    const dims = 64;
    const maxBytes = 100_000;
    const index = new QuantizedVectors(dims, { maxBytes });
    const next = randoms(13);
    const vectors = new Map<string, Float32Array>();
    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const v = randomVector(next, dims);
      if (index.set(`t${i}`, v)) vectors.set(`t${i}`, v);
      else refused++;
      assert.ok(index.bytes <= maxBytes, `${index.bytes} bytes held`);
    }
    assert.equal(index.size, index.maxCapacity);
    assert.equal(refused, 1000 - index.maxCapacity);
    assert.ok(index.maxCapacity > 100);
    // Replacing a held vector still works when full.
    const v = randomVector(next, dims);
    assert.equal(index.set('t0', v), true);
    vectors.set('t0', v);
    const query = randomVector(next, dims);
    assert.deepEqual(viaIndex(index, vectors, query, 5).best, exactTopK(vectors, query, 5));
  });
});
