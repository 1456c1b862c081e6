import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Found by hostile-requests.test.ts: @fastify/static (the /docs UI's files) refuses a path such
 * as /docs/static/index.html// with a 403 FastifyError, which the error handler turned into
 * 500 internal_error and logged as a failure. A 4xx the framework or a plugin raises is the
 * client's: it keeps its status, in the contract's shape.
 */
let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(() => t.close());

for (const method of ['GET', 'HEAD'] as const) {
  test(`${method} /docs/static/index.html// answers 403 forbidden, not 500`, async () => {
    const res = await t.app.inject({ method, url: '/docs/static/index.html//' });
    assert.equal(res.statusCode, 403);
    assert.ok(res.headers['x-request-id']);
    if (method === 'GET') {
      assert.deepEqual(res.json(), { error: { code: 'forbidden', message: 'Forbidden', request_id: res.headers['x-request-id'] } });
    }
    assert.deepEqual(t.logs.filter((line) => Number(line.level) >= 50), [], 'nothing logged as a server failure');
  });
}
