import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createNodeHttpFetch, encodeUtf8 } from '../src/upstream/node-http-fetch.js';

describe('the SDK fetch on node:http', () => {
  const fetchFn = createNodeHttpFetch();
  let server: http.Server;
  let base: string;
  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (req.url === '/echo') {
          res.setHeader('content-type', 'application/json');
          res.setHeader('set-cookie', ['a=1', 'b=2']);
          res.end(JSON.stringify({ method: req.method, body, header: req.headers['x-test'], length: req.headers['content-length'] }));
        } else if (req.url === '/empty') {
          res.writeHead(204).end();
        } else if (req.url === '/stream') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: one\n\n');
          setTimeout(() => res.end('data: two\n\n'), 20);
        } else if (req.url === '/hang') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write('data: start\n\n');
        } else {
          res.writeHead(503, { 'retry-after': '2' }).end('{"error":{}}');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test('sends method, headers and a string body with its length, and returns status, headers and JSON', async () => {
    const res = await fetchFn(`${base}/echo`, { method: 'POST', headers: { 'x-test': 'yes' }, body: 'héllo' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('set-cookie'), 'a=1, b=2');
    assert.deepEqual(await res.json(), { method: 'POST', body: 'héllo', header: 'yes', length: '6' });
    assert.equal(res.ok, true);
    assert.equal(res.url, `${base}/echo`);
    assert.equal(res.bodyUsed, true);
    await assert.rejects(res.text(), TypeError, 'a body is read once, as with fetch');
  });

  test('a buffered body reads as text, bytes, a clone, or a web stream', async () => {
    const res = await fetchFn(`${base}/echo`, { method: 'POST', body: 'x' });
    const copy = res.clone();
    const expected = JSON.stringify({ method: 'POST', body: 'x', length: '1' });
    assert.equal(await res.text(), expected);
    assert.equal(Buffer.from(await copy.arrayBuffer()).toString(), expected);
    const streamed = await fetchFn(`${base}/echo`, { method: 'POST', body: 'x' });
    assert.equal(await new Response(streamed.body).text(), expected);
    await assert.rejects(streamed.json(), TypeError, 'a body handed out as a stream cannot be read again');
  });

  test('error statuses come back as responses with their headers', async () => {
    const res = await fetchFn(`${base}/fail`, {});
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '2');
    assert.equal(res.ok, false);
    assert.equal(await res.text(), '{"error":{}}');
  });

  test('a 204 has a null body', async () => {
    const res = await fetchFn(`${base}/empty`, { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(res.body, null);
  });

  test('event streams are handed over as they arrive', async () => {
    const res = await fetchFn(`${base}/stream`, {});
    assert.equal(await res.text(), 'data: one\n\ndata: two\n\n');
  });

  test('an abort while streaming ends the body with an AbortError', async () => {
    const controller = new AbortController();
    const res = await fetchFn(`${base}/hang`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await assert.rejects(reader.read(), (e: Error) => e.name === 'AbortError');
  });

  test('an already aborted signal rejects with an AbortError without connecting', async () => {
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(fetchFn(`${base}/echo`, { signal: controller.signal }), (e: Error) => e.name === 'AbortError');
  });

  test('a refused connection rejects like fetch does (TypeError with a cause)', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    await assert.rejects(fetchFn(`http://127.0.0.1:${port}/`, {}), (e: Error) => e instanceof TypeError && e.cause !== undefined);
  });
});

test('encodeUtf8 gives the bytes Buffer.from gives, short or long, lone surrogates included', () => {
  for (const text of ['', 'short é', 'a'.repeat(5000), `${'é€\u{1F600}'.repeat(900)}\ud800x`, '\udc00'.repeat(3000), `${'x'.repeat(2047)}\u{1F600}`]) {
    assert.ok(encodeUtf8(text).equals(Buffer.from(text)), `length ${text.length}`);
  }
});
