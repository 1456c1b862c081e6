import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest, type RawResponse } from './helpers/raw-http.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Requests Node's HTTP parser refuses before Fastify sees them (over-long headers, a bad
 * Content-Length, a broken request line) still get the contract's error body and x-request-id:
 * OpenAI's error object when the request line names a /v1 path.
 */
function assertContractError(response: RawResponse | undefined, status: number, code: string) {
  assert.ok(response, 'an HTTP response came back');
  assert.equal(response.status, status);
  assert.match(response.headers['content-type'] ?? '', /^application\/json/);
  assert.ok(response.headers['x-request-id'], 'x-request-id header');
  const body = JSON.parse(response.body);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'request_id']);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 0);
  assert.equal(body.error.request_id, response.headers['x-request-id']);
}

describe('requests the HTTP parser refuses', () => {
  let t: TestApp;
  let url: string;
  before(async () => {
    t = await createTestApp();
    url = await t.listen();
  });
  after(() => t.close());

  test('over-long headers answer 431 headers_too_large in the contract shape', async () => {
    const { response } = await rawRequest(url, `GET /conversations HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertContractError(response, 431, 'headers_too_large');
  });

  test('a non-numeric Content-Length answers 400 bad_request in the contract shape', async () => {
    const { response } = await rawRequest(url, 'POST /conversations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ten\r\n\r\n{}');
    assertContractError(response, 400, 'bad_request');
  });

  test("a broken request line answers 400 bad_request in the contract shape", async () => {
    const { response } = await rawRequest(url, 'GET /health HTTP/9.9 junk\r\n\r\n');
    assertContractError(response, 400, 'bad_request');
  });

  test("the caller's x-request-id is echoed when it is plain, as on every other error", async () => {
    const { response } = await rawRequest(url, 'POST /tasks HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-431\r\nContent-Length: 1x\r\n\r\n');
    assertContractError(response, 400, 'bad_request');
    assert.equal(response!.headers['x-request-id'], 'trace-431');
  });

  test("under /v1 the error is OpenAI's error object", async () => {
    const { response } = await rawRequest(url, `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.ok(response);
    assert.equal(response.status, 431);
    assert.ok(response.headers['x-request-id']);
    const body = JSON.parse(response.body);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.equal(body.error.type, 'invalid_request_error');
    assert.equal(body.error.param, null);
    assert.equal(body.error.code, 'headers_too_large');
  });

  test('the server keeps answering afterwards', async () => {
    const { response } = await rawRequest(url, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.equal(response?.status, 200);
    assert.deepEqual(JSON.parse(response!.body), { status: 'healthy' });
  });
});
