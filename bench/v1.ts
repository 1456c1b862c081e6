/**
 * Benchmarks of the OpenAI-compatible gateway, `POST /v1/chat/completions` (issue 13):
 * the built app, the fake upstream, a bare node:http pass-through proxy and the Portkey
 * gateway from npm, each in its own process, driven by the same load tool in one run.
 * Prints markdown tables and writes bench/results/v1-latest.json; asserts no timings.
 *
 *   npx tsx bench/v1.ts
 *   BENCH_QUICK=1            short smoke run (1 s phases, 200/500 streams)
 *   BENCH_DURATION=8         seconds per measured load phase
 *   BENCH_V1_SECTIONS=gateway,streams,realistic   which parts to run, in this order (default: all three)
 *   BENCH_V1_STREAMS=2000,5000,10000              concurrent stream counts
 *   BENCH_STREAMS_PER_PROCESS=2500                streams per load-generator process
 *   BENCH_STREAM_WINDOW=100  per load-generator process, streams waiting for their headers at once (0: all sent at once)
 *   BENCH_PORTKEY_SHIM=0     run Portkey without bench/lib/portkey-stream-fix.mjs (its streaming then fails)
 *   BENCH_BUILD=0            do not rebuild dist/ even when src/ is newer
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqliteDatabase } from './lib/database.js';
import { checkTarget } from './lib/load.js';
import {
  type AppProcess,
  buildApp,
  cleanupAll,
  createUser,
  type FakeProcess,
  installExitHandlers,
  onCleanup,
  ROOT,
  startApp,
  startFake,
  startFastifyFloor,
  startPassThroughProxy,
  startPortkey,
} from './lib/processes.js';
import { markdownTable, renderSection, type Section, targetsTable, writeResults } from './lib/report.js';
import { loadSettings } from './lib/settings.js';
import { type BenchContext, bearer } from './scenarios/context.js';
import { completionBody, type V1Setup } from './scenarios/v1-context.js';
import { v1GatewayScenario } from './scenarios/v1-gateway.js';
import { v1RealisticScenario } from './scenarios/v1-realistic.js';
import { v1StreamsScenario } from './scenarios/v1-streams.js';

const RESULTS_FILE = path.join(ROOT, 'bench', 'results', 'v1-latest.json');
const runStarted = performance.now();
const log = (line: string) => process.stderr.write(`[bench v1 ${((performance.now() - runStarted) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);

const SECTIONS = ['gateway', 'streams', 'realistic'] as const;
type SectionName = (typeof SECTIONS)[number];

function listSetting(name: string, fallback: string): string[] {
  return (process.env[name]?.trim() || fallback).split(',').map((s) => s.trim()).filter(Boolean);
}

function streamCounts(quick: boolean): number[] {
  const counts = listSetting('BENCH_V1_STREAMS', quick ? '200,500' : '2000,5000,10000').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_V1_STREAMS must be positive integers, got "${process.env.BENCH_V1_STREAMS}"`);
  return counts.sort((a, b) => a - b);
}

/** Newest modification time under `dir` (files ending in .ts), ms. */
function newestTs(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/; a failed build over an existing dist/ is reported and the old build used. */
async function ensureBuild(): Promise<string> {
  const main = path.join(ROOT, 'dist', 'main.js');
  const built = fs.existsSync(main) ? fs.statSync(main).mtimeMs : 0;
  if (built && (process.env.BENCH_BUILD === '0' || newestTs(path.join(ROOT, 'src')) <= built)) return 'dist/ up to date';
  log(built ? 'src/ is newer than dist/: building (npm run build)' : 'building (npm run build)');
  try {
    await buildApp();
    return 'dist/ built by this run';
  } catch (error) {
    if (!built) throw error;
    const first = (error instanceof Error ? error.message : String(error)).split('\n').slice(0, 6).join(' / ');
    log(`build failed, using the existing dist/ (${new Date(built).toISOString()}): ${first}`);
    return `**build failed, dist/ from ${new Date(built).toISOString()} used**`;
  }
}

/** POST /v1/chat/completions once: true when it answers like OpenAI, false on 404 (no route yet); anything else throws. */
async function probeV1(app: { origin: string }, apiKey: string): Promise<boolean> {
  const res = await fetch(`${app.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...bearer(apiKey), 'content-type': 'application/json' },
    body: JSON.stringify(completionBody('hello', false)),
  });
  const text = await res.text();
  if (res.status === 404) return false;
  const content = res.ok ? (JSON.parse(text) as { choices?: Array<{ message?: { content?: string } }> }).choices?.[0]?.message?.content : undefined;
  if (content !== 'You said: hello') throw new Error(`POST /v1/chat/completions answered ${res.status}: ${text.slice(0, 300)}`);
  return true;
}

/** One request through Portkey, checked to have reached the fake: its answer, and the fake's chat counter. */
async function verifyPortkey(fake: FakeProcess, setup: V1Setup): Promise<string> {
  const counters = async () => ((await (await fetch(`${fake.origin}/_fake/counters`)).json()) as { chat: number }).chat;
  const before = await counters();
  const reply = (await checkTarget('Portkey', {
    url: `${setup.portkey.origin}/v1/chat/completions`,
    method: 'POST',
    headers: { ...setup.portkey.headers, ...bearer('sk-bench') },
    body: completionBody('hello', false),
  })) as { choices: Array<{ message: { content: string } }> };
  const content = reply.choices[0]?.message.content;
  const after = await counters();
  if (content !== 'You said: hello' || after !== before + 1) throw new Error(`Portkey did not reach the fake: answered ${JSON.stringify(reply).slice(0, 300)}, fake chat counter ${before} → ${after}`);
  return `Portkey verified: one request answered "${content}" and the fake counted it (chat ${before} → ${after}).`;
}

async function main(): Promise<void> {
  installExitHandlers();
  const settings = loadSettings();
  const sections = listSetting('BENCH_V1_SECTIONS', SECTIONS.join(',')) as SectionName[];
  for (const s of sections) if (!SECTIONS.includes(s)) throw new Error(`BENCH_V1_SECTIONS: unknown section "${s}" (${SECTIONS.join(', ')})`);
  const counts = streamCounts(settings.quick);
  const perProcess = Number(process.env.BENCH_STREAMS_PER_PROCESS ?? 2500);
  const window = Number(process.env.BENCH_STREAM_WINDOW ?? 100);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-v1-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const startedAt = new Date().toISOString();
  log(`${settings.quick ? 'quick run' : 'full run'}: ${settings.durationS} s per load phase; sections ${sections.join(', ')}`);

  const build = await ensureBuild();
  const commit = (() => {
    try {
      const head = execFileSync('git', ['log', '-1', '--format=%h %s'], { cwd: ROOT, encoding: 'utf8' }).trim();
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim() ? ' (+ uncommitted changes in src/)' : '';
      return `${head.slice(0, 100)}${dirty}`;
    } catch {
      return 'unknown';
    }
  })();

  const out: string[] = [];
  const emit = (section: Section) => {
    const text = renderSection(section);
    out.push(text);
    process.stdout.write(`${text}\n`);
  };
  const header =
    `# /v1 gateway benchmarks\n\n${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, autocannon, ` +
    `${settings.durationS} s per phase after ${settings.warmupS} s warm-up per target; everything on 127.0.0.1, each server in its own process. ` +
    `App: ${commit}; ${build}.\n\n`;
  process.stdout.write(header);

  log('starting the fake upstream');
  const fake = await startFake();
  const db = sqliteDatabase(workDir, 'v1');
  const user = await createUser(db.url);
  const ctx: BenchContext = { settings, fake, workDir, log };
  const launch = (nofile?: number): Promise<AppProcess> =>
    startApp({ databaseUrl: db.url, fakeBaseUrl: fake.baseUrl, workDir, ...(nofile !== undefined && { nofile }) });

  const results: Section[] = [];
  const notes: string[] = [];
  const run = (section: Section) => {
    results.push(section);
    emit(section);
  };
  /** Starts our app, the two floors (bare proxy, Fastify relay) and Portkey beside the fake, runs `fn` with them, stops them. */
  const withGateways = async (fn: (setup: V1Setup) => Promise<void>) => {
    const app = await launch();
    const passThrough = await startPassThroughProxy(fake.origin);
    const fastifyFloor = await startFastifyFloor(fake.origin);
    const portkey = await startPortkey(fake.baseUrl, { streamFix: process.env.BENCH_PORTKEY_SHIM !== '0' });
    try {
      const v1 = await probeV1(app, user.api_key);
      const setup: V1Setup = { passThrough, fastifyFloor, portkey, app: { origin: app.origin, pid: app.pid, apiKey: user.api_key, v1 } };
      if (!notes.length) {
        notes.push(v1 ? 'Our `POST /v1/chat/completions` answered: its rows ran against the route.' : '**Our `POST /v1/chat/completions` answered 404: its rows were skipped.**');
        notes.push(await verifyPortkey(fake, setup));
        log(notes.join(' '));
      }
      await fn(setup);
    } finally {
      await Promise.all([app.stop(), passThrough.stop(), fastifyFloor.stop(), portkey.stop()]);
    }
  };

  if (sections.includes('gateway')) await withGateways(async (setup) => run(await v1GatewayScenario(ctx, fake, setup)));
  if (sections.includes('streams')) {
    const probe = await launch();
    let v1: boolean;
    try {
      v1 = await probeV1(probe, user.api_key);
    } finally {
      await probe.stop();
    }
    run(
      await v1StreamsScenario(ctx, fake, {
        counts,
        perProcess,
        window,
        timeoutMs: Math.max(settings.streamTimeoutMs, 120_000),
        apiKey: user.api_key,
        v1,
        startApp: (nofile) => launch(nofile),
      }),
    );
  }
  if (sections.includes('realistic')) await withGateways(async (setup) => run(await v1RealisticScenario(ctx, fake, setup)));
  await fake.stop();

  const targets = results.flatMap((s) => s.targets);
  const summary = `## Targets\n\n${markdownTable(targetsTable(targets, true))}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
  process.stdout.write(`${summary}\n`);
  const elapsedS = (performance.now() - runStarted) / 1000;
  writeResults(RESULTS_FILE, {
    startedAt,
    elapsedS,
    app: { commit, build },
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}`, loadavg: os.loadavg() },
    settings: { ...settings, postgresUrl: undefined, sections, streamCounts: counts, perProcess, window },
    targets,
    sections: results.map(({ title, tables, notes: n, targets: t, data }) => ({ title, tables, notes: n, targets: t, data })),
    markdown: [header, ...out, summary].join('\n'),
  });
  log(`done in ${elapsedS.toFixed(0)} s; results in ${path.relative(process.cwd(), RESULTS_FILE)}`);
}

main().then(
  async () => {
    await cleanupAll();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench v1: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
