import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Found by hostile-requests.test.ts: /tasks// matches /tasks/:id with an empty id, which failed
 * the params schema: 422 validation_error, a status /openapi.json does not declare for these
 * routes. A path that names no resource answers 404 not_found, like an unknown or over-long id.
 */
let t: TestApp;
let key: string;
before(async () => {
  t = await createTestApp();
  key = (await t.createUser()).apiKey;
});
after(() => t.close());

const cases: Array<[string, string, unknown?]> = [
  ['GET', '/tasks//'],
  ['PATCH', '/tasks//', { title: 'x' }],
  ['DELETE', '/tasks//'],
  ['GET', '/conversations//'],
  ['DELETE', '/conversations//'],
  ['GET', '/conversations///messages'],
];
for (const [method, url, json] of cases) {
  test(`${method} ${url} (an empty id) answers 404 not_found, not 422`, async () => {
    const res = await t.request({ method: method as 'GET', url, key, ...(json !== undefined && { json }) });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
    assert.equal(res.json().error.request_id, res.headers['x-request-id']);
  });
}
