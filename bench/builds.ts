/**
 * `npm run bench:builds`: builds of this repository side by side, alternating in one run, so
 * that drift on a noisy machine hits every build alike. Each build is a git revision,
 * extracted into a temporary folder, compiled, given its own SQLite database seeded by its
 * own code (20 conversations and one of 1,000 messages) and a user made by its own admin
 * CLI. Every round starts each build afresh and measures `POST /chat` on a new conversation
 * and continuing the long one, at c=32 (throughput, and the app's CPU per request read from
 * /proc, which noise moves less) and c=1 (p50), against the instant fake and against an
 * upstream with a realistic latency (200 ms to the first token, then a chunk every 30 ms);
 * and `POST /chat/stream` on a new conversation (a stream's default path: one reader, the
 * default policy) at c=32 and its first token at c=1, on the instant fake. The table
 * reports each build's median over the rounds, and each build against the first.
 *
 *   BENCH_BUILDS="before=fc07153,after=HEAD"   name=revision pairs; the first is the reference
 *   BENCH_ROUNDS=3                             rounds (each build once per round, order alternating)
 *   BENCH_DURATION=5                           seconds per measured phase (instant fake; realistic: at least 8)
 *   BENCH_PHASES=fast-long,fast-stream         only the phases whose key starts with one of these (default: all;
 *                                              keys: (fast|real)-(new|long|stream)-(c32|c32-cpu|c1))
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { load, checkTarget, type LoadResult, type LoadTarget } from './lib/load.js';
import { cleanupAll, createUser, installExitHandlers, onCleanup, ROOT, startApp, startFake } from './lib/processes.js';
import { fmt, markdownTable } from './lib/report.js';
import { REALISTIC_MESSAGE } from './scenarios/v1-realistic.js';

const run = promisify(execFile);
const started = performance.now();
const log = (line: string) => process.stderr.write(`[builds ${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);

/** The last commit before the upstream transport and the simplification of the chat turn (issues 13 and 17). */
const DEFAULT_BUILDS = 'before=fc07153,after=HEAD';

interface Build {
  name: string;
  rev: string;
  dir: string;
  databaseUrl: string;
  apiKey: string;
  longConversationId: string;
}

function parseBuilds(text: string): Array<{ name: string; rev: string }> {
  return text.split(',').map((pair) => {
    const [name, rev] = pair.split('=').map((s) => s.trim());
    if (!name || !rev) throw new Error(`BENCH_BUILDS: "${pair}" is not name=revision`);
    return { name, rev };
  });
}

/** Extracts, installs (this checkout's node_modules when its dependencies are the same ones) and compiles one revision. */
async function prepare(spec: { name: string; rev: string }, workDir: string): Promise<Build> {
  const dir = path.join(workDir, spec.name);
  fs.mkdirSync(dir, { recursive: true });
  log(`${spec.name}: extracting ${spec.rev}`);
  await run('sh', ['-c', `git -C "${ROOT}" archive --format=tar "${spec.rev}" | tar -x -C "${dir}"`], { maxBuffer: 64 * 1024 * 1024 });
  const ours = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const theirs = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  const same = (field: string) => Object.entries(theirs[field] ?? {}).every(([name, range]) => ours.dependencies?.[name] === range || ours.devDependencies?.[name] === range);
  if (same('dependencies') && same('devDependencies')) {
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  } else {
    log(`${spec.name}: its dependencies differ from this checkout's: npm ci`);
    await run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  }
  log(`${spec.name}: compiling`);
  await run(process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir });

  const databaseUrl = `sqlite:${path.join(dir, 'bench.db')}`;
  const user = await createUser(databaseUrl, 'bench', dir);
  // Seeded by the build's own code, so its schema is the one it migrates to.
  const seedScript = path.join(dir, 'bench', 'seed-for-builds.ts');
  fs.writeFileSync(
    seedScript,
    `import { seed } from './lib/seed.js';\n` +
      `const seeded = await seed(process.env.DATABASE_URL!, { userId: process.env.USER_ID!, conversations: 20, longMessages: 1000 });\n` +
      `process.stdout.write(JSON.stringify(seeded));\n`,
  );
  const { stdout } = await run(process.execPath, ['--import', 'tsx', seedScript], {
    cwd: dir,
    env: { ...process.env, DATABASE_URL: databaseUrl, USER_ID: user.id },
  });
  const seeded = JSON.parse(stdout) as { longConversationId: string };
  return { ...spec, dir, databaseUrl, apiKey: user.api_key, longConversationId: seeded.longConversationId };
}

interface Phase {
  key: string;
  label: string;
  connections: number;
  measure: 'rps' | 'p50' | 'cpu' | 'ttft';
  realistic: boolean;
  long: boolean;
  /** POST /chat/stream instead of /chat. */
  stream?: boolean;
}

const PHASES: Phase[] = [];
for (const realistic of [false, true]) {
  for (const long of [false, true]) {
    // The app's CPU per request at c=32 is what a turn costs an instance whatever the upstream's
    // latency (with a realistic one, throughput at c=32 is bound by that latency, not by us).
    for (const [connections, measure] of [[32, 'rps'], [32, 'cpu'], [1, 'p50']] as const) {
      const upstream = realistic ? 'realistic upstream' : 'instant fake';
      const what = long ? 'continuing a 1,000-message conversation' : 'new conversation';
      PHASES.push({ key: `${realistic ? 'real' : 'fast'}-${long ? 'long' : 'new'}-c${connections}${measure === 'cpu' ? '-cpu' : ''}`, label: `${upstream}, ${what}, c=${connections}`, connections, measure, realistic, long });
    }
  }
}

