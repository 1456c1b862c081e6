/**
 * Soak test (issue 18): SOAK_MINUTES (default 10) of mixed load against the built app
 * (dist/main.js, SQLite, RATE_LIMIT_PER_MINUTE very high, the fake upstream), sampling the
 * app's memory, descriptors, handles and event-loop lag, to show nothing grows.
 *
 *   npx tsx bench/soak.ts                 (SOAK_MINUTES=10)
 *   SOAK_MINUTES=1 npx tsx bench/soak.ts  (a quick smoke run)
 *
 * Other knobs: SOAK_CONCURRENCY (workers, default 16), SOAK_SAMPLE_SECONDS (default 10, or
 * less for runs shorter than two minutes), SOAK_THINK_MS (most a worker waits between its
 * requests, default 40).
 *
 * The load: SOAK_CONCURRENCY workers in this process (node:http, keep-alive), each looping
 * over a weighted mix of POST /chat (new conversations and turns of the worker's current
 * one, up to 6 turns), POST /chat/stream (read to [DONE], or disconnected by the client
 * after a few events), POST /agent with a create_task tool directive, POST /tasks and
 * POST /search/semantic, and POST /v1/chat/completions plain and streamed (some streams
 * aborted by the client). The data stays bounded, so what is measured is the app and not its
 * data growing: each user's newest 200 tasks (the search index reaches a steady size) and
 * newest 300 conversations are kept, older ones deleted (DELETE /tasks/{id},
 * DELETE /conversations/{id}). SOAK_KEEP_CONVERSATIONS=1 keeps every conversation instead: the
 * database then grows all along (~4 MB/min), and RSS with it while SQLite's page cache fills
 * (better-sqlite3 builds SQLite with a 16 MB default cache_size per connection).
 *
 * Samples: every SOAK_SAMPLE_SECONDS, RSS (/proc/PID/status) and open fds (/proc/PID/fd)
 * of the app, and from its GET /metrics (prom-client's default metrics), scraped every 2 s:
 * heap used (the last scrape, and the smallest of the window: the floor after the GCs, which
 * is what a leak lifts; the raw value is a GC sawtooth), active handles, SSE streams open,
 * and event-loop lag (p99 and max; prom-client resets its histogram at every scrape, so each
 * covers the last 2 s).
 *
 * Pass: after the warm-up (the first 2 minutes or the first third, whichever is shorter),
 * the least-squares slope per minute of RSS (< 2 MB/min), heap floor (< 1 MB/min), fds and
 * handles (< 1/min) over the post-warm-up samples stays below its threshold, and the last
 * sample is not more than 10% above the post-warm-up median (at least 8 MB / 4 MB /
 * 8 fds / 8 handles, so a few sockets in flight are not a trend); no errors other than the
 * aborts the client caused itself; and once the load stops, no SSE stream is left open.
 * Prints the samples, the slopes and PASS/FAIL; exits 1 on FAIL. Runs whose post-warm-up window
 * is under 3 minutes (SOAK_MINUTES < 5, e.g. SOAK_MINUTES=1) are smoke runs: the trends are
 * printed but not judged (a slope over 40 s is noise), only the errors and leftover streams.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cpuMs } from './lib/cpu.js';
import { openFds, rssMb } from './lib/memory.js';
import {
  appEnv,
  cleanupAll,
  createUser,
  freePort,
  installExitHandlers,
  onCleanup,
  ROOT,
  startFake,
  stopChild,
  waitFor200,
} from './lib/processes.js';

// ---------------------------------------------------------------- settings

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
if (!(MINUTES > 0)) throw new Error(`SOAK_MINUTES must be a positive number, got ${process.env.SOAK_MINUTES}`);
const DURATION_MS = MINUTES * 60_000;
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? Math.min(10, Math.max(2, (MINUTES * 60) / 12))) * 1000;
const SCRAPE_MS = Math.min(2000, SAMPLE_MS);
const WARMUP_MS = Math.min(120_000, DURATION_MS / 3);
/**
 * A per-minute slope over less than this is noise (a socket more in the last sample of a 40 s
 * window is "+2 fds/min", and a young process is still compiling and filling its caches), so
 * shorter runs (SOAK_MINUTES below 5) are smoke runs: the trends are printed, not judged.
 */
const MIN_JUDGED_MS = 3 * 60_000;
const JUDGE_TRENDS = DURATION_MS - WARMUP_MS >= MIN_JUDGED_MS;
const CONCURRENCY = Number(process.env.SOAK_CONCURRENCY ?? 16);
const THINK_MS = Number(process.env.SOAK_THINK_MS ?? 40);
const USERS = 2;
const TASKS_KEPT = 200;
/** Conversations kept per user (older ones deleted), unless SOAK_KEEP_CONVERSATIONS=1 keeps every one. */
const CONVERSATIONS_KEPT = 300;
const KEEP_CONVERSATIONS = ['1', 'true'].includes(process.env.SOAK_KEEP_CONVERSATIONS ?? '');
const TURNS_PER_CONVERSATION = 6;
const REQUEST_TIMEOUT_MS = 30_000;
const MODEL = 'gpt-4.1-mini';

