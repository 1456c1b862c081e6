import assert from 'node:assert/strict';
import path from 'node:path';
import { gunzipSync, brotliDecompressSync } from 'node:zlib';
import Fastify from 'fastify';
import { after, before, describe, test } from 'node:test';
import { registerErrorHandling } from '../src/http/error-handler.js';
import { PLAYGROUND_CSP, playgroundRoutes } from '../src/http/playground.js';
import { ensurePlaygroundBuilt } from './helpers/playground.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/** GET / and its files: no key, a strict CSP, caching by content hash, precompressed, and the API's 404s untouched. */
describe('the playground is served by the service', () => {
  let t: TestApp;
  let script: string;
  let stylesheet: string;
  before(async () => {
    await ensurePlaygroundBuilt();
    t = await createTestApp();
    const html = (await t.app.inject({ method: 'GET', url: '/' })).body;
    script = /<script[^>]* src="([^"]+)"/.exec(html)![1]!;
    stylesheet = /<link rel="stylesheet"[^>]* href="([^"]+)"/.exec(html)![1]!;
  });
  after(() => t.close());

  test('GET / answers the page without an API key, with the CSP, revalidated on every load', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/html/);
    assert.equal(res.headers['content-security-policy'], PLAYGROUND_CSP);
    assert.match(PLAYGROUND_CSP, /script-src 'self'(;|$)/);
    assert.doesNotMatch(PLAYGROUND_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.ok(res.headers['x-request-id']);
  });

  test('the built page has no inline script, inline style or event-handler attribute', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/' })).body;
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.ok(scripts.length > 0);
    for (const [, attributes, body] of scripts) {
      assert.match(attributes!, /\bsrc="\/assets\//, 'every script is a file of the build');
      assert.equal(body!.trim(), '', 'no inline script');
    }
    assert.doesNotMatch(html, /<style\b/i);
    assert.doesNotMatch(html, /\sstyle=/i);
    assert.doesNotMatch(html, /\son[a-z]+=/i);
    assert.match(script, /^\/assets\/index-[\w-]+\.js$/);
    assert.match(stylesheet, /^\/assets\/index-[\w-]+\.css$/);
  });

  test('hashed assets are immutable for a year and sent precompressed (brotli, gzip) by Accept-Encoding', async () => {
    const plain = await t.app.inject({ method: 'GET', url: script, headers: { 'accept-encoding': 'identity' } });
    assert.equal(plain.statusCode, 200);
    assert.match(String(plain.headers['content-type']), /javascript/);
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.match(String(plain.headers.vary), /accept-encoding/i);

    const gzip = await t.app.inject({ method: 'GET', url: script, headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.equal(gzip.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.ok(gzip.rawPayload.length < plain.rawPayload.length / 2, `gzip ${gzip.rawPayload.length} of ${plain.rawPayload.length} bytes`);
    assert.equal(gunzipSync(gzip.rawPayload).toString(), plain.body);

    const br = await t.app.inject({ method: 'GET', url: stylesheet, headers: { 'accept-encoding': 'gzip, deflate, br' } });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.match(String(br.headers['content-type']), /text\/css/);
    const css = await t.app.inject({ method: 'GET', url: stylesheet, headers: { 'accept-encoding': 'identity' } });
    assert.equal(brotliDecompressSync(br.rawPayload).toString(), css.body);
  });

  test('the precompressed copies are not routes of their own', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${script}.gz` });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'not_found');
  });

  test('unknown paths keep the API JSON 404, API routes still need a key, health and docs unchanged', async () => {
    for (const url of ['/nope', '/assets/nope.js', '/conversations/x/y/z']) {
      const res = await t.app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error.code, 'not_found', url);
      assert.equal(res.headers['content-security-policy'], undefined, `${url}: the API's answers carry no page CSP`);
    }
    const v1 = await t.app.inject({ method: 'GET', url: '/v1/nope' });
    assert.equal(v1.statusCode, 404);
    assert.equal(v1.json().error.type, 'invalid_request_error');
    assert.equal((await t.app.inject({ method: 'GET', url: '/conversations' })).statusCode, 401);
    assert.equal((await t.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    assert.equal((await t.app.inject({ method: 'GET', url: '/docs' })).statusCode, 200);
    const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
    assert.equal(doc.paths['/'], undefined, 'static files are not API operations');
  });

  test("a Range the file cannot satisfy is the client's 416, in the contract's error shape", async () => {
    const res = await t.app.inject({ method: 'GET', url: '/', headers: { range: 'bytes=999999-' } });
    assert.equal(res.statusCode, 416);
    assert.equal(res.json().error.code, 'range_not_satisfiable');
    assert.equal(t.logs.filter((l) => Number(l.level) >= 50).length, 0, 'nothing logged as a failure');
  });
});

test('without a build, / says how to make one (and the server runs)', async () => {
  const app = Fastify();
  registerErrorHandling(app);
  await app.register(playgroundRoutes(path.join(import.meta.dirname, 'no-such-build')));
  const res = await app.inject({ method: 'GET', url: '/' });
  assert.equal(res.statusCode, 404);
  assert.match(res.json().error.message, /npm run build:playground/);
  await app.close();
});
