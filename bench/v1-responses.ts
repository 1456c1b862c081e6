/**
 * Benchmarks of the Responses API (issue 14): POST /v1/responses continuing 1,000- and
 * 10,000-item conversations and previous_response_id chains against a new one, beside /chat,
 * on the built app and the fake upstream in their own processes. Prints a markdown table and
 * writes bench/results/v1-responses-latest.json; asserts no timings.
 *
 *   npx tsx bench/v1-responses.ts
 *   BENCH_QUICK=1      short smoke run
 *   BENCH_DURATION=8   seconds per measured load phase
 *   BENCH_BUILD=0      use dist/ as it is (no npm run build first)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqliteDatabase } from './lib/database.js';
import { buildApp, cleanupAll, createUser, installExitHandlers, onCleanup, ROOT, startApp, startFake } from './lib/processes.js';
import { renderSection, writeResults } from './lib/report.js';
import { loadSettings } from './lib/settings.js';
import { v1ResponsesScenario } from './scenarios/v1-responses.js';

const BUDGET = 4000;
const started = performance.now();
const log = (line: string) => process.stderr.write(`[bench v1-responses ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}\n`);

async function main(): Promise<void> {
  installExitHandlers();
  const settings = loadSettings();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-bench-responses-'));
  onCleanup(() => fs.rmSync(workDir, { recursive: true, force: true }));
  if (process.env.BENCH_BUILD !== '0') {
    log('building (npm run build)');
    await buildApp();
  }
  const fake = await startFake();
  const db = sqliteDatabase(workDir, 'responses');
  const user = await createUser(db.url);
  const app = await startApp({
    databaseUrl: db.url,
    fakeBaseUrl: fake.baseUrl,
    workDir,
    env: { MODEL_CONTEXT_TOKENS: String(BUDGET), HISTORY_MAX_TOKENS: String(BUDGET), LOG_LEVEL: 'warn' },
  });
  try {
    process.stdout.write(
      `# Responses API benchmarks\n\n${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.version}, autocannon, ${settings.durationS} s per phase; SQLite; everything on 127.0.0.1.\n\n`,
    );
    const section = await v1ResponsesScenario({ settings, fake, workDir, log }, { origin: app.origin, pid: app.pid, apiKey: user.api_key, budget: BUDGET });
    process.stdout.write(`${renderSection(section)}\n`);
    writeResults(path.join(ROOT, 'bench', 'results', 'v1-responses-latest.json'), { startedAt: new Date().toISOString(), settings, section });
  } finally {
    await app.stop();
  }
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanupAll());