const LIMITS = {
  rssMbPerMin: 2,
  heapMbPerMin: 1,
  fdsPerMin: 1,
  handlesPerMin: 1,
  /** The last sample may be at most this much above the post-warm-up median… */
  lastOverMedian: 0.1,
};
/** …or this much in absolute terms, whichever is larger. */
const ABS_SLACK = { rss: 8, heap: 4, fds: 8, handles: 8 };

const started = performance.now();
const elapsed = () => performance.now() - started;
const log = (line: string) => process.stderr.write(`[soak ${(elapsed() / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the words of the requests

const WORDS = ('invoice budget meeting report garden kitchen dentist passport summer winter boiler bike rent landlord slides ' +
  'agenda offsite chairs archive mail freezer inventory customer release deploy review plan call email order book clean ' +
  'fix pay renew water organise prepare service paint garage photo album trip school doctor insurance tax car').split(' ');
let seed = 18;
const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
let serial = 0;
/** A few words and a number never seen before, so no cache keyed on text can serve it. */
const phrase = (words = 3 + Math.floor(random() * 6)) =>
  `${Array.from({ length: words }, () => pick(WORDS)).join(' ')} ${++serial}`;

// ---------------------------------------------------------------- HTTP client

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY * 2 });

class RequestError extends Error {
  constructor(readonly kind: string) {
    super(kind);
  }
}

interface JsonAnswer {
  status: number;
  body: any;
  text: string;
}

function requestJson(origin: string, method: string, urlPath: string, key: string | undefined, body?: unknown): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      `${origin}${urlPath}`,
      {
        method,
        agent,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.once('end', () => {
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, text });
        });
        res.once('error', (error: NodeJS.ErrnoException) => reject(new RequestError(`network ${error.code ?? error.message}`)));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new RequestError('timeout')));
    req.once('error', (error: NodeJS.ErrnoException) =>
      reject(error instanceof RequestError ? error : new RequestError(`network ${error.code ?? error.message}`)),
    );
    req.end(payload);
  });
}

interface StreamOutcome {
  /** Data events received. */
  events: number;
  /** The client went away on purpose after `abortAfter` events. */
  aborted: boolean;
  /** The first parsed data event (for the conversation id). */
  first: any;
}

/**
 * POSTs `body` and reads the SSE answer: to `data: [DONE]`, or until `abortAfter` data
 * events, when it destroys the connection (a client disconnecting mid-stream). Rejects with
 * a RequestError for anything else: a status other than 200, an error event, a stream
 * that ends without [DONE], a network error or a timeout.
 */
function requestStream(origin: string, urlPath: string, key: string, body: unknown, abortAfter?: number): Promise<StreamOutcome> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    let settled = false;
    const finish = (error: RequestError | undefined, outcome?: StreamOutcome) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve(outcome!);
    };
    const req = http.request(
      `${origin}${urlPath}`,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (chunk: string) => (text += chunk));
          res.once('end', () => finish(new RequestError(`http ${res.statusCode} ${errorCode(text)}`)));
          return;
        }
        let buffer = '';
        let events = 0;
        let first: any;
        let done = false;
        res.on('data', (chunk: string) => {
          if (settled) return;
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = event
              .split('\n')
              .filter((line) => line.startsWith('data:'))
              .map((line) => line.slice(5).trimStart())
              .join('\n');
            if (!data) continue;
            if (data === '[DONE]') {
              done = true;
              continue;
            }
            events++;
            let parsed: any;
            try {
              parsed = JSON.parse(data);
            } catch {
              req.destroy();
              return finish(new RequestError('stream bad-json'));
            }
            if (events === 1) first = parsed;
            if (parsed && typeof parsed === 'object' && 'error' in parsed) {
              req.destroy();
              const code = typeof parsed.error === 'object' ? parsed.error?.code ?? parsed.error?.type : parsed.code;
              return finish(new RequestError(`stream error-event ${code}`));
            }
            if (abortAfter !== undefined && events >= abortAfter) {
              req.destroy();
              return finish(undefined, { events, aborted: true, first });
            }
          }
        });
        res.once('end', () => finish(done ? undefined : new RequestError('stream ended-without-DONE'), { events, aborted: false, first }));
        res.once('error', (error: NodeJS.ErrnoException) => finish(new RequestError(`network ${error.code ?? error.message}`)));
        res.once('close', () => finish(new RequestError(done ? 'stream closed-after-DONE' : 'stream closed-without-DONE')));
      },
    );
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      req.destroy();
      finish(new RequestError('timeout'));
    });
    req.once('error', (error: NodeJS.ErrnoException) => finish(new RequestError(`network ${error.code ?? error.message}`)));
    req.end(payload);
  });
}

function errorCode(text: string): string {
  try {
    const body = JSON.parse(text);
    return String(body?.error?.code ?? body?.code ?? body?.error ?? '');
  } catch {
    return '';
  }
}

function expect(answer: JsonAnswer, status: number): void {
  if (answer.status !== status) throw new RequestError(`http ${answer.status} ${errorCode(answer.text)}`);
}

// ---------------------------------------------------------------- the load

interface User {
  key: string;
  /** Task ids, oldest first; the oldest are deleted beyond TASKS_KEPT. */
  tasks: string[];
  /** Conversation ids, oldest first; the oldest are deleted beyond CONVERSATIONS_KEPT. */
  conversations: string[];
  known: Set<string>;
  /** Conversations deleted (or being deleted): not to be continued. */
  deleted: Set<string>;
}

interface WorkerState {
  user: User;
  conversation?: string;
  turns: number;
}

type Op = (origin: string, worker: WorkerState) => Promise<'ok' | 'aborted'>;

const rememberTask = async (origin: string, user: User, id: string) => {
  user.tasks.push(id);
  while (user.tasks.length > TASKS_KEPT) {
    const oldest = user.tasks.shift()!;
    const answer = await requestJson(origin, 'DELETE', `/tasks/${oldest}`, user.key);
    expect(answer, 204);
    count('task-delete', 'ok');
  }
};

/** Notes a conversation the user has; deletes the oldest beyond CONVERSATIONS_KEPT (unless they are all kept). */
const rememberConversation = async (origin: string, user: User, id: string) => {
  if (KEEP_CONVERSATIONS || user.known.has(id)) return;
  user.known.add(id);
  user.conversations.push(id);
  while (user.conversations.length > CONVERSATIONS_KEPT) {
    const oldest = user.conversations.shift()!;
    user.known.delete(oldest);
    user.deleted.add(oldest);
    const answer = await requestJson(origin, 'DELETE', `/conversations/${oldest}`, user.key);
    expect(answer, 204);
    count('conversation-delete', 'ok');
  }
  if (user.deleted.size > 10_000) user.deleted.clear();
};

/** The worker's conversation to continue, or undefined to start a new one (and forget the old). */
function conversationFor(worker: WorkerState): string | undefined {
  if (worker.conversation && worker.turns < TURNS_PER_CONVERSATION && !worker.user.deleted.has(worker.conversation)) return worker.conversation;
  worker.conversation = undefined;
  worker.turns = 0;
  return undefined;
}

async function tookTurn(origin: string, worker: WorkerState, conversationId: unknown): Promise<void> {
  if (typeof conversationId !== 'string') throw new RequestError('bad-body no conversation_id');
  worker.conversation = conversationId;
  worker.turns++;
  await rememberConversation(origin, worker.user, conversationId);
}

const OPS: Array<{ name: string; weight: number; run: Op }> = [
  {
    name: 'chat-new',
    weight: 8,
    run: async (origin, worker) => {
      const answer = await requestJson(origin, 'POST', '/chat', worker.user.key, { message: phrase() });
      expect(answer, 200);
      if (typeof answer.body?.message !== 'string') throw new RequestError('bad-body');
      worker.turns = 0;
      await tookTurn(origin, worker, answer.body.conversation_id);
      return 'ok';
    },
  },
  {
    name: 'chat-continue',
    weight: 10,
    run: async (origin, worker) => {
      const conversation_id = conversationFor(worker);
      const answer = await requestJson(origin, 'POST', '/chat', worker.user.key, { message: phrase(), conversation_id });
      expect(answer, 200);
      if (typeof answer.body?.message !== 'string') throw new RequestError('bad-body');
      await tookTurn(origin, worker, answer.body.conversation_id);
      return 'ok';
    },
  },
  {
    name: 'chat-stream',
    weight: 8,
    run: async (origin, worker) => {
      const conversation_id = conversationFor(worker);
      const message = `[[words:${20 + Math.floor(random() * 40)}]] [[chunk-delay:10]] ${phrase()}`;
      const outcome = await requestStream(origin, '/chat/stream', worker.user.key, { message, conversation_id });
      await tookTurn(origin, worker, outcome.first?.conversation_id);
      return 'ok';
    },
  },
  {
    name: 'chat-stream-abort',
    weight: 5,
    run: async (origin, worker) => {
      const conversation_id = conversationFor(worker);
      const message = `[[words:300]] [[chunk-delay:15]] ${phrase()}`;
      const outcome = await requestStream(origin, '/chat/stream', worker.user.key, { message, conversation_id }, 3 + Math.floor(random() * 10));
      await tookTurn(origin, worker, outcome.first?.conversation_id);
      return outcome.aborted ? 'aborted' : 'ok';
    },
  },
  {
    name: 'agent',
    weight: 6,
    run: async (origin, worker) => {
      const title = `soak ${phrase(3)}`;
      const answer = await requestJson(origin, 'POST', '/agent', worker.user.key, {
        message: `[[tool:create_task {"title":${JSON.stringify(title)},"priority":"low"}]] please`,
      });
      expect(answer, 200);
      const result = answer.body?.tool_calls?.[0]?.result;
      if (!result || typeof result.id !== 'string') throw new RequestError(`bad-body tool result ${JSON.stringify(result)?.slice(0, 80)}`);
      await rememberTask(origin, worker.user, result.id);
      if (typeof answer.body.conversation_id === 'string') await rememberConversation(origin, worker.user, answer.body.conversation_id);
      return 'ok';
    },
  },
  {
    name: 'task-create',
    weight: 6,
    run: async (origin, worker) => {
      const answer = await requestJson(origin, 'POST', '/tasks', worker.user.key, {
        title: phrase(),
        description: random() < 0.5 ? phrase(10) : undefined,
        priority: pick(['low', 'medium', 'high']),
      });
      expect(answer, 201);
      if (typeof answer.body?.id !== 'string') throw new RequestError('bad-body');
      await rememberTask(origin, worker.user, answer.body.id);
      return 'ok';
    },
  },
  {
    name: 'search',
    weight: 6,
    run: async (origin, worker) => {
      const answer = await requestJson(origin, 'POST', '/search/semantic', worker.user.key, { query: phrase(3), top_k: 5 });
      expect(answer, 200);
      if (!Array.isArray(answer.body?.results)) throw new RequestError('bad-body');
      return 'ok';
    },
  },
  {
    name: 'v1-plain',
    weight: 8,
    run: async (origin, worker) => {
      const answer = await requestJson(origin, 'POST', '/v1/chat/completions', worker.user.key, {
        model: MODEL,
        messages: [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: phrase() },
        ],
      });
      expect(answer, 200);
      if (typeof answer.body?.choices?.[0]?.message?.content !== 'string') throw new RequestError('bad-body');
      return 'ok';
    },
  },
  {
    name: 'v1-stream',
    weight: 6,
    run: async (origin, worker) => {
      await requestStream(origin, '/v1/chat/completions', worker.user.key, {
        model: MODEL,
        stream: true,
        stream_options: random() < 0.5 ? { include_usage: true } : undefined,
        messages: [{ role: 'user', content: `[[words:${20 + Math.floor(random() * 40)}]] [[chunk-delay:10]] ${phrase()}` }],
      });
      return 'ok';
    },
  },
  {
    name: 'v1-stream-abort',
    weight: 4,
    run: async (origin, worker) => {
      const outcome = await requestStream(
        origin,
        '/v1/chat/completions',
        worker.user.key,
        { model: MODEL, stream: true, messages: [{ role: 'user', content: `[[words:300]] [[chunk-delay:15]] ${phrase()}` }] },
        3 + Math.floor(random() * 10),
      );
      return outcome.aborted ? 'aborted' : 'ok';
    },
  },
];
const TOTAL_WEIGHT = OPS.reduce((n, op) => n + op.weight, 0);
function pickOp() {
  let r = random() * TOTAL_WEIGHT;
  for (const op of OPS) if ((r -= op.weight) < 0) return op;
  return OPS.at(-1)!;
}

/** Per operation: requests done (ok), client aborts, and errors by kind. */
const tally = new Map<string, { ok: number; aborted: number; errors: Map<string, number> }>();
let doneSinceSample = 0;
let errorsSinceSample = 0;
let abortsSinceSample = 0;
function count(op: string, outcome: 'ok' | 'aborted' | { error: string }): void {
  let entry = tally.get(op);
  if (!entry) tally.set(op, (entry = { ok: 0, aborted: 0, errors: new Map() }));
  if (outcome === 'ok') {
    entry.ok++;
    doneSinceSample++;
  } else if (outcome === 'aborted') {
    entry.aborted++;
    abortsSinceSample++;
  } else {
    entry.errors.set(outcome.error, (entry.errors.get(outcome.error) ?? 0) + 1);
    errorsSinceSample++;
  }
}
const firstErrors: string[] = [];

async function worker(origin: string, state: WorkerState, until: number): Promise<void> {
  while (elapsed() < until) {
    const op = pickOp();
    try {
      count(op.name, await op.run(origin, state));
    } catch (error) {
      const kind = error instanceof RequestError ? error.kind : `exception ${(error as Error).message}`;
      count(op.name, { error: kind });
      if (firstErrors.length < 10) firstErrors.push(`${(elapsed() / 1000).toFixed(0)}s ${op.name}: ${kind}`);
      // A failed turn leaves the conversation in an unknown state: start afresh.
      state.conversation = undefined;
      state.turns = 0;
    }
    await sleep(Math.random() * THINK_MS);
  }
}

// ---------------------------------------------------------------- sampling

/** prom-client text → the value of each unlabelled series, plus labelled series summed per name. */
function parseMetrics(text: string): { values: Map<string, number>; series: Array<{ name: string; labels: string; value: number }> } {
  const values = new Map<string, number>();
  const series: Array<{ name: string; labels: string; value: number }> = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[3]);
    if (match[2]) series.push({ name: match[1]!, labels: match[2], value });
    else values.set(match[1]!, value);
  }
  return { values, series };
}

interface Scrape {
  heapUsedMb: number;
  heapTotalMb: number;
  externalMb: number;
  handles: number;
  sse: number;
  lagP99Ms: number;
  lagMaxMs: number;
}

async function scrape(origin: string): Promise<{ scrape: Scrape; text: string } | undefined> {
  try {
    const answer = await requestJson(origin, 'GET', '/metrics', undefined);
    if (answer.status !== 200) return undefined;
    const { values } = parseMetrics(answer.text);
    const mb = (name: string) => (values.get(name) ?? NaN) / 2 ** 20;
    return {
      text: answer.text,
      scrape: {
        heapUsedMb: mb('nodejs_heap_size_used_bytes'),
        heapTotalMb: mb('nodejs_heap_size_total_bytes'),
        externalMb: mb('nodejs_external_memory_bytes'),
        handles: values.get('nodejs_active_handles_total') ?? NaN,
        sse: values.get('sse_active_streams') ?? NaN,
        lagP99Ms: (values.get('nodejs_eventloop_lag_p99_seconds') ?? NaN) * 1000,
        lagMaxMs: (values.get('nodejs_eventloop_lag_max_seconds') ?? NaN) * 1000,
      },
    };
  } catch {
    return undefined;
  }
}

interface Sample {
  tS: number;
  rssMb: number;
  heapMb: number;
  heapFloorMb: number;
  heapTotalMb: number;
  externalMb: number;
  fds: number;
  handles: number;
  sse: number;
  lagP99Ms: number;
  lagMaxMs: number;
  /** The SQLite file and its WAL. */
  dbMb: number;
  appCpuPct: number;
  fakeCpuPct: number;
  benchCpuPct: number;
  done: number;
  aborts: number;
  errors: number;
}

function fileMb(file: string): number {
  try {
    return fs.statSync(file).size / 2 ** 20;
  } catch {
    return 0;
  }
}

function sampler(origin: string, appPid: number, fakePid: number, dbFile: string) {
  const samples: Sample[] = [];
  let window: Scrape[] = [];
  let last = { t: elapsed(), app: cpuMs(appPid) ?? 0, fake: cpuMs(fakePid) ?? 0, bench: cpuTotalMs() };
  let lastText = '';
  let scraping = false;
  const scrapeTimer = setInterval(async () => {
    if (scraping) return;
    scraping = true;
    const got = await scrape(origin);
    scraping = false;
    if (got) {
      window.push(got.scrape);
      lastText = got.text;
    }
  }, SCRAPE_MS);
  const take = async (): Promise<Sample> => {
    const got = await scrape(origin);
    if (got) {
      window.push(got.scrape);
      lastText = got.text;
    }
    const now = { t: elapsed(), app: cpuMs(appPid) ?? 0, fake: cpuMs(fakePid) ?? 0, bench: cpuTotalMs() };
    const wall = now.t - last.t;
    const lastScrape = window.at(-1);
    const sample: Sample = {
      tS: now.t / 1000,
      rssMb: rssMb(appPid) ?? NaN,
      heapMb: lastScrape?.heapUsedMb ?? NaN,
      heapFloorMb: Math.min(...window.map((s) => s.heapUsedMb)),
      heapTotalMb: lastScrape?.heapTotalMb ?? NaN,
      externalMb: lastScrape?.externalMb ?? NaN,
      fds: openFds(appPid) ?? NaN,
      handles: lastScrape?.handles ?? NaN,
      sse: lastScrape?.sse ?? NaN,
      lagP99Ms: Math.max(...window.map((s) => s.lagP99Ms)),
      lagMaxMs: Math.max(...window.map((s) => s.lagMaxMs)),
      dbMb: fileMb(dbFile) + fileMb(`${dbFile}-wal`),
      appCpuPct: (100 * (now.app - last.app)) / wall,
      fakeCpuPct: (100 * (now.fake - last.fake)) / wall,
      benchCpuPct: (100 * (now.bench - last.bench)) / wall,
      done: doneSinceSample,
      aborts: abortsSinceSample,
      errors: errorsSinceSample,
    };
    doneSinceSample = abortsSinceSample = errorsSinceSample = 0;
    window = [];
    last = now;
    return sample;
  };
  return {
    samples,
    take,
    lastMetrics: () => lastText,
    async record(): Promise<Sample> {
      const sample = await take();
      samples.push(sample);
      return sample;
    },
    stop: () => clearInterval(scrapeTimer),
  };
}

function cpuTotalMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

// ---------------------------------------------------------------- statistics

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const fmt = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : '–');

// ---------------------------------------------------------------- the app

interface App {
  origin: string;
  pid: number;
  logPath: string;
  stderrPath: string;
  stop(): Promise<void>;
}

/**
 * Like processes.ts's startApp, but its stdout (the JSON request logs) goes to a file, so the
 * warnings and errors it logged under the load can be counted afterwards.
 */
async function startAppLogged(databaseUrl: string, fakeBaseUrl: string, workDir: string): Promise<App> {
  const port = await freePort();
  const logPath = path.join(workDir, 'app.log');
  const stderrPath = path.join(workDir, 'app.stderr');
  const out = fs.openSync(logPath, 'w');
  const err = fs.openSync(stderrPath, 'w');
  const child: ChildProcess = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: appEnv({ port, databaseUrl, fakeBaseUrl }),
    stdio: ['ignore', out, err],
  });
  fs.closeSync(out);
  fs.closeSync(err);
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.on('exit', kill);
  onCleanup(() => stopChild(child));
  const origin = `http://127.0.0.1:${port}`;
  await waitFor200(`${origin}/health`, child, 30_000, () => `: ${fs.readFileSync(stderrPath, 'utf8').slice(0, 2000)}`);
  child.once('exit', (code, signal) => {
    if (!stopping) {
      log(`the app exited during the soak (${signal ?? code}): ${fs.readFileSync(stderrPath, 'utf8').slice(0, 2000)}`);
      appDied = true;
    }
  });
  return { origin, pid: child.pid!, logPath, stderrPath, stop: () => stopChild(child, 35_000) };
}
let stopping = false;
let appDied = false;

