import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

const MAIN = path.resolve(import.meta.dirname, '..', 'src', 'main.ts');
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-startup-'));
  dirs.push(dir);
  return dir;
}

/**
 * Runs the real server (`src/main.ts`, as `npm start` runs its build) in a clean environment and a
 * fresh working directory. A server that did start is stopped once it listens, so a test that
 * expects a failure cannot hang on one that unexpectedly works; one that never gets anywhere
 * is killed after 30 s (and the test then fails on its exit code).
 */
function run(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string; listened: boolean }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN], {
    cwd: tempDir(),
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '', HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let listened = false;
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  child.stdout.on('data', (d) => {
    stdout += d;
    if (!listened && /Server listening at/.test(stdout)) {
      listened = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, listened });
    }),
  );
}

const logLines = (stdout: string) =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string });

describe('start-up without a model provider', () => {
  test('logs one warning saying model endpoints answer 503 and what to set', async () => {
    const result = await run({});
    assert.ok(result.listened, `the server did not start: ${result.stderr}`);
    const warnings = logLines(result.stdout).filter((l) => l.level === 40 && /provider/i.test(l.msg));
    assert.equal(warnings.length, 1, result.stdout);
    assert.match(warnings[0]!.msg, /503/);
    assert.match(warnings[0]!.msg, /OPENAI_API_KEY/);
    assert.match(warnings[0]!.msg, /OPENAI_BASE_URL/);
  });

  test('logs no such warning when OPENAI_BASE_URL is set', async () => {
    const result = await run({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
    assert.ok(result.listened, `the server did not start: ${result.stderr}`);
    assert.deepEqual(logLines(result.stdout).filter((l) => l.level === 40 && /provider/i.test(l.msg)), []);
  });
});

// The cases start a process each and wait for it to fail: side by side, they take the time of one.
describe('start-up with a SQLite path that cannot be used', { concurrency: true }, () => {
  const cases: Array<{ name: string; database: () => string; reason: RegExp }> = [
    // Node's recursive mkdirSync spins forever on ENOENT from /proc: this used to hang start-up.
    { name: 'a directory that cannot be created under /proc', database: () => '/proc/nope/app.db', reason: /\/proc\/nope\b.*no such file or directory/i },
    {
      name: 'a directory whose parent is a file',
      database: () => {
        const file = path.join(tempDir(), 'file');
        fs.writeFileSync(file, 'not a directory');
        return path.join(file, 'sub', 'app.db');
      },
      reason: /not a directory/i,
    },
    { name: 'a path that is a directory', database: () => tempDir(), reason: /unable to open database file/i },
    {
      name: 'a file that is not a database',
      database: () => {
        const file = path.join(tempDir(), 'garbage.db');
        fs.writeFileSync(file, Buffer.alloc(8192, 7));
        return file;
      },
      reason: /not a database/i,
    },
  ];
  for (const { name, database, reason } of cases) {
    test(`${name}: exits 1 at once with one line on stderr naming the path and the reason`, async () => {
      const file = database();
      const result = await run({ DATABASE_URL: `sqlite:${file}` });
      assert.equal(result.listened, false, 'the server must not start');
      assert.equal(result.code, 1, `exit code (stderr: ${result.stderr})`);
      const lines = result.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`);
      assert.ok(lines[0]!.includes(file), `names the path: ${lines[0]}`);
      assert.match(lines[0]!, reason);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    });
  }
});
