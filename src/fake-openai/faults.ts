/**
 * The fault queue. Faults apply in the order they were added; a request takes the first queued fault
 * whose `path` matches it ('any' matches chat, embeddings and models) and uses it up after `times`
 * requests. A fault with `dropAfterChunks` only matches streaming chat requests.
 */
import type { Fault, FaultPath } from './types.js';

const PATHS = new Set<FaultPath>(['chat', 'embeddings', 'models', 'any']);
const KEYS = new Set(['path', 'times', 'status', 'retryAfter', 'retryAfterMs', 'body', 'delayMs', 'drop', 'dropAfterChunks']);

interface Queued {
  fault: Fault;
  left: number;
}

function nonNegInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** Throws TypeError with a clear message when `f` is not a valid Fault. */
export function checkFault(f: unknown): asserts f is Fault {
  if (f === null || typeof f !== 'object' || Array.isArray(f)) throw new TypeError('fault must be an object');
  const o = f as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new TypeError(`unknown fault field "${k}"`);
  if (o.path !== undefined && !PATHS.has(o.path as FaultPath)) throw new TypeError('fault.path must be chat, embeddings, models or any');
  if (o.times !== undefined && (!nonNegInt(o.times) || (o.times as number) < 1)) throw new TypeError('fault.times must be an integer ≥ 1');
  if (o.status !== undefined && (!Number.isInteger(o.status) || (o.status as number) < 200 || (o.status as number) > 599))
    throw new TypeError('fault.status must be an integer from 200 to 599');
  if (o.retryAfter !== undefined && typeof o.retryAfter !== 'string') throw new TypeError('fault.retryAfter must be a string');
  if (o.retryAfterMs !== undefined && typeof o.retryAfterMs !== 'string') throw new TypeError('fault.retryAfterMs must be a string');
  if (o.delayMs !== undefined && !nonNegInt(o.delayMs)) throw new TypeError('fault.delayMs must be an integer ≥ 0');
  if (o.drop !== undefined && typeof o.drop !== 'boolean') throw new TypeError('fault.drop must be a boolean');
  if (o.dropAfterChunks !== undefined && !nonNegInt(o.dropAfterChunks)) throw new TypeError('fault.dropAfterChunks must be an integer ≥ 0');
}

export class FaultQueue {
  private queue: Queued[] = [];

  add(fault: Fault): void {
    checkFault(fault);
    this.queue.push({ fault: { ...fault }, left: fault.times ?? 1 });
  }

  clear(): void {
    this.queue = [];
  }

  /** Pending faults with how many requests each still applies to. */
  list(): Array<Fault & { remaining: number }> {
    return this.queue.map((q) => ({ ...q.fault, remaining: q.left }));
  }

  /** Takes the fault for a request, if any (cheap when the queue is empty). */
  take(path: Exclude<FaultPath, 'any'>, streaming: boolean): Fault | undefined {
    const q = this.queue;
    if (q.length === 0) return undefined;
    for (let i = 0; i < q.length; i++) {
      const e = q[i] as Queued;
      const p = e.fault.path ?? 'any';
      if (p !== 'any' && p !== path) continue;
      if (e.fault.dropAfterChunks !== undefined && !(path === 'chat' && streaming)) continue;
      if (--e.left <= 0) q.splice(i, 1);
      return e.fault;
    }
    return undefined;
  }
}
