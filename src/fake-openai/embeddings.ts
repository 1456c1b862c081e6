/**
 * POST /v1/embeddings with deterministic "semantic-ish" vectors.
 *
 * Vector of a text: lower-case it, take its words (runs of letters/digits); every word adds ±1.0
 * and every character trigram of "^word$" adds ±0.3 to one of `dimensions` buckets chosen by a
 * 32-bit hash (the sign comes from the hash too); the result is L2-normalised. Identical texts get
 * identical vectors (cosine 1), texts sharing words (or word stems) are closer than unrelated texts.
 * A text without any word gets the fixed unit vector (1/√d, …, 1/√d).
 *
 * usage.prompt_tokens = Σ over inputs of ceil(chars / 4) (token-id inputs: the number of ids).
 */
import { endianness } from 'node:os';
import type { ServerResponse } from 'node:http';
import { sendBody, sendError } from './respond.js';
import type { FakeOpenAICounters } from './types.js';

const MAX_INPUTS = 2048;
const MAX_INPUT_TOKENS = 8192;
const WORD_WEIGHT = 1.0;
const TRIGRAM_WEIGHT = 0.3;
const WORD_RE = /[\p{L}\p{N}]+/gu;
const LITTLE_ENDIAN = endianness() === 'LE';

/** Native dimensions of a model (also the largest `dimensions` accepted). */
export function modelDimensions(model: string): number {
  return model.includes('-large') ? 3072 : 1536;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function add(out: Float32Array, at: number, dims: number, h: number, weight: number): void {
  h = fmix(h);
  const i = at + ((h >>> 1) % dims);
  out[i] = (out[i] as number) + (h & 1 ? weight : -weight);
}

/** Writes the unit vector of `text` into `out[at .. at+dims)` (which must be zero). */
export function embedInto(text: string, dims: number, out: Float32Array, at: number): void {
  const lower = text.toLowerCase();
  let words = 0;
  for (const m of lower.matchAll(WORD_RE)) {
    const w = m[0];
    words++;
    let h = 0x811c9dc5;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 0x01000193);
    add(out, at, dims, h, WORD_WEIGHT);
    // Trigrams of "^w$" (0x5e = '^', 0x24 = '$').
    const len = w.length + 2;
    for (let i = 0; i + 3 <= len; i++) {
      const a = i === 0 ? 0x5e : w.charCodeAt(i - 1);
      const b = i + 1 === len - 1 ? 0x24 : w.charCodeAt(i);
      const c = i + 2 === len - 1 ? 0x24 : w.charCodeAt(i + 1);
      let t = 0x9747b28c;
      t = Math.imul(t ^ a, 0x01000193);
      t = Math.imul(t ^ b, 0x01000193);
      t = Math.imul(t ^ c, 0x01000193);
      add(out, at, dims, t, TRIGRAM_WEIGHT);
    }
  }
  let sum = 0;
  if (words > 0) for (let i = at, e = at + dims; i < e; i++) sum += (out[i] as number) * (out[i] as number);
  if (sum === 0) {
    out.fill(1 / Math.sqrt(dims), at, at + dims);
    return;
  }
  const inv = 1 / Math.sqrt(sum);
  for (let i = at, e = at + dims; i < e; i++) if (out[i] !== 0) out[i] = (out[i] as number) * inv;
}

const ZEROS = ',0'.repeat(3072);

/**
 * One embedding as a JSON array of float32 values. The vectors are sparse, so runs of zeros are
 * sliced out of a prepared ",0,0,…" string instead of being formatted one by one.
 */
function floatJson(v: Float32Array, at: number, dims: number): string {
  let s = '';
  let zeros = 0; // pending zeros not yet written
  const end = at + dims;
  for (let i = at; i < end; i++) {
    const x = v[i] as number;
    if (x === 0) {
      zeros++;
      continue;
    }
    if (zeros > 0) {
      s += ZEROS.slice(0, zeros * 2);
      zeros = 0;
    }
    s += ',' + x;
  }
  if (zeros > 0) s += ZEROS.slice(0, zeros * 2);
  return '[' + s.slice(1) + ']';
}