// The streamed turn on its default path (one reader, default policy): what the stream log must keep cheap.
for (const realistic of [false, true]) {
  for (const [connections, measure] of [[32, 'rps'], [32, 'cpu'], [1, 'ttft']] as const) {
    const key = `${realistic ? 'real' : 'fast'}-stream-c${connections}${measure === 'cpu' ? '-cpu' : ''}`;
    const upstream = realistic ? 'realistic upstream' : 'instant fake';
    PHASES.push({ key, label: `${upstream}, /chat/stream new conversation, c=${connections}`, connections, measure, realistic, long: false, stream: true });
  }
}

function target(origin: string, pid: number, build: Build, phase: Phase): LoadTarget {
  const message = phase.realistic ? REALISTIC_MESSAGE : 'hello';
  return {
    cpu: { app: pid },
    stream: phase.stream ?? false,
    url: `${origin}${phase.stream ? '/chat/stream' : '/chat'}`,
    method: 'POST',
    headers: { authorization: `Bearer ${build.apiKey}` },
    body: phase.long ? { message, conversation_id: build.longConversationId } : { message },
  };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main(): Promise<void> {
  installExitHandlers();
  const specs = parseBuilds(process.env.BENCH_BUILDS?.trim() || DEFAULT_BUILDS);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const durationS = Number(process.env.BENCH_DURATION ?? 5);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-builds-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));

  const only = process.env.BENCH_PHASES?.split(',').map((p) => p.trim()).filter(Boolean);
  const phases = only ? PHASES.filter((p) => only.some((prefix) => p.key.startsWith(prefix))) : PHASES;
  const builds: Build[] = [];
  for (const spec of specs) builds.push(await prepare(spec, workDir));
  const fake = await startFake();
  onCleanup(() => fake.stop());

  // samples[build][phase] = one number per round
  const samples = new Map<string, Map<string, number[]>>(builds.map((b) => [b.name, new Map(phases.map((p) => [p.key, []]))]));
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) {
      log(`round ${round + 1}/${rounds}: ${build.name}`);
      const app = await startApp({ databaseUrl: build.databaseUrl, fakeBaseUrl: fake.baseUrl, workDir, root: build.dir, env: { LOG_LEVEL: 'info' } });
      try {
        let result: LoadResult | undefined;
        for (const phase of phases) {
          if (phase.measure === 'cpu') {
            // Read off the c=32 phase just measured.
            const cpu = result?.cpuUsPerResponse?.app;
            if (cpu !== undefined) samples.get(build.name)!.get(phase.key)!.push(cpu);
            continue;
          }
          const t = target(app.origin, app.pid, build, phase);
          await checkTarget(`${build.name} ${phase.key}`, t);
          const seconds = phase.realistic ? Math.max(durationS, 8) : durationS;
          await load(t, { connections: phase.connections, durationS: 1 });
          result = await load(t, { connections: phase.connections, durationS: seconds });
          if (result.errors || result.non2xx) throw new Error(`${build.name} ${phase.key}: ${result.errors} errors, ${result.non2xx} non-2xx`);
          const value = phase.measure === 'rps' ? result.rps : phase.measure === 'ttft' ? (result.firstTokenP50 ?? Number.NaN) : result.p50;
          samples.get(build.name)!.get(phase.key)!.push(value);
          log(`  ${phase.key}: ${phase.measure === 'rps' ? fmt.rps(value) : fmt.ms(value)}`);
        }
      } finally {
        await app.stop();
      }
    }
  }

  const reference = builds[0]!;
  const columns = ['phase', ...builds.map((b) => `${b.name} (${b.rev})`), ...builds.slice(1).map((b) => `${b.name} / ${reference.name}`)];
  const rows = phases.map((phase) => {
    const value = (b: Build) => median(samples.get(b.name)!.get(phase.key)!);
    const shown = (v: number) => (phase.measure === 'rps' ? fmt.rps(v) : phase.measure === 'cpu' ? `${Math.round(v)} µs` : fmt.ms(v));
    const unit = { rps: 'req/s', p50: 'p50', cpu: 'app CPU per request', ttft: 'first token p50' }[phase.measure];
    return [
      `${phase.label} (${unit})`,
      ...builds.map((b) => shown(value(b))),
      ...builds.slice(1).map((b) => `${(value(b) / value(reference)).toFixed(2)}×`),
    ];
  });
  process.stdout.write(
    `# Builds side by side\n\n${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}; ` +
      `median of ${rounds} alternating rounds, ${durationS} s per phase (realistic: ${Math.max(durationS, 8)} s) after 1 s warm-up.\n\n` +
      `${markdownTable({ columns, rows })}\n\n` +
      `Raw samples: ${JSON.stringify(Object.fromEntries([...samples].map(([k, v]) => [k, Object.fromEntries(v)])))}\n`,
  );
}

main().then(
  async () => {
    await cleanupAll();
    process.exit(0);
  },
  async (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
