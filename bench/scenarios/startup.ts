/**
 * Start-up: spawn → first 200 from /health, for `node dist/main.js` on a fresh SQLite
 * file each time (so migrations run), next to a bare node:http server as the floor
 * of what any Node process needs to get there.
 */
import { spawn } from 'node:child_process';
import { ROOT, freePort, startApp, stopChild, waitFor200 } from '../lib/processes.js';
import { fmt, type Section } from '../lib/report.js';
import { summarize } from '../lib/stats.js';
import { sqliteDatabase } from '../lib/database.js';
import type { BenchContext } from './context.js';

const BARE_SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1')";

async function bareNodeStartup(): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, ['-e', BARE_SERVER], { cwd: ROOT, env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
  try {
    await waitFor200(`http://127.0.0.1:${port}/health`, child);
    return performance.now() - started;
  } finally {
    await stopChild(child);
  }
}

export async function startupScenario(ctx: BenchContext): Promise<Section> {
  const runs = ctx.settings.startupRuns;
  const app: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    ctx.log(`start-up ${i + 1}/${runs}`);
    bare.push(await bareNodeStartup());
    const db = sqliteDatabase(ctx.workDir, `startup-${i}`);
    const started = await startApp({ databaseUrl: db.url, fakeBaseUrl: ctx.fake.baseUrl, workDir: ctx.workDir });
    app.push(started.startupMs);
    await started.stop();
  }
  const a = summarize(app);
  const b = summarize(bare);
  return {
    title: '1. Start-up (spawn → first 200 from /health)',
    tables: [
      {
        columns: ['process', 'runs', 'median', 'min', 'max', 'median vs bare node'],
        rows: [
          ['bare `node -e` http server (floor)', String(b.n), fmt.ms(b.p50), fmt.ms(b.min), fmt.ms(b.max), '1.00×'],
          ['`node dist/main.js`, fresh SQLite (migrations)', String(a.n), fmt.ms(a.p50), fmt.ms(a.min), fmt.ms(a.max), fmt.ratio(a.p50 / b.p50)],
        ],
      },
    ],
    notes: ['Polled every 2 ms on a new connection; the two are spawned alternately.'],
    targets: [],
    data: { appMs: app, bareNodeMs: bare },
  };
}
