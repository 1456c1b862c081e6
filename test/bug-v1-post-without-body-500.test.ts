import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Found by hostile-requests.test.ts: a POST to /v1/chat/completions or /v1/embeddings with no
 * body at all (so no content type and no parser) reached the gateway with `request.body`
 * undefined, which threw a TypeError: 500 internal_error. No body is as unparseable as a bad
 * one: 400 invalid_request_error, as OpenAI answers.
 */
let t: TestApp;
let key: string;
before(async () => {
  t = await createTestApp({ env: { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' } });
  key = (await t.createUser()).apiKey;
});
after(() => t.close());

for (const url of ['/v1/chat/completions', '/v1/embeddings']) {
  test(`POST ${url} without a body answers 400 invalid_request_error, not 500`, async () => {
    const res = await t.request({ method: 'POST', url, key });
    assert.equal(res.statusCode, 400);
    assert.ok(res.headers['x-request-id']);
    const { error } = res.json();
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'invalid_json');
    assert.equal(error.param, null);
    assert.deepEqual(t.logs.filter((line) => Number(line.level) >= 50), [], 'nothing logged as a server failure');
  });
}
