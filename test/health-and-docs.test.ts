import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TEST_DATABASES } from './helpers/databases.js';
import { createTestApp } from './helpers/test-app.js';

describe('health, readiness and docs', () => {
  test('GET /health answers {"status":"healthy"}', async () => {
    const t = await createTestApp();
    try {
      const res = await t.request({ method: 'GET', url: '/health' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'healthy' });
    } finally {
      await t.close();
    }
  });

  for (const database of TEST_DATABASES) {
    test(`GET /ready is 200 while the ${database.name} database answers and 503 once it is gone`, async () => {
      const t = await createTestApp({ database });
      try {
        assert.equal((await t.request({ method: 'GET', url: '/ready' })).statusCode, 200);
        await t.storage.close();
        const res = await t.request({ method: 'GET', url: '/ready' });
        assert.equal(res.statusCode, 503);
        assert.equal(res.json().error.code, 'service_unavailable');
        assert.equal((await t.request({ method: 'GET', url: '/health' })).statusCode, 200);
      } finally {
        await t.app.close();
      }
    });
  }

  test('GET /docs serves the interactive reference', async () => {
    const t = await createTestApp();
    try {
      const res = await t.request({ method: 'GET', url: '/docs' });
      const page = res.statusCode === 302 ? await t.request({ method: 'GET', url: String(res.headers.location).replace(/^\.?\/?/, '/docs/') }) : res;
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.match(page.body, /swagger/i);
    } finally {
      await t.close();
    }
  });

  test('GET /openapi.json is OpenAPI 3 and documents every route the app serves', async () => {
    const t = await createTestApp();
    try {
      const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
      assert.match(doc.openapi, /^3\./);
      const documented = new Set<string>();
      for (const [p, ops] of Object.entries<Record<string, unknown>>(doc.paths)) {
        for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${p}`);
      }
      const served = routesOf(t.app.printRoutes({ commonPrefix: false }));
      assert.ok(served.includes('POST /chat/stream') && served.length >= 15, 'the route tree was read');
      // The docs UI and the playground (/, /index.html, /assets/*) are static files, not API operations.
      const undocumented = served.filter((r) => !documented.has(r) && !/^GET \/(docs|openapi\.json|$|index\.html$|assets\/)/.test(r));
      assert.deepEqual(undocumented, []);
      assert.ok(documented.has('GET /conversations/{id}/messages'));
      assert.ok(doc.paths['/conversations'].get.security, 'authenticated routes declare bearer auth');
    } finally {
      await t.close();
    }
  });
});

/** "METHOD /path/{param}" for every route in Fastify's printRoutes tree (HEAD and OPTIONS left out). */
function routesOf(tree: string): string[] {
  const routes: string[] = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const path = prefixes.join('') + match[2]!;
    prefixes.push(match[2]!);
    for (const method of match[3]!.split(', ')) {
      if (method !== 'HEAD' && method !== 'OPTIONS') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}
