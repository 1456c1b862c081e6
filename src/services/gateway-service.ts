import { InvalidRequestError, ProviderNotConfiguredError } from '../errors.js';
import { readFailure, toRelayError } from '../upstream/error-mapping.js';
import {
  answerEvents,
  postModelCall,
  readAnswer,
  startModelCall,
  type CallOptions,
  type ModelCall,
  type ModelCallObserver,
  type TokenUsage,
} from '../upstream/model-call.js';
import { ProviderHttpError } from '../upstream/provider-errors.js';
import type { Transport, UpstreamResponse } from '../upstream/transport.js';

/** A client's JSON body: the bytes it sent, relayed as they are, and what they parse to. */
export interface RelayBody {
  raw: Buffer;
  json: unknown;
}

/** The provider's answer, relayed: its bytes and content type. */
export interface RelayedAnswer {
  body: Buffer;
  contentType: string;
}

/** A relayed stream: each event's `data`, as the client should get it ([DONE] included). */
interface RelayedStream {
  events: AsyncIterable<string>;
}

/**
 * The OpenAI-compatible gateway (/v1 Chat Completions, Embeddings, Models): the client's
 * request goes to the provider as the bytes it sent, and the answer comes back as the
 * provider's bytes. Only what the gateway itself needs is checked (JSON, a `model`
 * string, `messages` or `input`); the provider judges the rest. Every chat and embedding
 * call is observed (metrics, log line) and its usage reported (token budgets), streams
 * included: the provider is always asked for usage, and the usage chunk reaches the
 * client only when it asked for it.
 */