/** Little-endian float32 bytes, base64 (what OpenAI sends for encoding_format "base64"). */
function base64(v: Float32Array, at: number, dims: number): string {
  if (LITTLE_ENDIAN) return Buffer.from(v.buffer, v.byteOffset + at * 4, dims * 4).toString('base64');
  const b = Buffer.allocUnsafe(dims * 4);
  for (let i = 0; i < dims; i++) b.writeFloatLE(v[at + i] as number, i * 4);
  return b.toString('base64');
}

function bad(res: ServerResponse, message: string, param: string | null, code: string | null): void {
  sendError(res, 400, message, 'invalid_request_error', code, param);
}

function isTokenArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.length > 0 && v.every((n) => Number.isInteger(n) && (n as number) >= 0);
}

/** Normalises `input` into texts and token counts, or returns an error message. */
function inputs(input: unknown): { texts: string[]; tokens: number } | string {
  if (typeof input === 'string') {
    if (input.length === 0) return "'$.input' is invalid: it must not be an empty string.";
    return { texts: [input], tokens: Math.ceil(input.length / 4) };
  }
  if (!Array.isArray(input)) return "Invalid type for 'input': expected a string, an array of strings or an array of token arrays.";
  if (input.length === 0) return "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.";
  if (input.length > MAX_INPUTS)
    return `Invalid 'input': array too long. Expected an array with maximum length ${MAX_INPUTS}, but got an array with length ${input.length} instead.`;
  if (typeof input[0] === 'number') {
    if (!isTokenArray(input)) return "'$.input' is invalid: token arrays must contain non-negative integers.";
    return { texts: [input.join(' ')], tokens: input.length };
  }
  const texts = new Array<string>(input.length);
  let tokens = 0;
  for (let i = 0; i < input.length; i++) {
    const item: unknown = input[i];
    if (typeof item === 'string') {
      if (item.length === 0) return `'$.input[${i}]' is invalid: it must not be an empty string.`;
      texts[i] = item;
      tokens += Math.ceil(item.length / 4);
    } else if (isTokenArray(item)) {
      texts[i] = item.join(' ');
      tokens += item.length;
    } else {
      return `'$.input[${i}]' is invalid: expected a non-empty string or a non-empty array of token ids.`;
    }
  }
  return { texts, tokens };
}

export function handleEmbeddings(res: ServerResponse, body: unknown, counters: FakeOpenAICounters): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return bad(res, 'The request body must be a JSON object.', null, 'invalid_type');
  const b = body as Record<string, unknown>;
  if (typeof b.model !== 'string' || b.model.length === 0) return bad(res, 'you must provide a model parameter', 'model', 'missing_required_parameter');
  if (b.input === undefined) return bad(res, "Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  const parsed = inputs(b.input);
  if (typeof parsed === 'string') return bad(res, parsed, 'input', 'invalid_value');
  const native = modelDimensions(b.model);
  let dims = native;
  if (b.dimensions !== undefined && b.dimensions !== null) {
    const d = b.dimensions;
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > native)
      return bad(res, `Invalid 'dimensions': expected an integer from 1 to ${native} for ${b.model}.`, 'dimensions', 'invalid_value');
    dims = d;
  }
  const format = b.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64')
    return bad(res, "Invalid value for 'encoding_format': expected 'float' or 'base64'.", 'encoding_format', 'invalid_value');
  const { texts } = parsed;
  for (let i = 0; i < texts.length; i++) {
    if (Math.ceil((texts[i] as string).length / 4) > MAX_INPUT_TOKENS)
      return bad(
        res,
        `This model's maximum context length is ${MAX_INPUT_TOKENS} tokens, however you requested ${Math.ceil((texts[i] as string).length / 4)} tokens (input[${i}]). Please reduce your prompt.`,
        'input',
        'context_length_exceeded',
      );
  }

  const all = new Float32Array(texts.length * dims);
  let json = '{"object":"list","data":[';
  for (let i = 0; i < texts.length; i++) {
    const at = i * dims;
    embedInto(texts[i] as string, dims, all, at);
    if (i > 0) json += ',';
    json +=
      '{"object":"embedding","index":' +
      i +
      ',"embedding":' +
      (format === 'base64' ? '"' + base64(all, at, dims) + '"' : floatJson(all, at, dims)) +
      '}';
  }
  json += '],"model":' + JSON.stringify(b.model) + ',"usage":{"prompt_tokens":' + parsed.tokens + ',"total_tokens":' + parsed.tokens + '}}';
  counters.embeddedInputs += texts.length;
  sendBody(res, 200, json);
}
