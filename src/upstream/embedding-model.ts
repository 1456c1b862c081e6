import { LRUCache } from 'lru-cache';
import type { CreateEmbeddingResponse } from 'openai/resources/embeddings';
import type { Config } from '../config/config.js';
import { ProviderNotConfiguredError, UpstreamError } from '../errors.js';
import { sha256 } from '../shared/hash.js';
import { bytesToVector } from '../shared/vectors.js';
import { postModelCall, readAnswer, startModelCall, type CallOptions, type ModelCallObserver } from './model-call.js';
import { readJson, type Transport } from './transport.js';

/** The API's limits per request: inputs, and total tokens (300k), kept well under with an overestimate. */
const MAX_INPUTS_PER_REQUEST = 2048;
const MAX_TOKENS_PER_REQUEST = 250_000;

/** Query embeddings kept in process, so repeating a search does not call the model again. */
const QUERY_CACHE_SIZE = 1000;

/**
 * A deliberate overestimate of a text's tokens (UTF-8 bytes / 3: English runs ~4 bytes a token,
 * CJK ~3), so a batch never crosses the per-request token limit.
 */
const estimateTokens = (text: string): number => Math.ceil(Buffer.byteLength(text, 'utf8') / 3);

export interface EmbedOptions extends CallOptions {
  /** Per-call override of OPENAI_MAX_RETRIES (the worker does its own backoff). */
  maxRetries?: number | undefined;
  /** Per-call override of OPENAI_TIMEOUT, in ms. */
  timeoutMs?: number | undefined;
}

/**
 * Embeddings over the one transport with the configured model and dimensions. Many texts
 * go in as few requests as the API's limits allow; every error leaves mapped to
 * the contract's table; vectors come back as Float32Arrays.
 */
export interface EmbeddingModel {
  readonly model: string;
  /** EMBEDDING_DIMENSIONS, or undefined for the model's own size. */
  readonly requestedDimensions: number | undefined;
  readonly configured: boolean;
  /** Throws 503 provider_not_configured when no provider is set. */
  assertConfigured(): void;
  /** One vector per text, in order. Identical texts in one call are embedded once. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /** One text through an in-process LRU keyed by model + dimensions + SHA-256: for search queries. */
  embedQuery(text: string, options?: EmbedOptions): Promise<Float32Array>;
  /** The length of the vectors this model returns: EMBEDDING_DIMENSIONS, or learned from an answer (one probe if none yet). */
  dimensions(): Promise<number>;
  /** The same without asking: undefined until EMBEDDING_DIMENSIONS is set or an answer was seen. */
  knownDimensions(): number | undefined;
}

export function embeddingModel(transport: Transport | undefined, config: Config['openai'], observe?: ModelCallObserver): EmbeddingModel {
  const model = config.embeddingModel;
  const requested = config.embeddingDimensions;
  let learned: number | undefined = requested;
  const queryCache = new LRUCache<string, Float32Array>({ max: QUERY_CACHE_SIZE });

  const requireTransport = (): Transport => {
    if (!transport) throw new ProviderNotConfiguredError();
    return transport;
  };

  async function request(inputs: string[], options: EmbedOptions): Promise<Float32Array[]> {
    const call = startModelCall(observe, { model, stream: false }, options);
    // base64: a quarter of the bytes of a JSON float list, decoded straight to float32.
    const body = JSON.stringify({ model, input: inputs, encoding_format: 'base64', ...(requested !== undefined && { dimensions: requested }) });
    const answer = await postModelCall(requireTransport(), 'embeddings', body, call, options, { maxReplyTokens: 0 });
    const response = await readAnswer(call, options.signal, () => readJson<CreateEmbeddingResponse>(answer));
    const usage = response?.usage;
    call.finish('success', usage && { prompt_tokens: usage.prompt_tokens, completion_tokens: 0, total_tokens: usage.total_tokens });
    const vectors = new Array<Float32Array | undefined>(inputs.length);
    for (const item of response?.data ?? []) {
      if (!Number.isInteger(item?.index) || item.index < 0 || item.index >= inputs.length) continue;
      vectors[item.index] = decode(item.embedding as unknown);
    }
    const length = vectors[0]?.length ?? 0;
    if (length === 0 || vectors.some((v) => v === undefined || v.length !== length) || (requested !== undefined && length !== requested)) {
      throw new UpstreamError('The model provider sent embeddings we could not read');
    }
    learned = length;
    return vectors as Float32Array[];
  }

  async function embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const unique = [...new Set(texts)];
    const byText = new Map<string, Float32Array>();
    for (const batch of batches(unique)) {
      const vectors = await request(batch, options);
      batch.forEach((text, i) => byText.set(text, vectors[i]!));
    }
    return texts.map((t) => byText.get(t)!);
  }

  return {
    model,
    requestedDimensions: requested,
    configured: transport !== undefined,
    assertConfigured: () => void requireTransport(),
    embed,

    async embedQuery(text, options) {
      const key = `${model}\0${requested ?? ''}\0${sha256(text)}`;
      const hit = queryCache.get(key);
      if (hit) return hit;
      const [vector] = await embed([text], options);
      queryCache.set(key, vector!);
      return vector!;
    },

    async dimensions() {
      if (learned === undefined) await embed(['dimensions probe']);
      return learned!;
    },

    knownDimensions: () => learned,
  };
}

/** Splits texts into requests of at most MAX_INPUTS_PER_REQUEST inputs and MAX_TOKENS_PER_REQUEST estimated tokens. */
function batches(texts: readonly string[]): string[][] {
  const out: string[][] = [];
  let current: string[] = [];
  let tokens = 0;
  for (const text of texts) {
    const t = estimateTokens(text);
    if (current.length > 0 && (current.length >= MAX_INPUTS_PER_REQUEST || tokens + t > MAX_TOKENS_PER_REQUEST)) {
      out.push(current);
      current = [];
      tokens = 0;
    }
    current.push(text);
    tokens += t;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** A base64 embedding is little-endian float32 bytes; some compatible servers send plain arrays anyway. */
function decode(embedding: unknown): Float32Array | undefined {
  if (typeof embedding === 'string') {
    const bytes = Buffer.from(embedding, 'base64');
    if (bytes.length === 0 || bytes.length % 4 !== 0) return undefined;
    return bytesToVector(new Uint8Array(bytes)); // a copy: off Buffer's shared pool, aligned
  }
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === 'number')) return Float32Array.from(embedding);
  return undefined;
}
