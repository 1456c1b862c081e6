/**
 * What tenancy costs on POST /chat at concurrency 32, side by side in one run: JWT bearer
 * tokens against API keys (one app process serving both, so only the auth path differs), and
 * the usage ledger on (summed in memory, written every USAGE_FLUSH_MS=1000) against off
 * (USAGE_LEDGER_ENABLED=false) and against written through (USAGE_FLUSH_MS=0). Each app is the
 * built server on its own SQLite file (and PostgreSQL when BENCH_DATABASE_URL is set) against
 * the fake upstream; the JWKS is served by this process over HTTP and fetched once. Targets
 * alternate round by round so drift on a noisy machine hits all alike; each is reported by
 * its median round. Beside throughput, the app's CPU time per request (from /proc): on a
 * machine shared with other work, throughput swings with what else runs, while the CPU a
 * request costs the app moves much less, so the costs are judged on it.
 *
 *   npx tsx bench/tenancy.ts        (BENCH_DURATION_S, default 8; BENCH_ROUNDS, default 3)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { postgresDatabase, sqliteDatabase, type BenchDatabase } from './lib/database.js';
import { meterCpu } from './lib/cpu.js';
import { checkTarget, load, warmUp, type LoadResult, type LoadTarget } from './lib/load.js';
import { buildApp, cleanupAll, createUser, installExitHandlers, onCleanup, startApp, startFake, type AppProcess } from './lib/processes.js';
import { jwtEnv, makeSigningKey, signToken, startJwksServer } from '../test/helpers/jwks-server.js';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 8);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = 32;
const TARGET_PERCENT = 5;

type Name = 'api-key, ledger off' | 'api-key, ledger on' | 'jwt, ledger on' | 'api-key, ledger written through';

async function variant(db: (name: string) => Promise<BenchDatabase>, label: string, fakeBaseUrl: string, workDir: string) {
  const signing = await makeSigningKey('bench-key', 'ES256');
  const jwks = await startJwksServer([signing]);
  onCleanup(() => jwks.close());
  const token = await signToken(signing, { sub: 'bench-user' }, { expiresAt: Math.floor(Date.now() / 1000) + 3600 });

  const apps: Record<'on' | 'off' | 'through', { app: AppProcess; apiKey: string }> = {} as never;
  for (const [mode, env] of [
    ['on', {}],
    ['off', { USAGE_LEDGER_ENABLED: 'false' }],
    ['through', { USAGE_FLUSH_MS: '0' }],
  ] as const) {
    const database = await db(`tenancy-${mode}`);
    onCleanup(() => database.drop());
    const { api_key: apiKey } = await createUser(database.url);
    const app = await startApp({ databaseUrl: database.url, fakeBaseUrl, workDir, env: { ...jwtEnv(jwks), AUTH_JWKS_COOLDOWN_SECONDS: '30', ...env } });
    onCleanup(() => app.stop());
    apps[mode] = { app, apiKey };
  }
  const chat = (origin: string, bearer: string): LoadTarget => ({
    url: `${origin}/chat`,
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}` },
    body: { message: 'Hello, how are you?' },
  });
  const pids: Record<Name, number> = {
    'api-key, ledger off': apps.off.app.pid,
    'api-key, ledger on': apps.on.app.pid,
    'jwt, ledger on': apps.on.app.pid,
    'api-key, ledger written through': apps.through.app.pid,
  };
  const targets: Record<Name, LoadTarget> = {
    'api-key, ledger off': chat(apps.off.app.origin, apps.off.apiKey),
    'api-key, ledger on': chat(apps.on.app.origin, apps.on.apiKey),
    'jwt, ledger on': chat(apps.on.app.origin, token),
    'api-key, ledger written through': chat(apps.through.app.origin, apps.through.apiKey),
  };
  const names = Object.keys(targets) as Name[];
  for (const name of names) {
    await checkTarget(name, targets[name]);
    await warmUp(targets[name], { connections: CONNECTIONS, durationS: 2 });
  }
  const runs = new Map<Name, Array<LoadResult & { cpuUs: number }>>(names.map((n) => [n, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of names) {
      process.stderr.write(`${label}, round ${round}/${ROUNDS}, ${name}: ${DURATION_S} s at c=${CONNECTIONS}\n`);
      const cpu = meterCpu({ app: pids[name] });
      const result = await load(targets[name], { connections: CONNECTIONS, durationS: DURATION_S });
      runs.get(name)!.push({ ...result, cpuUs: ((cpu.stop().app ?? NaN) * 1000) / result.requests });
    }
  }
  const medianBy = (name: Name, by: (r: LoadResult & { cpuUs: number }) => number) =>
    [...runs.get(name)!].sort((a, b) => by(a) - by(b))[Math.floor(ROUNDS / 2)]!;
  const median = (name: Name) => medianBy(name, (r) => r.rps);
  const cpuUs = (name: Name) => medianBy(name, (r) => r.cpuUs).cpuUs;
  /** Throughput ratio and CPU-per-request ratio of `a` against `b`. */
  const ratio = (a: Name, b: Name) => ({ rps: median(a).rps / median(b).rps, cpu: cpuUs(a) / cpuUs(b) });

  process.stdout.write(`\n### ${label}: POST /chat, c=${CONNECTIONS}, median of ${ROUNDS} alternating rounds of ${DURATION_S} s\n`);
  process.stdout.write(
    '| target | rps (median) | rounds | p50 ms | p99 ms | app CPU µs / request (median) | rounds | non-2xx |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
  );
  for (const name of names) {
    const m = median(name);
    const all = runs.get(name)!.map((r) => r.rps.toFixed(0)).join(' / ');
    const cpus = runs.get(name)!.map((r) => r.cpuUs.toFixed(0)).join(' / ');
    process.stdout.write(`| ${name} | ${m.rps.toFixed(0)} | ${all} | ${m.p50.toFixed(2)} | ${m.p99.toFixed(2)} | ${cpuUs(name).toFixed(0)} | ${cpus} | ${m.non2xx} |\n`);
  }
  const report = (what: string, r: { rps: number; cpu: number }, target: boolean) => {
    const cost = (r.cpu - 1) * 100;
    process.stdout.write(
      `- ${what}: ${r.cpu.toFixed(3)}× CPU per request (${cost >= 0 ? 'costs' : 'saves'} ${Math.abs(cost).toFixed(1)}%), ${r.rps.toFixed(3)}× throughput` +
        `${target ? ` — target under ${TARGET_PERCENT}% (CPU per request): ${cost < TARGET_PERCENT ? 'met' : 'NOT met'}` : ''}\n`,
    );
  };
  report('JWT auth against API-key auth (ledger on, same process)', ratio('jwt, ledger on', 'api-key, ledger on'), true);
  report('ledger on (USAGE_FLUSH_MS=1000) against off', ratio('api-key, ledger on', 'api-key, ledger off'), true);
  report('ledger written through (USAGE_FLUSH_MS=0) against off', ratio('api-key, ledger written through', 'api-key, ledger off'), false);
  for (const { app } of Object.values(apps)) await app.stop();
  await jwks.close();
}

async function main() {
  installExitHandlers();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-tenancy-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  process.stderr.write('building…\n');
  await buildApp();
  const fake = await startFake();
  onCleanup(() => fake.stop());
  await variant(async (name) => sqliteDatabase(workDir, name), 'SQLite', fake.baseUrl, workDir);
  const pgUrl = process.env.BENCH_DATABASE_URL;
  if (pgUrl) await variant(() => postgresDatabase(pgUrl), 'PostgreSQL', fake.baseUrl, workDir);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
