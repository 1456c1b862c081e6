/** Public types of the fake OpenAI server (re-exported by `server.ts`). */

export interface FakeOpenAIOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; `0` (the default) picks a free port. */
  port?: number;
  /** When set, `/v1/*` requests without `Authorization: Bearer <apiKey>` get 401 `invalid_api_key`. */
  apiKey?: string;
  /** Record requests into `requests` (bounded to the last 1000). Default `true`; turn off for benchmarks. */
  record?: boolean;
}

export type FaultPath = 'chat' | 'embeddings' | 'models' | 'any';

export interface Fault {
  /** Which endpoint it applies to, default `'any'`. */
  path?: FaultPath;
  /** How many matching requests it applies to, default 1. */
  times?: number;
  /** Answer with this HTTP status and an OpenAI-style error body. */
  status?: number;
  /** Sets the `retry-after` header (seconds, as string). */
  retryAfter?: string;
  /** Sets the `retry-after-ms` header. */
  retryAfterMs?: string;
  /** Overrides the error body; with no `status`, a 200 answer with this (garbage/invalid) body. Strings are sent raw. */
  body?: unknown;
  /** Wait this long before answering; combinable with the others. */
  delayMs?: number;
  /** Destroy the socket without answering (connection error). */
  drop?: boolean;
  /** Streaming chat only: send N chunks after the role chunk, then destroy the socket. */
  dropAfterChunks?: number;
}

export interface FakeOpenAICounters {
  /** Every request to the API (everything except `/_fake/*`). */
  requests: number;
  /** `POST /v1/chat/completions` requests (streaming or not). */
  chat: number;
  /** Chat requests with `stream: true`. */
  chatStreams: number;
  /** `POST /v1/embeddings` requests. */
  embeddings: number;
  /** `GET /v1/models` and `GET /v1/models/{id}` requests. */
  models: number;
  /** Inputs embedded (sum of batch sizes of successful embedding requests). */
  embeddedInputs: number;
  /** Streaming requests whose client went away before the stream finished. */
  abortedStreams: number;
  /** Streams that were written to the end (`data: [DONE]`). */
  completedStreams: number;
  /** Requests a queued fault was applied to. */
  faultsServed: number;
}

export interface RecordedRequest {
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body; the raw text when it is not JSON; `null` when there is none. */
  body: any;
  /** `Date.now()` when the request body had been read. */
  at: number;
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:PORT/v1` (what `OPENAI_BASE_URL` is set to). */
  url: string;
  port: number;
  /** Live object, updated in place (also by `reset()`). */
  counters: FakeOpenAICounters;
  /** Recorded requests, newest last, the last 1000 kept. Live array, emptied in place by `reset()`. */
  requests: RecordedRequest[];
  /** Queue a fault; faults apply in order, each for `times` matching requests. Throws TypeError when invalid. */
  addFault(fault: Fault): void;
  /** Clears faults, counters and recorded requests. */
  reset(): void;
  /** Resolves once `pred(counters)` is true; rejects after `timeoutMs` (default 2000). */
  waitFor(pred: (c: FakeOpenAICounters) => boolean, timeoutMs?: number): Promise<void>;
  /** Closes the server, destroying open sockets. Idempotent. */
  close(): Promise<void>;
}
