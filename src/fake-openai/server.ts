/**
 * An OpenAI-compatible fake model server for tests, benchmarks and offline development.
 *
 * Plain `node:http`, no framework, no per-request logging: it is the baseline the benchmarks compare
 * our server against. Endpoints: GET /v1/models[/{id}], POST /v1/chat/completions (incl. streaming and
 * tool calls, driven by directives: see directives.ts), POST /v1/embeddings (see embeddings.ts), and the
 * control endpoints under /_fake/ (faults, counters, recorded requests, reset). The `/v1` prefix is
 * optional and a trailing slash is ignored. See docs/fake-openai.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Exchange } from './exchange.js';
import { FaultQueue, checkFault } from './faults.js';
import { handleChat } from './chat.js';
import { handleEmbeddings } from './embeddings.js';
import { handleListModels, handleGetModel } from './models.js';
import { sendBody, sendError, sendNoContent, errorJson, defaultError } from './respond.js';
import type { Fault, FakeOpenAI, FakeOpenAICounters, FakeOpenAIOptions, RecordedRequest } from './types.js';

export type { Fault, FaultPath, FakeOpenAI, FakeOpenAICounters, FakeOpenAIOptions, RecordedRequest } from './types.js';

const MAX_RECORDED = 1000;
const MAX_BODY_CHARS = 64 * 1024 * 1024;
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

type Kind = 'chat' | 'embeddings' | 'models' | 'model';

function zeroCounters(c: FakeOpenAICounters): FakeOpenAICounters {
  c.requests = 0;
  c.chat = 0;
  c.chatStreams = 0;
  c.embeddings = 0;
  c.models = 0;
  c.embeddedInputs = 0;
  c.abortedStreams = 0;
  c.completedStreams = 0;
  c.faultsServed = 0;
  return c;
}

/** Reads the whole body as text, then calls `done` (413 and no call when it is too large). */
function readBody(req: IncomingMessage, res: ServerResponse, done: (raw: string) => void): void {
  req.setEncoding('utf8');
  let raw = '';
  let tooLarge = false;
  req.on('data', (chunk: string) => {
    if (tooLarge) return;
    raw += chunk;
    if (raw.length > MAX_BODY_CHARS) {
      tooLarge = true;
      raw = '';
      sendError(res, 413, 'Request body too large.', 'invalid_request_error', 'payload_too_large', null, { connection: 'close' });
    }
  });
  req.on('end', () => {
    if (!tooLarge) done(raw);
  });
}

function parseJson(raw: string): { ok: boolean; value: unknown } {
  if (raw.length === 0) return { ok: false, value: null };
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false, value: raw };
  }
}

const INVALID_JSON =
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. " +
  'The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)';