/** Warn/error/fatal lines of the app's log, counted by level and message. */
function logFindings(logPath: string): { lines: number; byMessage: Map<string, number>; examples: string[] } {
  const byMessage = new Map<string, number>();
  const examples: string[] = [];
  let lines = 0;
  const text = fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '';
  for (const line of text.split('\n')) {
    if (!line) continue;
    lines++;
    if (!/"level":(4|5|6)\d/.test(line)) continue;
    try {
      const entry = JSON.parse(line);
      const key = `level ${entry.level}: ${entry.msg}${entry.err?.message ? ` (${String(entry.err.message).slice(0, 120)})` : ''}`;
      byMessage.set(key, (byMessage.get(key) ?? 0) + 1);
      if (examples.length < 3) examples.push(line.slice(0, 600));
    } catch {
      byMessage.set(`unparsed: ${line.slice(0, 120)}`, (byMessage.get(`unparsed: ${line.slice(0, 120)}`) ?? 0) + 1);
    }
  }
  return { lines, byMessage, examples };
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  installExitHandlers();
  if (!fs.existsSync(path.join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js is missing: run `npm run build` first');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-soak-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const databaseUrl = `sqlite:${path.join(workDir, 'soak.db')}`;
  const loadBefore = os.loadavg();

  log(`starting the fake upstream and creating ${USERS} users`);
  const fake = await startFake();
  const users: User[] = [];
  for (let i = 0; i < USERS; i++) users.push({ key: (await createUser(databaseUrl, `soak-${i}`)).api_key, tasks: [], conversations: [], known: new Set(), deleted: new Set() });
  const app = await startAppLogged(databaseUrl, fake.baseUrl, workDir);
  log(`app pid ${app.pid} at ${app.origin}; ${MINUTES} min, ${CONCURRENCY} workers, a sample every ${SAMPLE_MS / 1000} s, warm-up ${WARMUP_MS / 1000} s`);
  log(KEEP_CONVERSATIONS ? 'every conversation is kept (the database grows)' : `each user's newest ${CONVERSATIONS_KEPT} conversations are kept, older ones deleted`);
  log(`load average before: ${loadBefore.map((v) => v.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);

  const probe = sampler(app.origin, app.pid, fake.pid, databaseUrl.slice('sqlite:'.length));
  const idleBefore = await probe.take();
  const loadStart = elapsed();
  const until = loadStart + DURATION_MS;
  const workers = Array.from({ length: CONCURRENCY }, (_, i) => worker(app.origin, { user: users[i % USERS]!, turns: 0 }, until));

  const header =
    '   t s   RSS MB  heap MB  floor MB  ext MB   fds  handles  sse  lag p99 ms  lag max ms  db MB  app CPU%  fake CPU%  bench CPU%  req/s  aborts  errors';
  process.stdout.write(`${header}\n`);
  const row = (s: Sample) =>
    `${fmt(s.tS - loadStart / 1000, 0).padStart(6)}  ${fmt(s.rssMb).padStart(7)}  ${fmt(s.heapMb).padStart(7)}  ${fmt(s.heapFloorMb).padStart(8)}  ` +
    `${fmt(s.externalMb).padStart(6)}  ${fmt(s.fds, 0).padStart(4)}  ${fmt(s.handles, 0).padStart(7)}  ${fmt(s.sse, 0).padStart(3)}  ` +
    `${fmt(s.lagP99Ms).padStart(10)}  ${fmt(s.lagMaxMs).padStart(10)}  ${fmt(s.dbMb).padStart(5)}  ${fmt(s.appCpuPct, 0).padStart(8)}  ${fmt(s.fakeCpuPct, 0).padStart(9)}  ` +
    `${fmt(s.benchCpuPct, 0).padStart(10)}  ${fmt(s.done / (SAMPLE_MS / 1000), 0).padStart(5)}  ${String(s.aborts).padStart(6)}  ${String(s.errors).padStart(6)}`;
  process.stdout.write(`${row(idleBefore).replace(/^\s*\S+/, '  idle')}\n`);

  let next = loadStart + SAMPLE_MS;
  while (next <= until + 1 && !appDied) {
    await sleep(Math.max(0, next - elapsed()));
    process.stdout.write(`${row(await probe.record())}\n`);
    next += SAMPLE_MS;
  }
  log('load over; waiting for the workers to finish their last requests');
  await Promise.all(workers);
  await sleep(3000);
  const idleAfter = await probe.take();
  probe.stop();
  process.stdout.write(`${row(idleAfter).replace(/^\s*\S+/, '  idle')}   (3 s after the load)\n`);
  const loadAfter = os.loadavg();

  // ---- verdict
  const post = probe.samples.filter((s) => s.tS - loadStart / 1000 >= WARMUP_MS / 1000);
  const xs = post.map((s) => (s.tS - loadStart / 1000) / 60);
  const checks: Array<{ name: string; ok: boolean; text: string; judged?: boolean }> = [];
  const trend = (name: string, unit: string, values: number[], limit: number, slack: number, digits = 2) => {
    const perMin = slope(xs, values);
    const med = median(values);
    const lastValue = values.at(-1)!;
    const first = values[0]!;
    const allowed = Math.max(med * LIMITS.lastOverMedian, slack);
    checks.push({
      name: `${name} slope`,
      ok: !JUDGE_TRENDS || (Number.isFinite(perMin) && perMin < limit),
      judged: JUDGE_TRENDS,
      text: `${name}: slope ${fmt(perMin, digits)} ${unit}/min (limit ${limit}${JUDGE_TRENDS ? '' : ', not judged: smoke run'})`,
    });
    checks.push({
      name: `${name} last`,
      ok: !JUDGE_TRENDS || (Number.isFinite(lastValue) && lastValue - med <= allowed),
      judged: JUDGE_TRENDS,
      text: `${name}: post-warm-up first ${fmt(first)} / median ${fmt(med)} / last ${fmt(lastValue)} ${unit} (last may be ≤ median + ${fmt(allowed)})`,
    });
  };
  const enough = post.length >= 3 || !JUDGE_TRENDS;
  if (enough) {
    trend('RSS', 'MB', post.map((s) => s.rssMb), LIMITS.rssMbPerMin, ABS_SLACK.rss);
    trend('heap used (floor)', 'MB', post.map((s) => s.heapFloorMb), LIMITS.heapMbPerMin, ABS_SLACK.heap);
    trend('open fds', 'fds', post.map((s) => s.fds), LIMITS.fdsPerMin, ABS_SLACK.fds);
    trend('active handles', 'handles', post.map((s) => s.handles), LIMITS.handlesPerMin, ABS_SLACK.handles);
  } else {
    checks.push({ name: 'samples', ok: false, text: `only ${post.length} samples after the warm-up: too few to judge a trend` });
  }
  const info = [
    `heap used (raw, last scrape): slope ${fmt(slope(xs, post.map((s) => s.heapMb)), 2)} MB/min`,
    `external memory: slope ${fmt(slope(xs, post.map((s) => s.externalMb)), 2)} MB/min`,
    `event-loop lag p99 (per 2 s window, worst in each sample): median ${fmt(median(post.map((s) => s.lagP99Ms)))} ms, ` +
      `worst ${fmt(Math.max(...post.map((s) => s.lagP99Ms)))} ms; max ${fmt(Math.max(...post.map((s) => s.lagMaxMs)))} ms`,
    `CPU (median per sample, % of one core): app ${fmt(median(post.map((s) => s.appCpuPct)), 0)}, fake ${fmt(median(post.map((s) => s.fakeCpuPct)), 0)}, ` +
      `bench ${fmt(median(post.map((s) => s.benchCpuPct)), 0)}`,
  ];

  let totalErrors = 0;
  let totalOk = 0;
  let totalAborted = 0;
  const perOp: string[] = [];
  for (const name of [...OPS.map((op) => op.name), 'task-delete', 'conversation-delete']) {
    const entry = tally.get(name);
    if (!entry) continue;
    const errors = [...entry.errors.values()].reduce((a, b) => a + b, 0);
    totalErrors += errors;
    totalOk += entry.ok;
    totalAborted += entry.aborted;
    const kinds = [...entry.errors].map(([kind, n]) => `${kind} ×${n}`).join(', ');
    perOp.push(`  ${name.padEnd(18)} ok ${String(entry.ok).padStart(7)}  client-aborted ${String(entry.aborted).padStart(6)}  errors ${String(errors).padStart(4)}${kinds ? `  (${kinds})` : ''}`);
  }
  checks.push({ name: 'errors', ok: totalErrors === 0 && !appDied, text: `errors other than client aborts: ${totalErrors}${appDied ? ' (the app died)' : ''}` });
  checks.push({
    name: 'idle streams',
    ok: idleAfter.sse === 0,
    text: `SSE streams still open 3 s after the load: ${fmt(idleAfter.sse, 0)}`,
  });

  // What the app counted itself: responses by route and status.
  const appStatuses = new Map<string, number>();
  for (const s of parseMetrics(probe.lastMetrics()).series) {
    if (s.name !== 'http_requests_total') continue;
    const route = /route="([^"]*)"/.exec(s.labels)?.[1] ?? '?';
    const status = /status="([^"]*)"/.exec(s.labels)?.[1] ?? '?';
    const method = /method="([^"]*)"/.exec(s.labels)?.[1] ?? '?';
    if (route === '/metrics') continue;
    const key = `${method} ${route} ${status}`;
    appStatuses.set(key, (appStatuses.get(key) ?? 0) + s.value);
  }
  const findings = logFindings(app.logPath);

  stopping = true;
  await app.stop();
  const stderr = fs.readFileSync(app.stderrPath, 'utf8').trim();

  const out = (line = '') => process.stdout.write(`${line}\n`);
  out();
  out(`requests (${fmt(DURATION_MS / 60_000, 1)} min, ${CONCURRENCY} workers, ${USERS} users): ${totalOk} ok (${fmt(totalOk / (DURATION_MS / 1000), 0)}/s), ${totalAborted} aborted by the client on purpose, ${totalErrors} errors`);
  for (const line of perOp) out(line);
  if (firstErrors.length) out(`first errors:\n  ${firstErrors.join('\n  ')}`);
  out('the app\'s own count (http_requests_total; streams the client left are counted at their end):');
  for (const [key, n] of [...appStatuses].sort()) out(`  ${key.padEnd(40)} ${n}`);
  out(`app log: ${findings.lines} lines, ${[...findings.byMessage.values()].reduce((a, b) => a + b, 0)} at warn or above`);
  for (const [key, n] of findings.byMessage) out(`  ${key} ×${n}`);
  for (const example of findings.examples) out(`  e.g. ${example}`);
  if (stderr) out(`app stderr: ${stderr.slice(0, 2000)}`);
  out(
    `idle before the load: RSS ${fmt(idleBefore.rssMb)} MB, heap ${fmt(idleBefore.heapMb)} MB, fds ${idleBefore.fds}, handles ${idleBefore.handles}; ` +
      `idle after: RSS ${fmt(idleAfter.rssMb)} MB, heap ${fmt(idleAfter.heapMb)} MB, fds ${idleAfter.fds}, handles ${idleAfter.handles}, sse ${idleAfter.sse}`,
  );
  out(`load average: before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}, after ${loadAfter.map((v) => v.toFixed(2)).join(' ')} (${os.cpus().length} CPUs)`);
  out(`warm-up: first ${WARMUP_MS / 1000} s; ${post.length} samples after it`);
  for (const line of info) out(`  ${line}`);
  for (const check of checks) out(`  ${check.judged === false ? 'info' : check.ok ? 'ok  ' : 'FAIL'} ${check.text}`);
  const pass = checks.every((c) => c.ok);
  const slopes = enough
    ? `RSS ${fmt(slope(xs, post.map((s) => s.rssMb)), 2)} MB/min, heap ${fmt(slope(xs, post.map((s) => s.heapFloorMb)), 2)} MB/min, ` +
      `fds ${fmt(slope(xs, post.map((s) => s.fds)), 2)}/min, handles ${fmt(slope(xs, post.map((s) => s.handles)), 2)}/min`
    : 'too few samples';
  if (!JUDGE_TRENDS) out(`smoke run: the post-warm-up window is under ${MIN_JUDGED_MS / 60_000} min, so only errors and leftover streams decide (SOAK_MINUTES >= 5 judges the trends)`);
  out(`${pass ? 'PASS' : 'FAIL'}${JUDGE_TRENDS ? '' : ' (smoke)'}: ${slopes}; errors ${totalErrors}${pass ? '' : `; failed: ${checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`}`);
  return pass ? 0 : 1;
}

main()
  .then(async (code) => {
    await cleanupAll();
    agent.destroy();
    process.exit(code);
  })
  .catch(async (error) => {
    process.stderr.write(`soak: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanupAll();
    process.exit(1);
  });
