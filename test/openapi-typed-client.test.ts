import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import openapiTS, { astToString, type OpenAPI3 } from 'openapi-typescript';
import { createTestApp, type TestApp } from './helpers/test-app.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const TSC = path.join(ROOT, 'node_modules', '.bin', 'tsc');

/**
 * A client written against types generated from the running app's /openapi.json: it must
 * type-check (wrong bodies must not), and then drive the app. The same file is compiled by
 * tsc and run, so the types are checked against what the server really answers.
 */
const CLIENT = `
import createClient from 'openapi-fetch';
import type { operations, paths } from './api.js';

// Operations are named by their operationId, and a stream is declared as what it is.
export const streamed: operations['postChatStream']['responses'][200]['content']['text/event-stream'] = 'data: [DONE]';
export const metricsText: operations['getMetrics']['responses'][200]['content']['text/plain'] = '# HELP';

export async function drive(baseUrl: string, apiKey: string) {
  const client = createClient<paths>({ baseUrl, headers: { authorization: \`Bearer \${apiKey}\` } });

  const created = await client.POST('/conversations', { body: { title: 'typed client' } });
  if (!created.data) throw new Error(\`create failed: \${created.response.status}\`);
  const conversationId: string = created.data.id;
  const title: string | null = created.data.title;

  const listed = await client.GET('/conversations', { params: { query: { limit: 10 } } });
  const listedIds: string[] = listed.data ? listed.data.data.map((c) => c.id) : [];
  const nextCursor: string | null | undefined = listed.data?.next_cursor;

  const task = await client.POST('/tasks', { body: { title: 'generate a client', priority: 'high' } });
  const priority: 'low' | 'medium' | 'high' | undefined = task.data?.priority;
  const taskStatus: 'pending' | 'completed' | undefined = task.data?.status;

  const missing = await client.GET('/tasks/{id}', { params: { path: { id: 'no-such-task' } } });
  const missingError: { code: string; message: string; request_id: string } | undefined = missing.error?.error;

  // @ts-expect-error priority is low, medium or high: the generated types know it
  const invalid = await client.POST('/tasks', { body: { title: 'x', priority: 'urgent' } });

  return {
    created: { status: created.response.status, conversationId, title },
    listed: { status: listed.response.status, listedIds, nextCursor },
    task: { status: task.response.status, priority, taskStatus },
    missing: { status: missing.response.status, error: missingError, header: missing.response.headers.get('x-request-id') },
    invalid: { status: invalid.response.status, error: invalid.error?.error },
  };
}
`;

describe('a typed client generated from /openapi.json', () => {
  let t: TestApp;
  let baseUrl: string;
  let dir: string;
  before(async () => {
    t = await createTestApp();
    baseUrl = await t.listen();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-client-'));
    // The client resolves openapi-fetch (and tsc its types) from this repository's packages.
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  });
  after(async () => {
    await t.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('type-checks with tsc, and drives the app: create, list, a task, a 404, a 422', async () => {
    const doc = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as OpenAPI3;
    fs.writeFileSync(path.join(dir, 'api.d.ts'), astToString(await openapiTS(doc)));
    fs.writeFileSync(path.join(dir, 'client.ts'), CLIENT);
    fs.writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'es2022',
          lib: ['es2023', 'dom'],
          module: 'nodenext',
          moduleResolution: 'nodenext',
          types: [],
          skipLibCheck: true,
        },
        files: ['client.ts'],
      }),
    );
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));

    const tsc = await promisify(execFile)(TSC, ['-p', dir], { cwd: dir }).then(
      () => ({ ok: true, output: '' }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    assert.ok(tsc.ok, `the generated client does not type-check:\n${tsc.output}`);

    const { apiKey } = await t.createUser('typed-client');
    const { drive } = (await import(path.join(dir, 'client.ts'))) as { drive: (url: string, key: string) => Promise<any> };
    const result = await drive(baseUrl, apiKey);

    assert.equal(result.created.status, 201);
    assert.equal(result.created.title, 'typed client');
    assert.equal(result.listed.status, 200);
    assert.deepEqual(result.listed.listedIds, [result.created.conversationId]);
    assert.equal(result.listed.nextCursor, null);
    assert.equal(result.task.status, 201);
    assert.equal(result.task.priority, 'high');
    assert.equal(result.task.taskStatus, 'pending');
    assert.equal(result.missing.status, 404);
    assert.equal(result.missing.error.code, 'not_found');
    assert.equal(result.missing.error.request_id, result.missing.header);
    assert.equal(result.invalid.status, 422);
    assert.equal(result.invalid.error.code, 'validation_error');
    assert.match(result.invalid.error.message, /priority/);
  });
});
