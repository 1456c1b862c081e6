/**
 * What the agent loop adds per iteration: `POST /agent` with a message that makes
 * one tool call and then a text answer (two model calls), against the same two
 * model calls made straight to the fake upstream, one after the other.
 *
 *   npx tsx bench/agent-latency.ts            (AGENT_BENCH_SAMPLES=300, AGENT_BENCH_WARMUP=50)
 *
 * Standalone: it starts the fake upstream and the built app as child processes
 * (so the measuring client never shares their event loop) and kills them on exit.
 * Requests are sequential, so this is latency, not throughput; the agent's and the
 * direct samples alternate, so drift (GC, CPU frequency) hits both alike.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolDefinitions, taskTools } from '../src/services/agent/tools.js';
import type { SearchService } from '../src/services/search-service.js';
import type { TaskService } from '../src/services/task-service.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SAMPLES = Number(process.env.AGENT_BENCH_SAMPLES ?? 300);
const WARMUP = Number(process.env.AGENT_BENCH_WARMUP ?? 50);
const MODEL = 'gpt-4.1-mini';
const SYSTEM_PROMPT = 'You are a helpful assistant.';
const MESSAGE = '[[tool:create_task {"title":"Benchmark the agent","priority":"high"}]]';

const children: ChildProcess[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agent-bench-'));
function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.length = 0;
  fs.rmSync(tmp, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

function start(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (children.includes(child)) {
      process.stderr.write(`agent-latency: ${args.join(' ')} exited early (${signal ?? code})\n`);
      process.exit(1);
    }
  });
  return child;
}

async function waitForOk(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} did not come up at ${url}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function main(): Promise<void> {
  const fakePort = await freePort();
  const appPort = await freePort();
  const fakeUrl = `http://127.0.0.1:${fakePort}/v1`;
  const appUrl = `http://127.0.0.1:${appPort}`;
  const databaseUrl = `sqlite:${path.join(tmp, 'app.db')}`;

  execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  start(['--import', 'tsx', 'src/fake-openai/cli.ts'], { FAKE_OPENAI_PORT: String(fakePort) });
  await waitForOk(`http://127.0.0.1:${fakePort}/_fake/health`, 'fake-openai');
  start(['dist/main.js'], {
    HOST: '127.0.0.1',
    PORT: String(appPort),
    DATABASE_URL: databaseUrl,
    OPENAI_BASE_URL: fakeUrl,
    OPENAI_API_KEY: 'x',
    OPENAI_MODEL: MODEL,
    SYSTEM_PROMPT,
    RATE_LIMIT_PER_MINUTE: '100000000',
    LOG_LEVEL: 'info',
  });
  await waitForOk(`${appUrl}/health`, 'the app');
  const created = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', 'create-user', 'bench'], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    encoding: 'utf8',
  });
  const auth = { authorization: `Bearer ${JSON.parse(created.trim().split('\n').at(-1)!).api_key}` };

  // The same two requests the agent makes: the tools (generated as the app does), then the tool answer.
  const tools = toolDefinitions(taskTools({} as TaskService, {} as SearchService));
  const generation = { model: MODEL, max_completion_tokens: 2000, temperature: 0.7 };
  const first = { role: 'system', content: SYSTEM_PROMPT };
  const user = { role: 'user', content: MESSAGE };
  const sample = await post(`${appUrl}/agent`, { message: MESSAGE }, auth);
  if (sample.iterations !== 2) throw new Error(`expected 2 model calls per agent request, got ${JSON.stringify(sample)}`);
  const taskResult = JSON.stringify(sample.tool_calls[0].result);

  const agentOnce = () => post(`${appUrl}/agent`, { message: MESSAGE }, auth);
  const directOnce = async () => {
    const call = await post(`${fakeUrl}/chat/completions`, { ...generation, messages: [first, user], tools });
    const toolCalls = call.choices[0].message.tool_calls;
    await post(`${fakeUrl}/chat/completions`, {
      ...generation,
      tools,
      messages: [first, user, { role: 'assistant', content: null, tool_calls: toolCalls }, { role: 'tool', tool_call_id: toolCalls[0].id, content: taskResult }],
    });
  };
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };

  for (let i = 0; i < WARMUP; i++) {
    await agentOnce();
    await directOnce();
  }
  const agent: number[] = [];
  const direct: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    agent.push(await time(agentOnce));
    direct.push(await time(directOnce));
  }
  agent.sort((a, b) => a - b);
  direct.sort((a, b) => a - b);

  const row = (name: string, sorted: number[]) =>
    `${name.padEnd(34)} ${percentile(sorted, 50).toFixed(2).padStart(8)} ${percentile(sorted, 99).toFixed(2).padStart(8)}`;
  const added = (percentile(agent, 50) - percentile(direct, 50)) / 2;
  console.log(`\nagent latency: ${SAMPLES} sequential samples each after ${WARMUP} warm-up (ms)`);
  console.log(`${'request'.padEnd(34)} ${'p50'.padStart(8)} ${'p99'.padStart(8)}`);
  console.log(row('POST /agent (tool call + answer)', agent));
  console.log(row('direct: 2 model calls in sequence', direct));
  console.log(`${'added per iteration (p50 diff / 2)'.padEnd(34)} ${added.toFixed(2).padStart(8)}`);
}

main()
  .then(() => process.exit(0))
  .catch((error: unknown) => {
    process.stderr.write(`agent-latency: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
