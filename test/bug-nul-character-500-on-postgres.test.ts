import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_DATABASES } from './helpers/databases.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Found by hostile-requests.test.ts on PostgreSQL, which cannot store U+0000 in text: a title,
 * description or message holding one, and an id holding one in the path, answered 500. On both
 * databases alike now: such a string in a body is a 422 validation_error naming the field, and
 * such an id an id that does not exist (404).
 */
for (const database of TEST_DATABASES) {
  describe(`NUL characters (${database.name})`, () => {
    let t: TestApp;
    let key: string;
    let taskId: string;
    let conversationId: string;
    before(async () => {
      t = await createTestApp({ database });
      key = (await t.createUser()).apiKey;
      taskId = (await t.request({ method: 'POST', url: '/tasks', key, json: { title: 'a task' } })).json().id;
      conversationId = (await t.request({ method: 'POST', url: '/conversations', key, json: {} })).json().id;
    });
    after(() => t.close());

    const bodies: Array<[string, string, unknown, string]> = [
      ['POST', '/conversations', { title: 'a\u0000b' }, 'body.title'],
      ['PATCH', '/conversations/{id}', { title: '\u0000' }, 'body.title'],
      ['POST', '/tasks', { title: 'ok', description: 'x\u0000' }, 'body.description'],
      ['PATCH', '/tasks/{id}', { title: '\u0000' }, 'body.title'],
      ['POST', '/chat', { message: 'hi\u0000', conversation_id: '{conversation}' }, 'body.message'],
      ['POST', '/chat', { message: 'hi', conversation_id: '\u0000' }, 'body.conversation_id'],
      ['POST', '/search/semantic', { query: '\u0000' }, 'body.query'],
    ];
    for (const [method, path, json, field] of bodies) {
      test(`${method} ${path} with U+0000 in ${field} answers 422 naming it, not 500`, async () => {
        const url = path.replace('{id}', path.startsWith('/tasks') ? taskId : conversationId);
        const body = JSON.parse(JSON.stringify(json).replace('{conversation}', conversationId));
        const res = await t.request({ method: method as 'POST', url, key, json: body });
        assert.equal(res.statusCode, 422, res.body);
        assert.equal(res.json().error.code, 'validation_error');
        assert.match(res.json().error.message, new RegExp(field.replace('.', '\\.')));
      });
    }

    for (const [method, url] of [
      ['GET', '/tasks/%00'],
      ['PATCH', '/tasks/a%00b'],
      ['DELETE', '/tasks/%00'],
      ['GET', '/conversations/%00'],
      ['DELETE', '/conversations/%00'],
      ['GET', '/conversations/%00/messages'],
      ['POST', '/chat/conversations/%00/messages'],
    ] as const) {
      test(`${method} ${url} (U+0000 in the id) answers 404 not_found, not 500`, async () => {
        const body = method === 'PATCH' ? { title: 'x' } : method === 'POST' ? { message: 'hi' } : undefined;
        const res = await t.request({ method, url, key, ...(body && { json: body }) });
        assert.equal(res.statusCode, 404, res.body);
        assert.equal(res.json().error.code, 'not_found');
      });
    }
  });
}

test('the NUL check walks a body nested as deep as 1 MiB allows without overflowing the stack', async () => {
  const t = await createTestApp();
  try {
    const key = (await t.createUser()).apiKey;
    const depth = 200_000;
    const payload = `{"title":"deep","extra":${'['.repeat(depth)}"\\u0000"${']'.repeat(depth)}}`;
    const res = await t.request({ method: 'POST', url: '/tasks', key, headers: { 'content-type': 'application/json' }, payload });
    assert.equal(res.statusCode, 422, res.body.slice(0, 200));
    assert.match(res.json().error.message, /^body\.extra\.0\.0[.0]*…: must not contain/);
    assert.ok(res.body.length < 1000, 'the field is named, not spelled out 200,000 levels deep');
  } finally {
    await t.close();
  }
});
