import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

function assertErrorBody(res: { statusCode: number; headers: Record<string, unknown>; json(): any }, status: number, code: string) {
  assert.equal(res.statusCode, status);
  const body = res.json();
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.request_id, res.headers['x-request-id']);
  assert.ok(res.headers['x-request-id']);
}

describe('error responses', () => {
  let t: TestApp;
  let key: string;
  before(async () => {
    t = await createTestApp();
    key = (await t.createUser()).apiKey;
  });
  after(() => t.close());

  test('a body that is not JSON answers 400 invalid_json', async () => {
    const res = await t.request({ method: 'POST', url: '/conversations', key, headers: { 'content-type': 'application/json' }, payload: '{"title":' });
    assertErrorBody(res, 400, 'invalid_json');
  });

  test('an empty JSON body answers 400 invalid_json', async () => {
    const res = await t.request({ method: 'POST', url: '/conversations', key, headers: { 'content-type': 'application/json' }, payload: '' });
    assertErrorBody(res, 400, 'invalid_json');
  });

  test('a field of the wrong type answers 422 validation_error naming the field', async () => {
    const res = await t.request({ method: 'POST', url: '/conversations', key, json: { title: 7 } });
    assertErrorBody(res, 422, 'validation_error');
    assert.match(res.json().error.message, /title/);
  });

  test('an id longer than the router takes answers 404 not_found, like any unknown id', async () => {
    const res = await t.request({ method: 'GET', url: `/tasks/${'a'.repeat(101)}`, key });
    assertErrorBody(res, 404, 'not_found');
  });

  test('a malformed percent-encoding answers 400 invalid_url in the contract shape', async () => {
    const res = await t.request({ method: 'GET', url: '/tasks/%E0%A4%A', key });
    assertErrorBody(res, 400, 'invalid_url');
  });

  for (const url of ['/tasks?cursor=zzzz', '/tasks?cursor=0', '/conversations?cursor=zzzz']) {
    test(`a cursor the service did not issue answers 422 naming cursor (${url})`, async () => {
      const res = await t.request({ method: 'GET', url, key });
      assertErrorBody(res, 422, 'validation_error');
      assert.match(res.json().error.message, /cursor/);
    });
  }

  test('a missing required field answers 422 naming it', async () => {
    const conversation = (await t.request({ method: 'POST', url: '/conversations', key, json: {} })).json();
    const res = await t.request({ method: 'PATCH', url: `/conversations/${conversation.id}`, key, json: {} });
    assertErrorBody(res, 422, 'validation_error');
    assert.match(res.json().error.message, /title/);
  });

  test('a bad query parameter answers 422 naming it', async () => {
    const res = await t.request({ method: 'GET', url: '/conversations?limit=0', key });
    assertErrorBody(res, 422, 'validation_error');
    assert.match(res.json().error.message, /limit/);
  });

  test('a body over 1 MiB answers 413 payload_too_large', async () => {
    const res = await t.request({ method: 'POST', url: '/conversations', key, json: { title: 'x'.repeat(1024 * 1024) } });
    assertErrorBody(res, 413, 'payload_too_large');
  });

  test('an unknown route answers 404 not_found in the same shape', async () => {
    assertErrorBody(await t.request({ method: 'GET', url: '/nowhere' }), 404, 'not_found');
  });

  test('an unknown id answers 404 not_found', async () => {
    assertErrorBody(await t.request({ method: 'GET', url: '/conversations/does-not-exist', key }), 404, 'not_found');
  });

  test('a non-JSON content type answers 415 in the same shape', async () => {
    const res = await t.request({ method: 'POST', url: '/conversations', key, headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    assertErrorBody(res, 415, 'unsupported_media_type');
  });

  test("the caller's x-request-id is echoed in the header and the error body", async () => {
    const res = await t.request({ method: 'GET', url: '/conversations/nope', key, headers: { 'x-request-id': 'trace-123' } });
    assert.equal(res.headers['x-request-id'], 'trace-123');
    assert.equal(res.json().error.request_id, 'trace-123');
  });

  test('an unsafe x-request-id is replaced by a generated one', async () => {
    const res = await t.request({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\nwith newline' } });
    assert.notEqual(res.headers['x-request-id'], 'bad id\nwith newline');
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('successful responses carry x-request-id too', async () => {
    const res = await t.request({ method: 'GET', url: '/health' });
    assert.ok(res.headers['x-request-id']);
  });

  test('paths with a trailing slash behave like those without', async () => {
    const res = await t.request({ method: 'GET', url: '/conversations/', key });
    assert.equal(res.statusCode, 200);
  });
});

describe('internal failures', () => {
  test('an unexpected error answers 500 internal_error without internals', async () => {
    const t = await createTestApp();
    try {
      const { apiKey } = await t.createUser();
      // Inject a failure: the conversations table disappears under the app.
      t.storage.conversations.list = async () => {
        throw new Error('SQLITE_SECRET_DETAIL: no such table at /var/lib/secret.db');
      };
      const res = await t.request({ method: 'GET', url: '/conversations', key: apiKey });
      assertErrorBody(res, 500, 'internal_error');
      assert.doesNotMatch(res.body, /SQLITE_SECRET_DETAIL|secret\.db|stack/);
      assert.ok(t.logs.some((l) => l.level === 50), 'the error itself is logged for operators');
    } finally {
      await t.close();
    }
  });
});
