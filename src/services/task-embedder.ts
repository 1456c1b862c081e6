import type { EmbeddingJob, Storage, TaskEmbedding } from '../storage/storage.js';
import { sha256 } from '../shared/hash.js';
import type { EmbedOptions, EmbeddingModel } from '../upstream/embedding-model.js';

/**
 * What of a task is embedded: its title, and its description after a blank line. Cut to
 * 24,000 UTF-8 bytes, which stays under the API's 8,192 tokens per input whatever the script.
 */
const MAX_TEXT_BYTES = 24_000;

export function embeddingText(title: string, description: string | null): string {
  const text = description ? `${title}\n\n${description}` : title;
  if (Buffer.byteLength(text, 'utf8') <= MAX_TEXT_BYTES) return text;
  return Buffer.from(text, 'utf8').subarray(0, MAX_TEXT_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
}

export interface EmbedResult {
  /** Embeddings made and stored. */
  embedded: number;
  /** Jobs whose stored embedding was already of this text, model and size: no model call. */
  unchanged: number;
}

/**
 * Embeds queued tasks: skips those whose stored embedding already matches (same text hash,
 * model and size), embeds the rest in as few requests as the API allows, and stores each
 * vector only if its job is still the task's current version. Upstream errors are thrown.
 */
export function taskEmbedder(deps: { storage: Storage; model: EmbeddingModel }) {
  const { storage, model } = deps;
  return {
    async embed(jobs: EmbeddingJob[], options: EmbedOptions = {}): Promise<EmbedResult> {
      const texts = jobs.map((j) => embeddingText(j.title, j.description));
      const hashes = texts.map(sha256);
      const knownSize = model.knownDimensions();
      const current = (j: EmbeddingJob, i: number) =>
        j.stored !== null &&
        j.stored.model === model.model &&
        j.stored.contentHash === hashes[i] &&
        (knownSize === undefined || j.stored.dimensions === knownSize);

      const todo = jobs.flatMap((j, i) => (current(j, i) ? [] : [i]));
      // One request per task owner, so that the usage ledger charges each the tokens of their own tasks.
      const byOwner = new Map<string, number[]>();
      for (const i of todo) {
        const owned = byOwner.get(jobs[i]!.userId);
        if (owned) owned.push(i);
        else byOwner.set(jobs[i]!.userId, [i]);
      }
      const vectors = new Map<number, Float32Array>();
      for (const [userId, owned] of byOwner) {
        const got = await model.embed(owned.map((i) => texts[i]!), { ...options, userId });
        owned.forEach((i, n) => vectors.set(i, got[n]!));
      }
      const embeddedAt = new Date().toISOString();
      const embeddings = new Map<number, TaskEmbedding>();
      todo.forEach((i) => {
        const job = jobs[i]!;
        const vector = vectors.get(i)!;
        embeddings.set(i, {
          taskId: job.taskId,
          userId: job.userId,
          model: model.model,
          dimensions: vector.length,
          contentHash: hashes[i]!,
          vector,
          embeddedAt,
        });
      });
      const stored = await storage.embeddings.complete(
        jobs.map((j, i) => ({ taskId: j.taskId, version: j.version, embedding: embeddings.get(i) })),
      );
      return { embedded: stored, unchanged: jobs.length - todo.length };
    },
  };
}
