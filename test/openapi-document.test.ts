import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

type Operation = {
  operationId?: string;
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, { schema?: any }> }>;
};

/** What /openapi.json declares must be what the app answers: content types, statuses, one id per operation. */
describe('the OpenAPI document tells the truth', () => {
  let t: TestApp;
  let operations: Array<{ method: string; path: string; op: Operation }>;
  const find = (method: string, path: string) => {
    const found = operations.find((o) => o.method === method && o.path === path);
    assert.ok(found, `${method} ${path} is documented`);
    return found.op;
  };
  before(async () => {
    t = await createTestApp();
    const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
    operations = Object.entries<Record<string, Operation>>(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
    );
  });
  after(() => t.close());

  test('every operation has an operationId: camelCase, unique, derived from method and path', () => {
    const ids = operations.map(({ method, path, op }) => {
      assert.match(String(op.operationId), /^[a-z][A-Za-z0-9]*$/, `${method} ${path}`);
      return op.operationId;
    });
    assert.equal(new Set(ids).size, ids.length, `duplicate ids: ${ids.join(', ')}`);
    assert.equal(find('GET', '/conversations/{id}/messages').operationId, 'getConversationsByIdMessages');
    assert.equal(find('POST', '/v1/chat/completions').operationId, 'postV1ChatCompletions');
  });

  for (const path of ['/chat/stream', '/agent/stream']) {
    test(`POST ${path} answers text/event-stream, and its errors JSON`, () => {
      const op = find('POST', path);
      assert.deepEqual(Object.keys(op.responses['200']!.content ?? {}), ['text/event-stream']);
      assert.deepEqual(Object.keys(op.responses['422']!.content ?? {}), ['application/json']);
    });
  }

  test('POST /v1/chat/completions answers JSON, or text/event-stream with stream: true', () => {
    const op = find('POST', '/v1/chat/completions');
    assert.deepEqual(Object.keys(op.responses['200']!.content ?? {}).sort(), ['application/json', 'text/event-stream']);
  });

  test("/v1 errors are declared with OpenAI's error object", () => {
    for (const { method, path, op } of operations.filter((o) => o.path.startsWith('/v1/'))) {
      for (const status of ['401', '429', '500', '502', '503', '504']) {
        const schema = op.responses[status]?.content?.['application/json']?.schema;
        assert.ok(schema, `${method} ${path} declares ${status}`);
        assert.deepEqual(Object.keys(schema.properties.error.properties).sort(), ['code', 'message', 'param', 'type'], `${method} ${path} ${status}`);
      }
    }
  });

  test('every operation that takes a JSON body declares 415, and every operation 500, in the error shape of its API', () => {
    for (const { method, path, op } of operations) {
      const shape = path.startsWith('/v1/') ? ['code', 'message', 'param', 'type'] : ['code', 'message', 'request_id'];
      const statuses = ['500', ...(['POST', 'PUT', 'PATCH'].includes(method) ? ['415'] : [])];
      for (const status of statuses) {
        const schema = op.responses[status]?.content?.['application/json']?.schema;
        assert.ok(schema, `${method} ${path} declares ${status}`);
        assert.deepEqual(Object.keys(schema.properties.error.properties).sort(), shape, `${method} ${path} ${status}`);
      }
    }
  });

  test('every POST and PATCH declares its JSON request body', () => {
    for (const { method, path, op } of operations.filter((o) => o.method === 'POST' || o.method === 'PATCH')) {
      assert.ok(op.requestBody?.content['application/json'], `${method} ${path}`);
    }
  });

  test('GET /metrics answers text/plain, as it really does', async () => {
    assert.deepEqual(Object.keys(find('GET', '/metrics').responses['200']!.content ?? {}), ['text/plain']);
    const res = await t.request({ method: 'GET', url: '/metrics' });
    assert.match(String(res.headers['content-type']), /^text\/plain/);
  });

  test('a 204 declares no body', () => {
    for (const { method, path, op } of operations) {
      if (op.responses['204']) assert.equal(op.responses['204'].content, undefined, `${method} ${path}`);
    }
    assert.ok(find('DELETE', '/tasks/{id}').responses['204']);
  });
});
