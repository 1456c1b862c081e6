/**
 * What the per-key rate limiter and metrics cost on POST /chat: the built app against
 * the fake upstream (both separate processes, SQLite in a temp dir), three times —
 * limiter and metrics off, in-process limiter on, Redis limiter on (REDIS_URL or
 * BENCH_REDIS_URL, default redis://127.0.0.1:6379; skipped when Redis does not answer),
 * and Redis limiter plus a TOKENS_PER_MINUTE budget (reported; not part of the target).
 * The limits are huge so nothing is refused: this measures the bookkeeping only.
 *
 *   npx tsx bench/limiter-overhead.ts            (BENCH_DURATION_S, default 8)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { load, warmUp, checkTarget, type LoadTarget } from './lib/load.js';
import {
  appEnv,
  buildApp,
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

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const CONNECTIONS = 32;
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

interface Mode {
  name: string;
  env: Record<string, string>;
  /** Reported, but not part of the "limiter + metrics" target. */
  beyondTarget?: boolean;
}

async function redisAnswers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port || 6379), hostname);
    socket.setTimeout(1000);
    socket.once('connect', () => socket.end(() => resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

async function run(mode: Mode, fakeBaseUrl: string, workDir: string) {
  const databaseUrl = `sqlite:${path.join(workDir, `${mode.name.replace(/\W+/g, '-')}.db`)}`;
  const port = await freePort();
  // The admin CLI migrates the database and gives us a key.
  const user = await createUser(databaseUrl);
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: ROOT,
    env: { ...appEnv({ port, databaseUrl, fakeBaseUrl }), ...mode.env },
    stdio: 'ignore',
  });
  onCleanup(() => stopChild(child));
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitFor200(`${origin}/health`, child);
    const target: LoadTarget = {
      url: `${origin}/chat`,
      method: 'POST',
      headers: { authorization: `Bearer ${user.api_key}` },
      body: { message: 'Hello, how are you?' },
    };
    await checkTarget(mode.name, target);
    await warmUp(target, { connections: CONNECTIONS, durationS: 2 });
    return await load(target, { connections: CONNECTIONS, durationS: DURATION_S });
  } finally {
    await stopChild(child);
  }
}

async function main() {
  installExitHandlers();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-limiter-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  process.stdout.write('building…\n');
  await buildApp();
  const fake = await startFake();
  onCleanup(() => fake.stop());

  const huge = { RATE_LIMIT_PER_MINUTE: '100000000' };
  const modes: Mode[] = [
    { name: 'off (RATE_LIMIT_ENABLED=false, METRICS_ENABLED=false)', env: { RATE_LIMIT_ENABLED: 'false', METRICS_ENABLED: 'false' } },
    { name: 'in-process limiter + metrics', env: { ...huge, RATE_LIMIT_ENABLED: 'true', METRICS_ENABLED: 'true' } },
  ];
  if (await redisAnswers(REDIS_URL)) {
    modes.push({
      name: 'Redis limiter + metrics',
      env: { ...huge, RATE_LIMIT_ENABLED: 'true', METRICS_ENABLED: 'true', REDIS_URL, REDIS_KEY_PREFIX: `oab-bench:${process.pid}:` },
    });
    modes.push({
      name: 'Redis limiter + token budget + metrics (TOKENS_PER_MINUTE: a read before and an add after each call)',
      env: { ...huge, TOKENS_PER_MINUTE: '1000000000', RATE_LIMIT_ENABLED: 'true', METRICS_ENABLED: 'true', REDIS_URL, REDIS_KEY_PREFIX: `oab-bench:${process.pid}:t:` },
      beyondTarget: true,
    });
  } else {
    process.stdout.write(`Redis at ${REDIS_URL} does not answer: skipping the Redis run\n`);
  }

  // Modes alternate round by round so that drift on this noisy machine hits them all alike;
  // each is reported by its median round.
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const runs = new Map<Mode, Array<Awaited<ReturnType<typeof run>>>>(modes.map((m) => [m, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const mode of modes) {
      process.stdout.write(`round ${round}/${rounds}, ${mode.name}: ${DURATION_S} s at concurrency ${CONNECTIONS}…\n`);
      runs.get(mode)!.push(await run(mode, fake.baseUrl, workDir));
    }
  }
  const median = <T,>(items: T[], by: (t: T) => number) => [...items].sort((a, b) => by(a) - by(b))[Math.floor(items.length / 2)]!;
  const results = modes.map((mode) => {
    const all = runs.get(mode)!;
    return { mode, result: median(all, (r) => r.rps), all: all.map((r) => r.rps.toFixed(0)).join(' / ') };
  });

  const off = results[0]!.result.rps;
  process.stdout.write(`\nPOST /chat, concurrency 32, median of ${rounds} alternating rounds\n`);
  process.stdout.write('| mode | rps (median) | rounds | p50 ms | p99 ms | non-2xx | vs off |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  for (const { mode, result, all } of results) {
    const diff = ((result.rps - off) / off) * 100;
    process.stdout.write(
      `| ${mode.name} | ${result.rps.toFixed(0)} | ${all} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${result.non2xx} | ${mode === results[0]!.mode ? '–' : `${diff >= 0 ? '+' : ''}${diff.toFixed(1)}%`} |\n`,
    );
  }
  const diffs = results.slice(1).filter(({ mode }) => !mode.beyondTarget).map(({ result }) => ((result.rps - off) / off) * 100);
  const slowest = Math.min(0, ...diffs);
  const widest = diffs.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0);
  process.stdout.write(
    `\ntarget: limiter + metrics cost under 10% of throughput (token budgets not included) — ${slowest > -10 ? 'met' : 'NOT met'} ` +
      `(largest slowdown ${slowest.toFixed(1)}%; widest difference either way ${widest.toFixed(1)}%)\n`,
  );
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
