import { LRUCache } from 'lru-cache';
import type { EmbeddingRepository, EmbeddingSpace } from '../../storage/storage.js';
import { kernelSupported } from './int8-dot-kernel.js';
import { QuantizedVectors } from './quantized-vectors.js';

/** Rows read per round trip while catching up: ~6 MB of float32 at 1536 dimensions. */
const CATCH_UP_PAGE = 1000;
const INLINE_LOAD_MAX = 20_000;

type Repository = Pick<EmbeddingRepository, 'revision' | 'changedSince' | 'countIn' | 'idsIn'>;

interface Entry {
  readonly userId: string;
  readonly space: EmbeddingSpace;
  readonly index: QuantizedVectors;
  /** The user's revision this index is known to hold everything up to; -1 before the first load. */
  revision: number;
  /** Where catching up goes on from. */
  cursor: { revision: number; taskId: string };
  /** Refreshes and searches of one entry run one at a time. */
  queue: Promise<unknown>;
  /** A first load is running in the background. */
  loading: boolean;
  evicted: boolean;
}

interface VectorIndexCacheOptions {
  /** Total bytes all indexes may hold; least recently used users are dropped first. 0 disables the cache. */
  maxBytes: number;
  /**
   * Indexes of up to this many vectors are loaded within the first search; larger ones in the
   * background while the database answers. Default: 20,000 (about 0.7 s to load at 1536 dimensions).
   */
  inlineLoadMax?: number | undefined;
}

/**
 * One QuantizedVectors index per (user, embedding space), built from the database on a
 * user's first search and kept in step afterwards: each search reads the user's
 * revision (one primary-key lookup) and, when it moved, only the rows changed since
 * (plus the id list when rows were deleted). Any writer, on any instance, moves the
 * revision (database triggers), so every search sees every committed change.
 *
 * `candidates` returns undefined when the index cannot serve (disabled, no WebAssembly
 * SIMD, the user's vectors alone exceed the budget, or a large index is still loading):
 * the caller searches in the database instead.
 */
export function vectorIndexCache(repository: Repository, options: VectorIndexCacheOptions) {
  const enabled = options.maxBytes > 0 && kernelSupported();
  const inlineLoadMax = options.inlineLoadMax ?? INLINE_LOAD_MAX;
  /**
   * Least recently used users dropped first once the indexes together pass the budget. An
   * index only grows inside `refresh`, and each search sets its entry again afterwards, so
   * its size is counted anew (enforceBudget).
   */
  const entries = new LRUCache<string, Entry>({
    maxSize: Math.max(1, options.maxBytes),
    sizeCalculation: (entry) => Math.max(1, entry.index.bytes),
    dispose: (entry) => void (entry.evicted = true),
  });
  const keyOf = (userId: string, space: EmbeddingSpace) => `${space.dimensions}\u0000${space.model}\u0000${userId}`;

  function totalBytes(): number {
    let total = 0;
    for (const entry of entries.values()) total += entry.index.bytes;
    return total;
  }

  function evict(key: string, entry: Entry): void {
    entry.evicted = true;
    if (entries.peek(key) === entry) entries.delete(key);
  }

  /** Counts `entry` at its size now: least recently used others are dropped until the total fits. */
  function enforceBudget(key: string, entry: Entry): void {
    if (entries.peek(key) === entry) entries.set(key, entry);
  }

  /**
   * Brings the index up to the user's current revision. False when it outgrew the budget.
   * `count` (vectors in the space), when the caller has just read it, spares a first load reading it again.
   */
  async function refresh(entry: Entry, count?: number): Promise<boolean> {
    const { userId, space, index } = entry;
    const current = await repository.revision(userId);
    if (current === entry.revision) return true;
    if (entry.revision < 0) {
      const expected = count ?? (await repository.countIn(userId, space));
      if (QuantizedVectors.estimateBytes(space.dimensions, expected) > options.maxBytes) return false;
      index.reserve(Math.ceil(expected * 1.05)); // room for a few additions before regrowing
    }
    for (;;) {
      const rows = await repository.changedSince(userId, { after: entry.cursor, limit: CATCH_UP_PAGE });
      for (const row of rows) {
        if (row.model === space.model && row.dimensions === space.dimensions && row.vector.length === space.dimensions) {
          if (!index.set(row.taskId, row.vector)) return false; // the user's vectors alone exceed the budget
        } else {
          index.delete(row.taskId);
        }
      }
      const last = rows[rows.length - 1];
      if (last) entry.cursor = { revision: last.revision, taskId: last.taskId };
      if (rows.length < CATCH_UP_PAGE) break;
    }
    // Every row now in the space was either unchanged since the last refresh (so held) or
    // just read: the index holds a superset, equal in size exactly when nothing was deleted.
    if (index.size !== (await repository.countIn(userId, space))) {
      const present = new Set(await repository.idsIn(userId, space));
      for (const id of [...index.idList()]) if (!present.has(id)) index.delete(id);
    }
    entry.revision = current;
    return true;
  }

  /**
   * Runs `work` on `entry` after whatever runs on it already. A failure evicts the entry
   * (a refresh may have stopped part-way) and is passed on.
   */
  function serially<T>(key: string, entry: Entry, work: () => Promise<T>): Promise<T | undefined> {
    const run = entry.queue.then(() => (entry.evicted ? undefined : work()));
    entry.queue = run.catch(() => {});
    return run.catch((error: unknown) => {
      evict(key, entry);
      throw error;
    });
  }

  return {
    /**
     * The ids of the user's tasks in `space` that may be among the `k` most similar to
     * `query` (a superset of the exact top k), or undefined when the caller must search
     * the database.
     */
    async candidates(userId: string, space: EmbeddingSpace, query: Float32Array, k: number): Promise<string[] | undefined> {
      if (!enabled) return undefined;
      const key = keyOf(userId, space);
      let entry = entries.get(key);
      if (!entry) {
        entry = {
          userId,
          space,
          index: new QuantizedVectors(space.dimensions, { maxBytes: options.maxBytes }),
          revision: -1,
          cursor: { revision: -1, taskId: '' },
          queue: Promise.resolve(),
          loading: false,
          evicted: false,
        };
        entries.set(key, entry);
      }
      const current = entry;
      let count: number | undefined;
      if (current.revision < 0) {
        // Not loaded yet. A large index loads in the background (loading takes longer than
        // the database's own scan), and the database answers until it is ready.
        if (current.loading) return undefined;
        count = await repository.countIn(userId, space);
        if (count > inlineLoadMax) {
          const expected = count;
          current.loading = true;
          serially(key, current, async () => {
            if (!(await refresh(current, expected))) evict(key, current);
          })
            .catch(() => {}) // evicted: the next search starts over
            .finally(() => (current.loading = false));
          return undefined;
        }
      }
      return serially(key, current, async () => {
        if (!(await refresh(current, count))) {
          evict(key, current);
          return undefined;
        }
        enforceBudget(key, current);
        return current.index.candidates(query, k);
      });
    },

    /** Bytes held by all indexes. */
    bytes: totalBytes,
    clear(): void {
      entries.clear(); // each entry is marked evicted on its way out
    },
  };
}

export type VectorIndexCache = ReturnType<typeof vectorIndexCache>;
