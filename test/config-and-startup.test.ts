import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const MAIN = path.join(ROOT, 'src', 'main.ts');

describe('configuration', () => {
  test('defaults match the contract', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8000);
    assert.equal(c.database.url, 'sqlite:./data/app.db');
    assert.equal(c.openai.embeddingModel, 'text-embedding-3-small');
    assert.equal(c.openai.maxTokens, 2000);
    assert.equal(c.openai.temperature, 0.7);
    assert.equal(c.openai.timeoutMs, 30_000);
    assert.equal(c.openai.maxRetries, 3);
    assert.equal(c.rateLimit.perMinute, 60);
    assert.equal(c.rateLimit.tokensPerMinute, undefined);
    assert.equal(c.shutdownGraceMs, 30_000);
    assert.equal(c.historyMaxTokens, 6000);
    assert.equal(c.agentMaxIterations, 5);
    assert.equal(c.systemPrompt, 'You are a helpful assistant.');
    assert.deepEqual(c.corsOrigins, []);
    assert.equal(c.logLevel, 'info');
  });

  test('every bad variable gets exactly one line naming it', () => {
    const error = (() => {
      try {
        loadConfig({ PORT: 'eighty', OPENAI_TEMPERATURE: '3', DATABASE_URL: 'mysql://db', LOG_LEVEL: 'loud', RATE_LIMIT_PER_MINUTE: '0' });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(error instanceof ConfigError);
    assert.equal(error.problems.length, 5);
    for (const name of ['PORT', 'OPENAI_TEMPERATURE', 'DATABASE_URL', 'LOG_LEVEL', 'RATE_LIMIT_PER_MINUTE']) {
      assert.equal(error.problems.filter((line) => line.startsWith(`${name}:`)).length, 1, name);
    }
  });

  test('a bad value that may hold a credential is not echoed', () => {
    assert.throws(
      () => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/app', REDIS_URL: 'http://:s3cret@cache' }),
      (e: unknown) => e instanceof ConfigError && !e.message.includes('hunter2') && !e.message.includes('s3cret'),
    );
  });

  test('optional numbers accept empty strings as unset', () => {
    const c = loadConfig({ TOKENS_PER_MINUTE: '', EMBEDDING_DIMENSIONS: '' });
    assert.equal(c.rateLimit.tokensPerMinute, undefined);
    assert.equal(c.openai.embeddingDimensions, undefined);
  });

  test('CORS_ORIGINS is split on commas', () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins, ['https://a.example', 'https://b.example']);
  });
});

function start(env: Record<string, string>, cwd: string) {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('start-up', () => {
  test('bad configuration stops start-up with one line per variable and a non-zero exit', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-start-'));
    const run = start({ PORT: 'x', OPENAI_TIMEOUT: '-5' }, dir);
    const code = await run.exited;
    assert.notEqual(code, 0);
    const lines = run.err().split('\n').filter((l) => l.startsWith('config error:'));
    assert.equal(lines.length, 2, run.err());
    assert.ok(lines.some((l) => l.includes('PORT')) && lines.some((l) => l.includes('OPENAI_TIMEOUT')));
    assert.ok(!fs.existsSync(path.join(dir, 'data')), 'nothing was created');
  });

  test('a .env file in the working directory is read', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-start-'));
    fs.writeFileSync(path.join(dir, '.env'), 'LOG_LEVEL=shouting\n');
    const run = start({}, dir);
    assert.notEqual(await run.exited, 0);
    assert.match(run.err(), /config error: LOG_LEVEL/);
  });

  test('the server starts on the default SQLite path, serves /health, and exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-start-'));
    const run = start({ PORT: '0' }, dir);
    try {
      let url: string | undefined;
      for (let i = 0; i < 200 && !url; i++) {
        url = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(run.out())?.[1];
        if (!url) await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(url, `server did not start: ${run.err()}`);
      const res = await fetch(`${url}/health`);
      assert.deepEqual(await res.json(), { status: 'healthy' });
      assert.ok(fs.existsSync(path.join(dir, 'data', 'app.db')), 'the database file and its directory were created');
      run.child.kill('SIGTERM');
      assert.equal(await run.exited, 0);
    } finally {
      run.child.kill('SIGKILL');
    }
  });
});
