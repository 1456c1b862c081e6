import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * The `fetch` the OpenAI SDK uses, on node:http with keep-alive agents.
 *
 * Why not the global fetch: measured here (bench/, one upstream call per request),
 * Node's built-in fetch costs ~4x the CPU of http.request for the small JSON
 * exchanges a chat backend makes, and that dominated our per-request overhead.
 * The SDK keeps doing everything else (retries, backoff, timeouts, parsing,
 * streaming); this only moves bytes. Requests it does not handle (non-http(s)
 * URLs, streamed or multipart bodies, e.g. file uploads) go to the global fetch.
 */
export function createNodeHttpFetch(options: { maxSockets?: number } = {}): typeof fetch {
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? Infinity, scheduling: 'lifo' as const };
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

  // The SDK asks for the same few URLs over and over; a URL is only read by http.request.
  let lastHref = '';
  let lastUrl: URL | undefined;
  const parse = (href: string): URL => {
    if (href !== lastHref || !lastUrl) {
      lastUrl = new URL(href);
      lastHref = href;
    }
    return lastUrl;
  };

  return async function nodeHttpFetch(input, init = {}) {
    const url = parse(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const body = init.body;
    const plainBody = body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;
    if (!(input instanceof URL || typeof input === 'string') || !plainBody || !(url.protocol in agents)) {
      return fetch(input, init);
    }
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw abortError(signal);

    const headers: Record<string, string> = {};
    // The SDK hands over a Headers already; copying it into another would validate every header again.
    (init.headers instanceof Headers ? init.headers : new Headers(init.headers)).forEach((value, name) => {
      headers[name] = value;
    });
    const bytes = typeof body === 'string' ? encodeUtf8(body) : (body ?? undefined);
    if (bytes) headers['content-length'] = String(bytes.byteLength);

    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<Response>((resolve, reject) => {
      const request = transport.request(url, {
        method: init.method ?? 'GET',
        headers,
        agent: agents[url.protocol as keyof typeof agents],
      });
      let incoming: http.IncomingMessage | undefined;
      const onAbort = () => {
        const error = abortError(signal!);
        // Ends a body being read with the AbortError itself, as fetch does.
        incoming?.destroy(error);
        request.destroy(error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => signal?.removeEventListener('abort', onAbort);

      request.once('error', (error) => {
        done();
        // Shaped like undici's failures, so the SDK reports a connection error (or an abort).
        reject(error.name === 'AbortError' ? error : new TypeError('fetch failed', { cause: error }));
      });
      request.once('response', (response) => {
        incoming = response;
        const status = response.statusCode ?? 0;
        const responseHeaders = new Headers();
        const raw = response.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!);
        const init = { status, statusText: response.statusMessage ?? '', headers: responseHeaders };

        if (NULL_BODY_STATUSES.has(status) || init.headers.get('content-type')?.includes('text/event-stream')) {
          // Streams are handed over as they arrive; the reader's pace is the socket's pace.
          response.once('close', done);
          resolve(new Response(NULL_BODY_STATUSES.has(status) ? null : (Readable.toWeb(response) as ReadableStream), init));
          return;
        }
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () => {
          done();
          resolve(new BufferedResponse(Buffer.concat(chunks), init, url.href) as unknown as Response);
        });
        response.once('error', (error) => {
          done();
          reject(error.name === 'AbortError' ? error : new TypeError('fetch failed', { cause: error }));
        });
      });
      request.end(bytes);
    });
  };
}

const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

/** Below this many characters Buffer.from takes its bytes from Node's shared pool. */
const POOLED_TEXT_LENGTH = 2048;

/**
 * A request body's UTF-8 bytes, as Buffer.from(text) makes them. For a long body (a
 * long conversation's history is ~45 KiB) Buffer.from measured ~10 µs here, against
 * ~3 µs for measuring the length (simdutf), taking uninitialised memory and writing.
 */
export function encodeUtf8(text: string): Buffer {
  if (text.length < POOLED_TEXT_LENGTH) return Buffer.from(text);
  const bytes = Buffer.allocUnsafe(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}

/**
 * A whole response body already in memory, read the way the SDK reads replies
 * (`json()`, `text()`, `headers`, `status`). A WHATWG `Response` would wrap the
 * buffer in a web stream only to read it back: about 16 µs a reply here, measured,
 * against under 1 µs. `body` (which the SDK only touches to cancel an error reply
 * before a retry) is made on demand.
 */
class BufferedResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly redirected = false;
  readonly type = 'basic';
  #used = false;
  #body: ReadableStream<Uint8Array> | undefined;

  constructor(
    private readonly buffer: Buffer,
    init: { status: number; statusText: string; headers: Headers },
    readonly url: string,
  ) {
    this.status = init.status;
    this.ok = init.status >= 200 && init.status <= 299;
    this.statusText = init.statusText;
    this.headers = init.headers;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  get body(): ReadableStream<Uint8Array> | null {
    this.#body ??= new Response(this.buffer).body ?? undefined;
    return this.#body ?? null;
  }

  #take(): Buffer {
    if (this.#used || this.#body) throw new TypeError('Body is unusable: Body has already been read');
    this.#used = true;
    return this.buffer;
  }

  async text(): Promise<string> {
    return this.#take().toString('utf8');
  }

  async json(): Promise<unknown> {
    return JSON.parse(this.#take().toString('utf8'));
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = this.#take();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  async blob(): Promise<Blob> {
    return new Blob([this.#take()], { type: this.headers.get('content-type') ?? '' });
  }

  clone(): BufferedResponse {
    if (this.#used) throw new TypeError('Response.clone: Body has already been consumed.');
    return new BufferedResponse(this.buffer, this, this.url);
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('This operation was aborted', 'AbortError');
}
