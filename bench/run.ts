/**
 * `npm run bench`: builds the app, starts the fake upstream, runs the scenarios on
 * SQLite (and on a fresh PostgreSQL database when BENCH_DATABASE_URL is set), prints
 * markdown tables and writes bench/results/latest.json. Every load goes to 127.0.0.1.
 * Numbers are compared side by side within this run; nothing here asserts timings.
 *
 *   BENCH_DURATION=8   seconds per measured load phase
 *   BENCH_QUICK=1      ~30 s smoke run
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   add the PostgreSQL variant
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type BenchDatabase, postgresDatabase, sqliteDatabase } from './lib/database.js';
import { buildApp, cleanupAll, createUser, installExitHandlers, onCleanup, ROOT, startApp, startFake } from './lib/processes.js';
import { markdownTable, renderSection, type Section, targetsTable, writeResults } from './lib/report.js';
import { seed } from './lib/seed.js';
import { loadSettings } from './lib/settings.js';
import { chatScenario } from './scenarios/chat.js';
import type { AppUnderTest, BenchContext } from './scenarios/context.js';
import { conversationsScenario } from './scenarios/conversations.js';
import { startupScenario } from './scenarios/startup.js';
import { streamsScenario } from './scenarios/streams.js';
import { ttftScenario } from './scenarios/ttft.js';

const RESULTS_FILE = path.join(ROOT, 'bench', 'results', 'latest.json');
const runStarted = performance.now();
const log = (line: string) => process.stderr.write(`[bench ${((performance.now() - runStarted) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);

async function variant(ctx: BenchContext, db: BenchDatabase, sections: Section[], emit: (s: Section) => void): Promise<void> {
  log(`${db.label}: creating the user (admin CLI) and seeding`);
  const user = await createUser(db.url);
  const seeded = await seed(db.url, { userId: user.id, conversations: 20, longMessages: 1000 });

  let app = await startApp({ databaseUrl: db.url, fakeBaseUrl: ctx.fake.baseUrl, workDir: ctx.workDir });
  let under: AppUnderTest = { origin: app.origin, pid: app.pid, db, apiKey: user.api_key, seeded };
  try {
    for (const scenario of [conversationsScenario, chatScenario, ttftScenario]) {
      const section = await scenario(ctx, under);
      sections.push(section);
      emit(section);
    }
  } finally {
    await app.stop();
  }

  // A fresh process for the memory scenario, so its RSS is not the leftovers of the load above.
  app = await startApp({ databaseUrl: db.url, fakeBaseUrl: ctx.fake.baseUrl, workDir: ctx.workDir });
  under = { ...under, origin: app.origin, pid: app.pid };
  try {
    const section = await streamsScenario(ctx, under);
    sections.push(section);
    emit(section);
  } finally {
    await app.stop();
  }
}

async function main(): Promise<void> {
  installExitHandlers();
  const settings = loadSettings();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  const startedAt = new Date().toISOString();
  const variants = settings.postgresUrl ? 'SQLite + PostgreSQL' : 'SQLite';
  log(`${settings.quick ? 'quick run' : 'full run'}: ${settings.durationS} s per load phase, ${variants}`);

  const out: string[] = [];
  const emit = (section: Section) => {
    const text = renderSection(section);
    out.push(text);
    process.stdout.write(`${text}\n`);
  };
  process.stdout.write(
    `# Benchmarks\n\n${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, ` +
      `autocannon, ${settings.durationS} s per phase after ${settings.warmupS} s warm-up per target; ` +
      `everything on 127.0.0.1, load generator in its own process.\n\n`,
  );

  log('building (npm run build)');
  await buildApp();
  log('starting the fake upstream');
  const fake = await startFake();
  const ctx: BenchContext = { settings, fake, workDir, log };
  const sections: Section[] = [];

  const startup = await startupScenario(ctx);
  sections.push(startup);
  emit(startup);

  await variant(ctx, sqliteDatabase(workDir, 'bench'), sections, emit);
  if (settings.postgresUrl) {
    log('PostgreSQL: creating a fresh database');
    const db = await postgresDatabase(settings.postgresUrl);
    try {
      await variant(ctx, db, sections, emit);
    } finally {
      await db.drop();
    }
  }
  await fake.stop();

  const targets = sections.flatMap((s) => s.targets);
  const summary = `## Targets\n\n${markdownTable(targetsTable(targets, true))}\n`;
  process.stdout.write(`${summary}\n`);
  const elapsedS = (performance.now() - runStarted) / 1000;
  writeResults(RESULTS_FILE, {
    startedAt,
    elapsedS,
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
    settings: { ...settings, postgresUrl: settings.postgresUrl ? '(set)' : undefined },
    targets,
    sections: sections.map(({ title, tables, notes, targets: t, data }) => ({ title, tables, notes, targets: t, data })),
    markdown: [...out, summary].join('\n'),
  });
  log(`done in ${elapsedS.toFixed(0)} s; results in ${path.relative(process.cwd(), RESULTS_FILE)}`);
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