export function gatewayService(deps: {
  transport: Transport | undefined;
  observe?: ModelCallObserver | undefined;
  /** The reply a client sets no max tokens for may take this many, for its token budget (OPENAI_MAX_TOKENS). */
  defaultMaxTokens: number;
}) {
  /** The most a request's replies may use: its max tokens (or the default), times `n`. */
  const maxReply = (json: Record<string, unknown>): number => {
    const max = [json.max_completion_tokens, json.max_tokens].find((v): v is number => typeof v === 'number' && v > 0) ?? deps.defaultMaxTokens;
    const n = typeof json.n === 'number' && json.n > 1 ? Math.floor(json.n) : 1;
    return max * n;
  };

  const requireTransport = (): Transport => {
    if (!deps.transport) throw new ProviderNotConfiguredError();
    return deps.transport;
  };

  const post = (path: string, body: Buffer | string, call: ModelCall, options: CallOptions, maxReplyTokens: number) =>
    postModelCall(requireTransport(), path, body, call, options, { maxReplyTokens }, toRelayError);

  /** Reads a whole answer, finishing the call with the usage found at its end. */
  async function relayWhole(response: UpstreamResponse, call: ModelCall, options: CallOptions): Promise<RelayedAnswer> {
    const body = await readAnswer(call, options.signal, async () => Buffer.from(await response.body.arrayBuffer()));
    call.finish('success', trailingUsage(body));
    return { body, contentType: header(response, 'content-type') ?? 'application/json' };
  }

  return {
    async chatCompletions(request: RelayBody, options: CallOptions = {}): Promise<RelayedAnswer | RelayedStream> {
      const json = requireObject(request.json);
      const model = requireString(json, 'model');
      if (!Array.isArray(json.messages)) throw new InvalidRequestError("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
      requireTransport();
      if (json.stream !== true) {
        const call = startModelCall(deps.observe, { model, stream: false }, options);
        return relayWhole(await post('chat/completions', request.raw, call, options, maxReply(json)), call, options);
      }
      const streamOptions = json.stream_options as { include_usage?: unknown } | undefined | null;
      const asked = streamOptions?.include_usage === true;
      const call = startModelCall(deps.observe, { model, stream: true }, options);
      const response = await post('chat/completions', asked ? request.raw : withUsageAsked(request, json), call, options, maxReply(json));
      return { events: relayEvents(response, call, asked, options.signal) };
    },

    async embeddings(request: RelayBody, options: CallOptions = {}): Promise<RelayedAnswer> {
      const json = requireObject(request.json);
      const model = requireString(json, 'model');
      if (json.input === undefined || json.input === null) throw new InvalidRequestError("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
      requireTransport();
      const call = startModelCall(deps.observe, { model, stream: false }, options);
      return relayWhole(await post('embeddings', request.raw, call, options, 0), call, options);
    },

    /** GET models or models/{id}: not a model call (no tokens), relayed all the same. */
    async models(id: string | undefined, options: CallOptions = {}): Promise<RelayedAnswer> {
      let response: UpstreamResponse;
      try {
        response = await requireTransport().send({
          method: 'GET',
          path: id === undefined ? 'models' : `models/${encodeURIComponent(id)}`,
          signal: options.signal,
          requestId: options.requestId,
        });
        return { body: Buffer.from(await response.body.arrayBuffer()), contentType: header(response, 'content-type') ?? 'application/json' };
      } catch (error) {
        throw error instanceof ProviderHttpError ? toRelayError(error) : readFailure(error, options.signal);
      }
    },
  };
}

export type GatewayService = ReturnType<typeof gatewayService>;

/**
 * The events of a relayed stream as they arrive. The data is passed on as it came, except
 * the usage the gateway asked for on the client's behalf: a chunk carrying it is dropped
 * when it carries nothing else (OpenAI's usage chunk has no choices), or sent without it.
 * A usage object can only appear as `"usage":{` outside a string (inside one the quotes are
 * escaped), so other chunks are not parsed at all.
 */
const USAGE_OBJECT = /"usage":\s*\{/;

async function* relayEvents(response: UpstreamResponse, call: ModelCall, asked: boolean, signal: AbortSignal | undefined): AsyncGenerator<string> {
  for await (const data of answerEvents(response, call, signal)) {
    if (!USAGE_OBJECT.test(data)) {
      yield data;
      continue;
    }
    let chunk: { usage?: TokenUsage | null; choices?: unknown[] };
    try {
      chunk = JSON.parse(data) as typeof chunk;
    } catch {
      yield data; // not ours to judge: the client gets what the provider sent
      continue;
    }
    if (chunk.usage && typeof chunk.usage === 'object') call.usage = chunk.usage;
    if (asked || !chunk.usage) yield data;
    else if (chunk.choices?.length) yield JSON.stringify({ ...chunk, usage: undefined });
  }
}

/** The client's streaming body with `stream_options.include_usage: true` added. */
function withUsageAsked(request: RelayBody, json: Record<string, unknown>): Buffer | string {
  if (json.stream_options !== undefined) {
    return JSON.stringify({ ...json, stream_options: { ...(json.stream_options as object | null), include_usage: true } });
  }
  // Spliced in before the closing brace: the rest of the bytes go as the client sent them.
  // The body holds at least `stream`, so a comma goes first.
  const end = request.raw.lastIndexOf(0x7d);
  return Buffer.concat([request.raw.subarray(0, end), Buffer.from(',"stream_options":{"include_usage":true}}')]);
}

/**
 * The `usage` object of a whole answer, found from its end (OpenAI puts it last) without
 * parsing the rest: an embeddings answer can be megabytes of vectors. Undefined when the
 * provider sent none.
 */
export function trailingUsage(body: Buffer): TokenUsage | undefined {
  let at = body.length;
  while ((at = body.lastIndexOf('"usage":', at - 1)) > 0) {
    if (body[at - 1] === 0x5c) continue; // \"usage\": inside a string
    let start = at + 8;
    while (body[start] === 0x20 || body[start] === 0x0a || body[start] === 0x0d || body[start] === 0x09) start++;
    if (body[start] !== 0x7b) return undefined; // "usage": null
    let depth = 0;
    for (let i = start; i < body.length; i++) {
      if (body[i] === 0x7b) depth++;
      else if (body[i] === 0x7d && --depth === 0) {
        try {
          const usage = JSON.parse(body.subarray(start, i + 1).toString('utf8')) as Partial<TokenUsage>;
          return {
            prompt_tokens: usage.prompt_tokens ?? 0,
            completion_tokens: usage.completion_tokens ?? 0,
            total_tokens: usage.total_tokens ?? (usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0),
          };
        } catch {
          return undefined;
        }
      }
    }
    return undefined;
  }
  return undefined;
}

function requireObject(json: unknown): Record<string, unknown> {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new InvalidRequestError('The body must be a JSON object.', null);
  return json as Record<string, unknown>;
}

function requireString(json: Record<string, unknown>, field: string): string {
  const value = json[field];
  if (value === undefined || value === null) throw new InvalidRequestError(`Missing required parameter: '${field}'.`, field, 'missing_required_parameter');
  if (typeof value !== 'string' || value === '') throw new InvalidRequestError(`Invalid type for '${field}': expected a string.`, field, 'invalid_type');
  return value;
}

const header = (response: UpstreamResponse, name: string): string | undefined => {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
};
