import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { runAdmin } from './helpers/admin.js';
import { SQLITE } from './helpers/databases.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/**
 * Issue 18: the Redis behind shared rate limits goes away under a trickle of /chat
 * requests and comes back. Each test runs a redis-server of its own on a free port, so
 * stopping it affects nobody else. TEST_REDIS_URL is only the signal that redis-server
 * is installed here (CI sets it); that Redis itself is never touched.
 */

const LIMIT = 30;

async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

interface RedisProcess {
  child: ChildProcess;
  kill(): Promise<void>;
}

async function startRedis(port: number): Promise<RedisProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.once('error', reject);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on('data', (d) => (out += d));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited before it was ready: ${out}`));
    });
  });
  return {
    child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Polls until `check` holds; a bound on waiting for the server to notice, not a timing assertion. */
async function until(what: string, check: () => Promise<boolean>, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

type Phase = 'before' | 'stopping' | 'down';
interface Answer {
  phase: Phase;
  status: number;
  body: { error?: { code?: unknown; message?: unknown; request_id?: unknown }; conversation_id?: unknown };
  requestId: string | null;
}

function assertContractError(answer: { status: number; body: Answer['body']; requestId: string | null }, status: number, code: string) {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  assert.equal(answer.body.error?.code, code);
  assert.equal(typeof answer.body.error?.message, 'string');
  assert.equal(typeof answer.body.error?.request_id, 'string');
  assert.ok(answer.requestId, 'x-request-id header');
}

describe('Redis outage under load', { skip: !process.env.TEST_REDIS_URL && 'TEST_REDIS_URL not set (needs redis-server)' }, () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());

  for (const failOpen of [true, false]) {
    test(`RATE_LIMIT_FAIL_OPEN=${failOpen}: ${failOpen ? 'requests keep answering 200' : 'model calls answer 503 service_unavailable'} while Redis is down, /ready is 503, and limits are enforced again once it is back`, async (t) => {
      const port = await freePort();
      const db = await SQLITE.create();
      const processes: Array<{ kill(): Promise<unknown> }> = [];
      let server: ServerProcess | undefined;
      let trickling = true;
      const loops: Promise<void>[] = [];
      try {
        let redis = await startRedis(port);
        processes.push(redis);
        const env = {
          DATABASE_URL: db.url,
          OPENAI_BASE_URL: fake.url,
          OPENAI_API_KEY: 'sk-redis-outage',
          REDIS_URL: `redis://127.0.0.1:${port}`,
          RATE_LIMIT_PER_MINUTE: String(LIMIT),
          TOKENS_PER_MINUTE: '100000000',
          RATE_LIMIT_FAIL_OPEN: String(failOpen),
        };
        const created = await runAdmin(['create-user', 'trickle'], env);
        assert.equal(created.code, 0, created.stderr);
        const { api_key: key } = JSON.parse(created.stdout) as { api_key: string };
        server = await startServerProcess(env);
        processes.push({ kill: () => server!.stop('SIGKILL') });
        const url = server.url;
        const auth = { authorization: `Bearer ${key}` };

        const chat = async (message: string) => {
          const res = await fetch(`${url}/chat`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ message }) });
          return { status: res.status, body: (await res.json()) as Answer['body'], requestId: res.headers.get('x-request-id'), retryAfter: res.headers.get('retry-after') };
        };
        const ready = async () => {
          const res = await fetch(`${url}/ready`);
          return { status: res.status, body: (await res.json()) as Answer['body'], requestId: res.headers.get('x-request-id') };
        };
        assert.equal((await ready()).status, 200);

        // The trickle: three clients, one request at a time each, until told to stop.
        let phase: Phase = 'before';
        const answers: Answer[] = [];
        const networkErrors: unknown[] = [];
        for (let c = 0; c < 3; c++) {
          loops.push(
            (async () => {
              for (let n = 0; trickling; n++) {
                const sentIn = phase;
                try {
                  const answer = await chat(`trickle ${c}.${n} [[delay:10]]`);
                  // A request sent before the kill but answered after it counts as sent while stopping.
                  answers.push({ phase: sentIn === 'before' && phase !== 'before' ? 'stopping' : sentIn, ...answer });
                } catch (error) {
                  networkErrors.push(error);
                }
              }
            })(),
          );
        }
        await until('the trickle is flowing', async () => answers.length >= 5);

        phase = 'stopping';
        await redis.kill();
        await until('/ready notices Redis is gone', async () => (await ready()).status === 503);
        const notReady = await ready();
        assertContractError(notReady, 503, 'service_unavailable');
        phase = 'down';
        await until('the trickle has run during the outage', async () => answers.filter((a) => a.phase === 'down').length >= 10);
        // Routes that do not call the model are not limited, so Redis is no concern of theirs.
        assert.equal((await fetch(`${url}/conversations`, { headers: auth })).status, 200);
        trickling = false;
        await Promise.all(loops);

        assert.deepEqual(networkErrors, [], 'every request was answered');
        assert.equal(server.child.exitCode, null, 'the server is still running');
        const beforeKill = answers.filter((a) => a.phase === 'before');
        assert.ok(beforeKill.length > 0 && beforeKill.length < LIMIT);
        for (const a of beforeKill) assert.equal(a.status, 200, JSON.stringify(a.body));
        for (const a of answers) {
          if (a.status === 200) assert.equal(typeof a.body.conversation_id, 'string');
          else if (failOpen) assert.fail(`fail-open answered ${a.status} ${JSON.stringify(a.body)} (${a.phase})`);
          else assertContractError(a, 503, 'service_unavailable');
        }
        const down = answers.filter((a) => a.phase === 'down');
        for (const a of down) assert.equal(a.status, failOpen ? 200 : 503, JSON.stringify(a.body));
        const counts = answers.reduce<Record<string, number>>((acc, a) => ((acc[`${a.phase}:${a.status}`] = (acc[`${a.phase}:${a.status}`] ?? 0) + 1), acc), {});

        // Redis comes back on the same port, empty: the server reconnects by itself.
        redis = await startRedis(port);
        processes.push(redis);
        await until('/ready sees Redis again', async () => (await ready()).status === 200);
        const statuses: number[] = [];
        let last: Awaited<ReturnType<typeof chat>> | undefined;
        for (let i = 0; i <= LIMIT; i++) {
          last = await chat(`after the outage ${i}`);
          statuses.push(last.status);
        }
        assert.deepEqual(statuses, [...Array<number>(LIMIT).fill(200), 429], 'the limit counts in Redis again');
        assertContractError(last!, 429, 'rate_limited');
        assert.ok(Number(last!.retryAfter) >= 1, 'Retry-After');
        assert.equal(server.child.exitCode, null, 'no restart was needed');
        t.diagnostic(`trickle answers by phase:status: ${JSON.stringify(counts)}`);
      } finally {
        trickling = false;
        await Promise.allSettled(loops);
        for (const p of processes) await p.kill().catch(() => {});
        await db.drop();
      }
    });
  }
});