export function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const host = opts.host ?? '127.0.0.1';
  const record = opts.record ?? true;
  const expectedAuth = opts.apiKey !== undefined ? 'Bearer ' + opts.apiKey : undefined;
  const counters = zeroCounters({} as FakeOpenAICounters);
  const requests: RecordedRequest[] = [];
  const faults = new FaultQueue();
  let shuttingDown = false;
  const isShuttingDown = (): boolean => shuttingDown;

  function fail(res: ServerResponse, err: unknown): void {
    if (!res.headersSent) {
      sendError(res, 500, 'fake-openai internal error: ' + (err instanceof Error ? err.message : String(err)), 'server_error', 'server_error');
    } else {
      res.destroy();
    }
  }

  /** Normal handling, after faults. `dropAfterChunks` ≥ 0 comes from a fault. */
  function handle(x: Exchange, kind: Kind, path: string, ok: boolean, body: unknown, dropAfterChunks: number): void {
    const res = x.res;
    if (kind === 'models') return handleListModels(res);
    if (kind === 'model') return handleGetModel(res, path.slice(path.lastIndexOf('/models/') + 8));
    if (!ok) return sendError(res, 400, INVALID_JSON, 'invalid_request_error', 'invalid_json');
    if (kind === 'embeddings') return handleEmbeddings(res, body, counters);
    handleChat(x, body, dropAfterChunks).catch((err: unknown) => fail(res, err));
  }

  async function applyFault(x: Exchange, fault: Fault, kind: Kind, path: string, ok: boolean, body: unknown): Promise<void> {
    if (fault.delayMs !== undefined && fault.delayMs > 0) {
      await x.sleep(fault.delayMs);
      if (x.closed) return;
    }
    if (fault.drop === true) return x.drop();
    let headers: Record<string, string> | undefined;
    if (fault.retryAfter !== undefined) (headers ??= {})['retry-after'] = fault.retryAfter;
    if (fault.retryAfterMs !== undefined) (headers ??= {})['retry-after-ms'] = fault.retryAfterMs;
    const custom = fault.body === undefined ? undefined : typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
    if (fault.status !== undefined) return sendBody(x.res, fault.status, custom ?? errorJson(defaultError(fault.status)), headers);
    if (custom !== undefined) {
      const sse = x.stream && typeof fault.body === 'string';
      return sendBody(x.res, 200, custom, headers, sse ? 'text/event-stream; charset=utf-8' : 'application/json');
    }
    handle(x, kind, path, ok, body, fault.dropAfterChunks ?? -1);
  }

  function dispatch(req: IncomingMessage, res: ServerResponse, kind: Kind, path: string, raw: string | null): void {
    let ok = true;
    let body: unknown = null;
    if (raw !== null) ({ ok, value: body } = parseJson(raw));
    if (record) {
      requests.push({ path, headers: req.headers, body, at: Date.now() });
      if (requests.length > MAX_RECORDED) requests.shift();
    }
    const x = new Exchange(req, res, counters, isShuttingDown);
    let faultPath: 'chat' | 'embeddings' | 'models';
    if (kind === 'chat') {
      counters.chat++;
      faultPath = 'chat';
      if (ok && body !== null && typeof body === 'object' && (body as { stream?: unknown }).stream === true) {
        counters.chatStreams++;
        x.stream = true;
      }
    } else if (kind === 'embeddings') {
      counters.embeddings++;
      faultPath = 'embeddings';
    } else {
      counters.models++;
      faultPath = 'models';
    }
    const fault = faults.take(faultPath, x.stream);
    if (fault === undefined) return handle(x, kind, path, ok, body, -1);
    counters.faultsServed++;
    applyFault(x, fault, kind, path, ok, body).catch((err: unknown) => fail(res, err));
  }

  function control(req: IncomingMessage, res: ServerResponse, path: string): void {
    const method = req.method;
    if (path === '/_fake/counters' && method === 'GET') return sendBody(res, 200, JSON.stringify(counters));
    if (path === '/_fake/requests' && method === 'GET') return sendBody(res, 200, JSON.stringify(requests));
    if (path === '/_fake/faults' && method === 'GET') return sendBody(res, 200, JSON.stringify(faults.list()));
    if (path === '/_fake/health' && method === 'GET') return sendBody(res, 200, '{"status":"ok"}');
    if (path === '/_fake/reset' && method === 'POST') {
      api.reset();
      return sendNoContent(res);
    }
    if (path === '/_fake/faults' && method === 'POST') {
      return readBody(req, res, (raw) => {
        const { ok, value } = parseJson(raw);
        if (!ok) return sendError(res, 400, 'Body must be a JSON Fault or an array of Faults.', 'invalid_request_error', 'invalid_json');
        const list = Array.isArray(value) ? (value as unknown[]) : [value];
        try {
          for (const f of list) checkFault(f);
        } catch (err) {
          return sendError(res, 400, (err as Error).message, 'invalid_request_error', 'invalid_fault');
        }
        for (const f of list) faults.add(f as Fault);
        sendNoContent(res);
      });
    }
    sendError(res, 404, `Invalid URL (${method ?? ''} ${path})`, 'invalid_request_error', 'unknown_url');
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (path.length > 1 && path.charCodeAt(path.length - 1) === 47 /* / */) path = path.slice(0, -1);
    if (path.startsWith('/_fake/')) return control(req, res, path);

    counters.requests++;
    const api = path.startsWith('/v1/') ? path.slice(3) : path;
    const method = req.method;
    let kind: Kind | undefined;
    if (api === '/chat/completions') kind = method === 'POST' ? 'chat' : undefined;
    else if (api === '/embeddings') kind = method === 'POST' ? 'embeddings' : undefined;
    else if (api === '/models') kind = method === 'GET' ? 'models' : undefined;
    else if (api.startsWith('/models/') && api.length > 8) kind = method === 'GET' ? 'model' : undefined;
    if (kind === undefined) return sendError(res, 404, `Invalid URL (${method ?? ''} ${path})`, 'invalid_request_error', 'unknown_url');

    if (expectedAuth !== undefined && req.headers.authorization !== expectedAuth) {
      const given = req.headers.authorization;
      return sendError(
        res,
        401,
        given === undefined
          ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
          : 'Incorrect API key provided.',
        'invalid_request_error',
        'invalid_api_key',
      );
    }
    if (method === 'GET') return dispatch(req, res, kind, path, null);
    const k = kind;
    readBody(req, res, (raw) => {
      try {
        dispatch(req, res, k, path, raw);
      } catch (err) {
        fail(res, err);
      }
    });
  }

  const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
    try {
      onRequest(req, res);
    } catch (err) {
      fail(res, err);
    }
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;

  let closing: Promise<void> | undefined;
  const api: FakeOpenAI = {
    url: '',
    port: 0,
    counters,
    requests,
    addFault(fault: Fault): void {
      faults.add(fault);
    },
    reset(): void {
      faults.clear();
      zeroCounters(counters);
      requests.length = 0;
    },
    waitFor(pred: (c: FakeOpenAICounters) => boolean, timeoutMs = 2000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      return new Promise<void>((resolve, reject) => {
        const check = (): void => {
          let met: boolean;
          try {
            met = pred(counters);
          } catch (err) {
            return reject(err instanceof Error ? err : new Error(String(err)));
          }
          if (met) return resolve();
          if (Date.now() >= deadline)
            return reject(new Error(`fake-openai waitFor: condition not met within ${timeoutMs} ms; counters: ${JSON.stringify(counters)}`));
          setTimeout(check, 5);
        };
        check();
      });
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        shuttingDown = true;
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };

  return new Promise<FakeOpenAI>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: opts.port ?? 0, backlog: 4096 }, () => {
      server.off('error', reject);
      const port = (server.address() as AddressInfo).port;
      api.port = port;
      api.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
      resolve(api);
    });
  });
}
