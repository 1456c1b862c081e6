/**
 * Child processes of the benchmark: the fake upstream, the built app, the admin CLI.
 * They run apart from the bench process, so the load generator never shares an
 * event loop with what it measures. Every child is tracked and killed on exit,
 * on SIGINT/SIGTERM and on errors.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);

// ---------------------------------------------------------------- clean-up

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void> | void> = [];

/** Runs `fn` when the benchmark ends, normally or not (last registered runs first). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

function killAllNow(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}

let cleaningUp: Promise<void> | undefined;
/** Kills every child still running and runs the clean-ups; safe to call twice. */
export function cleanupAll(): Promise<void> {
  cleaningUp ??= (async () => {
    await Promise.allSettled([...children].map((child) => stopChild(child)));
    killAllNow();
    while (cleanups.length) {
      const fn = cleanups.pop()!;
      try {
        await withTimeout(Promise.resolve(fn()), 10_000);
      } catch (error) {
        process.stderr.write(`bench: clean-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  })();
  return cleaningUp;
}

let installed = false;
export function installExitHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping children\n`);
      killAllNow();
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return;
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// ---------------------------------------------------------------- helpers

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** One GET on a fresh connection; resolves with the status, or rejects on a connection error. */
function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `url` every 2 ms until it answers 200; fails when `child` exits first or after `timeoutMs`. */
export async function waitFor200(url: string, child: ChildProcess, timeoutMs = 30_000, describe = () => ''): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`process exited (${child.exitCode ?? child.signalCode}) before ${url} answered 200${describe()}`);
    }
    try {
      if ((await getStatus(url)) === 200) return;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms${describe()}`);
    await sleep(2);
  }
}

/**
 * The environment of a child: ours, minus every variable the app reads (so a stray
 * REDIS_URL or HISTORY_MAX_TOKENS in the caller's shell cannot change what is measured),
 * plus `extra`.
 */
const APP_VARIABLES = [
  'HOST', 'PORT', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_MODEL', 'OPENAI_EMBEDDING_MODEL', 'OPENAI_MAX_TOKENS',
  'OPENAI_TEMPERATURE', 'OPENAI_TIMEOUT', 'OPENAI_MAX_RETRIES', 'DATABASE_URL', 'DATABASE_POOL_SIZE', 'REDIS_URL',
  'RATE_LIMIT_PER_MINUTE', 'TOKENS_PER_MINUTE', 'SHUTDOWN_GRACE_SECONDS', 'HISTORY_MAX_TOKENS', 'AGENT_MAX_ITERATIONS',
  'SYSTEM_PROMPT', 'EMBEDDING_DIMENSIONS', 'CORS_ORIGINS', 'LOG_LEVEL', 'FAKE_OPENAI_HOST', 'FAKE_OPENAI_PORT',
  'FAKE_OPENAI_RECORD', 'FAKE_OPENAI_API_KEY', 'NODE_OPTIONS', 'NODE_ENV',
];
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of APP_VARIABLES) delete env[name];
  return { ...env, ...extra };
}

// ---------------------------------------------------------------- the fake upstream

export interface FakeProcess {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** http://127.0.0.1:PORT/v1, for OPENAI_BASE_URL */
  baseUrl: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startFake(): Promise<FakeProcess> {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/fake-openai/cli.ts'], {
      cwd: ROOT,
      env: childEnv({ FAKE_OPENAI_PORT: String(port), FAKE_OPENAI_HOST: '127.0.0.1' }),
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const origin = `http://127.0.0.1:${port}`;
  await waitFor200(`${origin}/_fake/health`, child, 30_000, () => (stderr ? `: ${stderr.trim()}` : ''));
  return { origin, baseUrl: `${origin}/v1`, pid: child.pid!, stop: () => stopChild(child) };
}

// ---------------------------------------------------------------- the app

export async function buildApp(): Promise<void> {
  try {
    await run('npm', ['run', '--silent', 'build'], { cwd: ROOT, env: childEnv({}), maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`npm run build failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`);
  }
}

export function appEnv(options: { port: number; databaseUrl: string; fakeBaseUrl: string }): NodeJS.ProcessEnv {
  return childEnv({
    PORT: String(options.port),
    HOST: '127.0.0.1',
    DATABASE_URL: options.databaseUrl,
    OPENAI_BASE_URL: options.fakeBaseUrl,
    OPENAI_API_KEY: 'sk-bench',
    RATE_LIMIT_PER_MINUTE: '100000000',
    LOG_LEVEL: 'info',
  });
}

export interface AppProcess {
  origin: string;
  pid: number;
  /** Milliseconds from spawn to the first 200 from /health. */
  startupMs: number;
  /** Its soft open-file limit once started. */
  nofile: number | undefined;
  /** What it wrote to stderr so far (fatal errors, warnings). */
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * Starts `node dist/main.js` (build first). stdout (the request logs) goes nowhere, as
 * in production where it goes to a collector; stderr, which only carries fatal start-up
 * errors, goes to a file so a failed start can say why.
 *
 * `env` is added to the app's environment. `nofile` raises the app's open-file limit (soft
 * and hard) with prlimit once it runs, for loads that need more sockets than the shell's
 * limit allows (each relayed stream holds two: the client's and the upstream one); it needs
 * the privilege to raise a hard limit, and `nofile` on the result says what the app got.
 */
export async function startApp(options: {
  databaseUrl: string;
  fakeBaseUrl: string;
  workDir: string;
  env?: Record<string, string>;
  nofile?: number;
  /** Another build of this repository to run (bench/builds.ts); default: this one. */
  root?: string;
}): Promise<AppProcess> {
  const port = await freePort();
  const stderrPath = path.join(options.workDir, `app-${port}.stderr`);
  const stderrFd = fs.openSync(stderrPath, 'w');
  const started = performance.now();
  const child = track(
    spawn(process.execPath, ['dist/main.js'], {
      cwd: options.root ?? ROOT,
      env: { ...appEnv({ port, databaseUrl: options.databaseUrl, fakeBaseUrl: options.fakeBaseUrl }), ...options.env },
      stdio: ['ignore', 'ignore', stderrFd],
    }),
  );
  fs.closeSync(stderrFd);
  const origin = `http://127.0.0.1:${port}`;
  const describe = () => {
    const text = fs.existsSync(stderrPath) ? fs.readFileSync(stderrPath, 'utf8').trim() : '';
    return text ? `: ${text.slice(0, 2000)}` : '';
  };
  if (options.nofile !== undefined) await raiseOpenFiles(child.pid!, options.nofile);
  await waitFor200(`${origin}/health`, child, 30_000, describe);
  const startupMs = performance.now() - started;
  return {
    origin,
    pid: child.pid!,
    startupMs,
    nofile: openFilesLimit(child.pid!),
    stderr: () => (fs.existsSync(stderrPath) ? fs.readFileSync(stderrPath, 'utf8') : ''),
    stop: () => stopChild(child),
  };
}

/** Raises the open-file limit of a running process to `limit` (never lowers it); leaves it as it was when that is not allowed. */
export async function raiseOpenFiles(pid: number, limit: number): Promise<void> {
  const current = openFilesLimit(pid);
  if (current !== undefined && current >= limit) return;
  try {
    await run('prlimit', ['--pid', String(pid), `--nofile=${limit}:${limit}`]);
  } catch {
    // not root, or no prlimit: the limit stays the inherited one, which openFilesLimit reports
  }
}

/** The soft open-file limit of a process, from /proc/PID/limits (Linux). */
export function openFilesLimit(pid: number): number | undefined {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- the admin CLI

export interface CreatedUser {
  id: string;
  name: string;
  api_key: string;
}

export async function createUser(databaseUrl: string, name = 'bench', root = ROOT): Promise<CreatedUser> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', 'create-user', name], {
    cwd: root,
    env: childEnv({ DATABASE_URL: databaseUrl }),
    timeout: 60_000,
  });
  const user = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as CreatedUser;
  if (!user.api_key) throw new Error(`admin create-user printed no api_key: ${stdout}`);
  return user;
}

// ---------------------------------------------------------------- the bare-proxy floor

/**
 * Which floor: bare node:http both ways turning {"message"} into a chat completion, or bare
 * node:http passing any request through to the fake untouched (the floor of an
 * OpenAI-compatible gateway).
 */
export type FloorKind = 'node-http' | 'pass-through' | 'fastify-relay';

const FLOOR_COMMANDS: Record<FloorKind, { args: string[]; env: Record<string, string> }> = {
  'node-http': { args: ['bench/lib/proxy-floor.mjs'], env: {} },
  'pass-through': { args: ['bench/lib/proxy-floor.mjs'], env: { PROXY_MODE: 'pass-through' } },
  'fastify-relay': { args: ['bench/lib/fastify-floor.mjs'], env: {} },
};

/**
 * A do-nothing gateway in front of the fake (bench/lib/proxy-floor.mjs):
 * what any Node gateway costs at the least.
 * It sends the fake what the direct baseline sends: `fields` and the system prompt around the message.
 */
export async function startProxyFloor(
  fakeOrigin: string,
  request: { fields: Record<string, unknown>; systemPrompt: string },
  kind: FloorKind = 'node-http',
): Promise<{ origin: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const command = FLOOR_COMMANDS[kind];
  const child = track(
    spawn(process.execPath, command.args, {
      cwd: ROOT,
      env: childEnv({
        ...command.env,
        PROXY_PORT: String(port),
        UPSTREAM: fakeOrigin,
        PROXY_FIELDS: JSON.stringify(request.fields),
        PROXY_SYSTEM_PROMPT: request.systemPrompt,
      }),
      stdio: ['ignore', 'ignore', 'inherit'],
    }),
  );
  const origin = `http://127.0.0.1:${port}`;
  await waitForListening(port, child);
  return { origin, pid: child.pid!, stop: () => stopChild(child) };
}

/** The pass-through floor (bench/lib/proxy-floor.mjs, PROXY_MODE=pass-through): requests go to the fake as they are. */
export function startPassThroughProxy(fakeOrigin: string): Promise<{ origin: string; pid: number; stop(): Promise<void> }> {
  return startProxyFloor(fakeOrigin, { fields: {}, systemPrompt: '' }, 'pass-through');
}

/** The Fastify + undici floor (bench/lib/fastify-floor.mjs): /v1/chat/completions relayed with nothing else done. */
export function startFastifyFloor(fakeOrigin: string): Promise<{ origin: string; pid: number; stop(): Promise<void> }> {
  return startProxyFloor(fakeOrigin, { fields: {}, systemPrompt: '' }, 'fastify-relay');
}

// ---------------------------------------------------------------- the Portkey gateway

export interface PortkeyProcess {
  /** http://127.0.0.1:PORT; its OpenAI API is under /v1. */
  origin: string;
  pid: number;
  /** The headers that route a request to the fake: provider openai, custom host = the fake's /v1. */
  headers: Record<string, string>;
  /** Whether bench/lib/portkey-stream-fix.mjs was preloaded (streaming does not work without it here). */
  streamFix: boolean;
  stop(): Promise<void>;
}

/**
 * The Portkey AI gateway from npm (@portkey-ai/gateway, its Node build), headless, in its
 * own process, routed to the fake by headers. It waits for "Ready for connections".
 */
export async function startPortkey(fakeBaseUrl: string, options: { streamFix?: boolean } = {}): Promise<PortkeyProcess> {
  const streamFix = options.streamFix ?? true;
  const port = await freePort();
  const child = track(
    spawn(
      process.execPath,
      [...(streamFix ? ['--import', './bench/lib/portkey-stream-fix.mjs'] : []), 'node_modules/@portkey-ai/gateway/build/start-server.js', `--port=${port}`, '--headless'],
      { cwd: ROOT, env: childEnv({}), stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  let output = '';
  const keep = (text: string) => {
    if (output.length < 8000) output += text;
  };
  child.stderr!.setEncoding('utf8').on('data', keep);
  child.stdout!.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Portkey did not print "Ready for connections" within 30 s: ${output.slice(-2000)}`)), 30_000);
    const onData = (text: string) => {
      keep(text);
      if (output.includes('Ready for connections')) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`Portkey exited (${code ?? signal}) before it was ready: ${output.slice(-2000)}`));
    });
  });
  await waitForListening(port, child);
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': fakeBaseUrl },
    streamFix,
    stop: () => stopChild(child),
  };
}

async function waitForListening(port: number, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode} before listening on port ${port}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
}
