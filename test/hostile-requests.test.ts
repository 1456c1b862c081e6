import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, parseSse, type ChatFixture } from './helpers/fake-upstream.js';
import { rawRequest, type RawResponse } from './helpers/raw-http.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

/**
 * Random and hostile requests against every route the app serves, with and without a key:
 * whatever arrives, the answer is the contract's. Never a 5xx (but 503 provider_not_configured:
 * this app has no model provider), every error in the error shape of its API with x-request-id,
 * every status of a documented route declared in /openapi.json, nothing logged as an error,
 * and /health still 200 afterwards.
 *
 * Seeded and bounded: FC_SEED and FC_RUNS replay or lengthen a run (the seed is printed).
 */
const SEED = Number(process.env.FC_SEED ?? 18_2025);
const RUNS = Number(process.env.FC_RUNS ?? 700);
const RAW_RUNS = Math.max(10, Math.round(RUNS / 5));

type JsonSchema = {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
};
type Operation = { responses: Record<string, unknown>; parameters?: Array<{ in: string; name: string }>; requestBody?: { content: Record<string, { schema: JsonSchema }> } };
interface Route {
  method: string;
  /** Fastify's template: /conversations/:id */
  url: string;
  operation: Operation | undefined;
}

/** Percent-encodes every byte outside the unreserved set, lone surrogates included (as U+FFFD, as a browser would). */
const encode = (text: string): string =>
  [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');

const isOpenAIPath = (url: string) => url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');

// --- what is sent ---------------------------------------------------------------------------

/** Strings that have broken servers: control characters, lone surrogates, traversal, injection, huge. */
const nastyString = fc.oneof(
  fc.constantFrom(
    '', ' ', '\u0000', 'a\u0000b', '\uD800', '\uDFFF', '\uFEFF', '\u202E', '💥', '../../etc/passwd', '%00', '%', '%zz', '__proto__',
    'constructor', 'prototype', 'toString', 'hasOwnProperty', '<script>alert(1)</script>', "' OR 1=1 --", '"; DROP TABLE tasks; --',
    'null', 'undefined', 'true', '0', '-1', '1e309', 'NaN', 'Infinity', '9007199254740993', '\r\nx-injected: 1', '\t\n\v\f\r',
    'a'.repeat(101), 'a'.repeat(5000), '😀'.repeat(3000), 'ﷺ'.repeat(100), '0196a4f0-0000-7000-8000-000000000000',
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 }),
  fc.uuid(),
);
const nastyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, -1, 1, 50, 51, 101, 2 ** 31, 2 ** 53 + 1, 1e308, -1e308, 0.5, Number.MIN_VALUE),
);
const jsonish = fc.jsonValue({ maxDepth: 4 });
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(nastyString, nastyNumber, jsonish, fc.constant(null), fc.boolean());

/** Values shaped like the schema, with hostile leaves and extra keys, so requests get past the first check. */
function fromSchema(schema: JsonSchema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 4) return nastyValue;
  let typed: fc.Arbitrary<unknown>;
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) typed = fc.oneof(...alternatives.map((s) => fromSchema(s, depth + 1)));
  else if (schema.enum) typed = fc.constantFrom(...schema.enum);
  else if (schema.type === 'object') {
    const properties = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, fromSchema(s, depth + 1)]));
    typed = fc
      .tuple(
        fc.record(properties, { requiredKeys: [] }),
        fc.option(fc.dictionary(fc.oneof(nastyString, fc.constantFrom('__proto__', 'constructor')), jsonish, { maxKeys: 2 }), { freq: 3 }),
      )
      .map(([known, extra]) => (extra ? { ...extra, ...known } : known));
  } else if (schema.type === 'array') typed = fc.array(fromSchema(schema.items, depth + 1), { maxLength: 4 });
  else if (schema.type === 'string') typed = fc.oneof(fc.string({ maxLength: 30 }), nastyString);
  else if (schema.type === 'integer' || schema.type === 'number') {
    const min = (schema.minimum ?? -5) - 2;
    const max = (schema.maximum ?? 1000) + 2;
    typed = fc.oneof(fc.integer({ min, max }), nastyNumber);
  } else if (schema.type === 'boolean') typed = fc.boolean();
  else typed = nastyValue;
  return fc.oneof({ weight: 5, arbitrary: typed }, { weight: 1, arbitrary: nastyValue }, ...(schema.nullable ? [{ weight: 1, arbitrary: fc.constant(null) }] : []));
}

const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/json; charset=utf-16',
  'APPLICATION/JSON', 'application/json;;;', 'application/vnd.api+json', 'text/plain', 'text/html', 'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x', 'application/octet-stream', '*/*', 'garbage', '',
);
type Body = { payload?: string | Buffer; contentType?: string };
const rawBodies = fc.oneof(
  fc.constantFrom('', '{', '}', '{"message":', '[', 'null', 'true', '1', '"x"', '\uFEFF{"message":"hi"}', '{"a":1}{"b":2}', '{"__proto__":{"polluted":true}}', `${'['.repeat(3000)}${']'.repeat(3000)}`, 'message=hi&title=x', '\u0000'),
  fc.string({ maxLength: 60 }),
  fc.uint8Array({ maxLength: 60 }).map((bytes) => Buffer.from(bytes)),
);
function bodies(operation: Operation | undefined): fc.Arbitrary<Body> {
  const schema = operation?.requestBody?.content['application/json']?.schema;
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Body>({}) },
    { weight: 5, arbitrary: fromSchema(schema).map((value): Body => ({ payload: JSON.stringify(value) ?? 'null', contentType: 'application/json' })) },
    { weight: 1, arbitrary: fc.record({ payload: fc.oneof(rawBodies, jsonish.map((v) => JSON.stringify(v))), contentType: contentTypes }) },
    { weight: 1, arbitrary: fc.record({ payload: rawBodies }) },
  );
}

/** Printable ASCII only: anything else Node refuses to send in a header at all. */
const headerText = fc.oneof(
  fc.string({ unit: 'binary-ascii', maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
  fc.constantFrom('', ' ', 'a'.repeat(300), '0', '-1', 'null', '../..', '%00', '\\u0000'),
);

interface World {
  keys: { alice: string; bob: string };
  /** Ids that exist: alice's, and bob's (which alice must not see). */
  ids: string[];
}

function headers(world: World): fc.Arbitrary<Record<string, string>> {
  const authorization = fc.oneof(
    { weight: 6, arbitrary: fc.constant(`Bearer ${world.keys.alice}`) },
    { weight: 1, arbitrary: fc.constant(`Bearer ${world.keys.bob}`) },
    { weight: 2, arbitrary: fc.constantFrom('', 'Bearer', 'Bearer ', 'Basic YWxpY2U6cHc=', `bearer ${world.keys.alice}`, `Bearer  ${world.keys.alice}  `, `Bearer ${world.keys.alice}x`, `Bearer ${world.keys.alice} extra`, `Bearer oab_${'A'.repeat(43)}`, 'Bearer eyJhbGciOiJub25lIn0.e30.') },
    { weight: 1, arbitrary: headerText.map((s) => `Bearer ${s}`) },
  );
  return fc
    .record(
      {
        authorization,
        'x-request-id': fc.oneof(fc.constantFrom('trace-1', 'a:b@c.d-e_f'), headerText),
        accept: fc.constantFrom('*/*', 'application/json', 'text/event-stream', 'text/html', 'garbage', ''),
        'last-event-id': headerText,
        origin: fc.constantFrom('https://evil.example', 'null', ''),
        'content-encoding': fc.constantFrom('gzip', 'identity', 'br', 'garbage'),
        'accept-encoding': fc.constantFrom('gzip', 'br', 'identity;q=0', '*'),
      },
      { requiredKeys: [] },
    )
    .chain((known) =>
      fc
        .dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), headerText, { maxKeys: 3 })
        .map((extra) => ({ ...extra, ...known })),
    );
}

/** A path for the route: its parameters real ids, hostile strings percent-encoded, or raw characters. */
function paths(route: Route, world: World): fc.Arbitrary<string> {
  const parameter = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...world.ids) },
    { weight: 3, arbitrary: nastyString.map(encode) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '%2F', '..', '.', '%2e%2e', 'a'.repeat(100), 'a'.repeat(101), '*', ':id', '~', "'", '(', ')', '!', '$') },
  );
  const templated = fc.array(parameter, { minLength: 8, maxLength: 8 }).map((values) => {
    let i = 0;
    return route.url.replace(/:\w+|\*/g, () => values[i++]!);
  });
  const mangled = fc.tuple(templated, fc.constantFrom('', '/', '//', '/x', '/..', '/%2e%2e/', '%', '.json', '#frag', ';x=1')).map(([p, suffix]) => p + suffix);
  return fc.oneof({ weight: 6, arbitrary: templated }, { weight: 1, arbitrary: mangled });
}

const strayPaths = fc.constantFrom(
  '/', '//', '/..', '/%', '/%2e%2e/%2e%2e/etc/passwd', '/v1', '/v1/', '/v1/unknown', '/v1//models', '/docs/static/../../package.json',
  '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/%00', '/conversations/%', '/tasks//', '/CHAT', '/chat/stream/', '/health?x=%',
  `/${'a'.repeat(5000)}`, '/streams/x', '/usage', '/admin/users', '/ready/',
);

function queries(operation: Operation | undefined): fc.Arbitrary<string> {
  const names = operation?.parameters?.filter((p) => p.in === 'query').map((p) => p.name) ?? [];
  const key = fc.oneof(
    ...(names.length > 0 ? [{ weight: 4, arbitrary: fc.constantFrom(...names) }] : []),
    { weight: 1, arbitrary: fc.constantFrom('limit', 'cursor', 'status', 'after', 'stream', '__proto__', 'constructor[prototype][x]', 'a[]', '', 'limit[]') },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  );
  const value = fc.oneof(
    fc.constantFrom('1', '0', '-1', '20', '100', '101', '1000', '1001', 'all', 'pending', 'completed', 'true', 'false', '', '1e3', '0x10', ' 5'),
    nastyString,
  );
  const pair = fc.tuple(key, value, fc.boolean()).map(([k, v, escape]) => (escape ? `${encode(k)}=${encode(v)}` : `${k.replace(/[^\x21-\x7e]|[#&]/g, '')}=${v.replace(/[^\x21-\x7e]|[#&]/g, '')}`));
  return fc.oneof(fc.constant(''), fc.array(pair, { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.join('&')}`), fc.constantFrom('?', '?&&', '?=', '?%', '?a=%zz'));
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

interface Request {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Body;
}

function requests(routes: Route[], world: World): fc.Arbitrary<Request> {
  const forRoute = fc.constantFrom(...routes).chain((route) =>
    fc.record({
      method: fc.oneof({ weight: 8, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...ALL_METHODS) }),
      url: fc.tuple(paths(route, world), queries(route.operation)).map(([p, q]) => p + q),
      headers: headers(world),
      body: bodies(route.operation),
    }),
  );
  const stray = fc.record({
    method: fc.constantFrom(...ALL_METHODS),
    url: strayPaths,
    headers: headers(world),
    body: bodies(undefined),
  });
  return fc.oneof({ weight: 12, arbitrary: forRoute }, { weight: 1, arbitrary: stray });
}

// --- what must come back --------------------------------------------------------------------

const ALLOWED_5XX = new Set(['provider_not_configured']);
/** With a model provider: what upstream failures answer (the fake's faults, our timeout). */
const UPSTREAM_5XX = new Set(['upstream_error', 'upstream_unavailable', 'upstream_timeout', 'upstream_auth_failed']);

function checkError(url: string, status: number, headers: Record<string, unknown>, text: string, allowed5xx = ALLOWED_5XX): void {
  const requestId = headers['x-request-id'];
  assert.ok(typeof requestId === 'string' && requestId.length > 0, 'x-request-id header');
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`error body is not JSON: ${text.slice(0, 200)}`);
  }
  assert.ok(body && typeof body.error === 'object' && body.error !== null, `error body: ${text.slice(0, 200)}`);
  const error = body.error;
  if (isOpenAIPath(url)) {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'param', 'type'], `OpenAI error object: ${text.slice(0, 200)}`);
    assert.ok(typeof error.message === 'string' && error.message.length > 0);
    assert.equal(typeof error.type, 'string');
    assert.ok(error.param === null || typeof error.param === 'string');
    assert.ok(error.code === null || typeof error.code === 'string');
    if (status >= 500) assert.ok(allowed5xx.has(error.code), `5xx ${status} ${error.code}: ${error.message}`);
  } else {
    assert.deepEqual(Object.keys(error).sort(), ['code', 'message', 'request_id'], `contract error: ${text.slice(0, 200)}`);
    assert.ok(typeof error.code === 'string' && error.code.length > 0);
    assert.ok(typeof error.message === 'string' && error.message.length > 0);
    assert.equal(error.request_id, requestId, 'request_id is the x-request-id header');
    if (status >= 500) assert.ok(allowed5xx.has(error.code), `5xx ${status} ${error.code}: ${error.message}`);
  }
}

/** Declared statuses of a documented operation: exact codes, or ranges such as 4XX. */
function declares(operation: Operation, status: number): boolean {
  const keys = Object.keys(operation.responses);
  return keys.includes(String(status)) || keys.includes(`${String(status)[0]}XX`) || keys.includes('default');
}

/** "METHOD /path/:param" for every route in Fastify's printRoutes tree. */
function routesOf(tree: string): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = [];
  const prefixes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    prefixes.length = depth;
    const url = prefixes.join('') + match[2]!;
    prefixes.push(match[2]!);
    for (const method of match[3]!.split(', ')) routes.push({ method, url });
  }
  return routes;
}

for (const database of TEST_DATABASES) {
  describe(`hostile requests against every route (${database.name})`, () => {
    let t: TestApp;
    let world: World;
    let routes: Route[];
    let doc: { paths: Record<string, Record<string, Operation>> };
    /** The route each request matched, by request id, from an onResponse hook. */
    const matched = new Map<string, { method: string; url: string | undefined }>();

    before(async () => {
      t = await createTestApp({ database, env: { RATE_LIMIT_PER_MINUTE: '100000000', LOG_LEVEL: 'warn' } });
      t.app.addHook('onResponse', async (request) => {
        matched.set(String(request.id), { method: request.method, url: request.routeOptions.url });
      });
      const alice = await t.createUser('alice');
      const bob = await t.createUser('bob');
      const ids: string[] = [];
      for (const key of [alice.apiKey, bob.apiKey]) {
        ids.push((await t.request({ method: 'POST', url: '/conversations', key, json: { title: 'seeded' } })).json().id);
        ids.push((await t.request({ method: 'POST', url: '/tasks', key, json: { title: 'seeded task' } })).json().id);
      }
      world = { keys: { alice: alice.apiKey, bob: bob.apiKey }, ids };
      doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
      routes = routesOf(t.app.printRoutes({ commonPrefix: false })).map(({ method, url }) => ({
        method,
        url,
        operation: doc.paths[url.replace(/:(\w+)/g, '{$1}')]?.[(method === 'HEAD' ? 'GET' : method).toLowerCase()],
      }));
      assert.ok(routes.length >= 30, `the route tree was read: ${routes.length} routes`);
      assert.ok(routes.some((r) => r.url === '/chat/stream' && r.operation), 'documented routes were matched to their operations');
    });
    after(() => t.close());

    test('app.inject: never a 5xx, always the error shape of its API, every status declared', async (ctx) => {
      ctx.diagnostic(`fast-check seed ${SEED}, ${RUNS} runs (FC_SEED / FC_RUNS to change)`);
      await fc.assert(
        fc.asyncProperty(requests(routes, world), async (request) => {
          const res = await t.app.inject({
            method: request.method as 'GET',
            url: request.url,
            headers: { ...request.headers, ...(request.body.contentType !== undefined && { 'content-type': request.body.contentType }) },
            ...(request.body.payload !== undefined && { payload: request.body.payload }),
          });
          const status = res.statusCode;
          const requestId = String(res.headers['x-request-id'] ?? '');
          const route = matched.get(requestId);
          matched.delete(requestId);
          assert.ok(requestId, 'x-request-id header');
          if (status >= 400 && request.method !== 'HEAD') checkError(request.url, status, res.headers, res.body);
          else assert.ok(status < 500 || (request.method === "HEAD" && status === 503), `HEAD ${status}`);
          const operation = route?.url && routes.find((r) => r.url === route.url && r.method === route.method)?.operation;
          if (operation) assert.ok(declares(operation, status), `${route.method} ${route.url} answered ${status}, which /openapi.json does not declare`);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true, includeErrorInReport: true },
      );
      // Only the answers allowed above may be logged as failures (a 503 for the missing provider is).
      const errors = t.logs.filter((line) => Number(line.level) >= 50 && !ALLOWED_5XX.has(String((line.err as { code?: unknown } | undefined)?.code)));
      assert.deepEqual(errors, [], 'nothing else was logged as an error');
      const health = await t.request({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
    });

    test('a raw socket: header cases Node refuses itself answer in the contract shape, and the server lives on', async (ctx) => {
      ctx.diagnostic(`fast-check seed ${SEED}, ${RAW_RUNS} runs`);
      const url = await t.listen();
      const headerLine = fc.oneof(
        { weight: 3, arbitrary: fc.tuple(fc.stringMatching(/^x-[a-z]{1,10}$/), headerText).map(([n, v]) => `${n}: ${v}`) },
        { weight: 1, arbitrary: fc.integer({ min: 8_000, max: 70_000 }).map((n) => `x-big: ${'a'.repeat(n)}`) },
        { weight: 2, arbitrary: fc.constantFrom('ten', '-1', '1, 2', '0x10', '99999999999999999999', '1.5', '', ' 2 ').map((v) => `content-length: ${v}`) },
        { weight: 1, arbitrary: fc.constantFrom('transfer-encoding: chunked', 'transfer-encoding: gzip, chunked', 'transfer-encoding: chunked, chunked', 'transfer-encoding: garbage') },
        { weight: 1, arbitrary: fc.constantFrom('bad header', ': empty-name', 'x-a:\u0001', ' folded: line', 'x-\u00ff: latin1', 'host: a', 'host: a\r\nhost: b') },
        { weight: 1, arbitrary: fc.constant(`authorization: Bearer ${world.keys.alice}`) },
      );
      const requestLine = fc.oneof(
        { weight: 4, arbitrary: fc.tuple(fc.constantFrom('GET', 'POST', 'PATCH', 'DELETE'), fc.constantFrom(...routes.map((r) => r.url.replace(/:\w+|\*/g, 'x')), '/v1/chat/completions', '/nowhere')).map(([m, p]) => `${m} ${p} HTTP/1.1`) },
        { weight: 1, arbitrary: fc.constantFrom('GET / HTTP/9.9', 'GET /health', 'get /health HTTP/1.1', 'GET  /health  HTTP/1.1', 'GET /he alth HTTP/1.1', '\u0000', 'GET /health HTTP/1.1 extra', 'POST /v1/embeddings HTTP/1.0') },
      );
      await fc.assert(
        fc.asyncProperty(requestLine, fc.array(headerLine, { maxLength: 4 }), fc.string({ maxLength: 20 }), async (line, lines, body) => {
          const bytes = `${line}\r\nhost: localhost\r\n${lines.map((l) => `${l}\r\n`).join('')}connection: close\r\n\r\n${body}`;
          const { response, raw } = await rawRequest(url, bytes, 3000);
          if (!response) return; // the server closed the socket without a word: allowed only when it could not answer
          checkRaw(line, response, raw);
          // 431, or 400 when another header was already refused.
          if (lines.some((l) => l.length > 17_000)) assert.ok([400, 431].includes(response.status), `over-long headers: ${response.status}`);
        }),
        { seed: SEED, numRuns: RAW_RUNS, endOnFailure: true, includeErrorInReport: true },
      );
      const { response } = await rawRequest(url, 'GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      assert.equal(response?.status, 200);
    });
  });
}

function checkRaw(line: string, response: RawResponse, raw: string): void {
  assert.ok(response.headers['x-request-id'], `x-request-id header: ${raw.slice(0, 300)}`);
  if (response.status < 400 || line.startsWith('HEAD ')) return;
  const path = /^[A-Z]+ (\S+) HTTP\/1\.[01]$/.exec(line)?.[1];
  let body: any;
  try {
    body = JSON.parse(response.body);
  } catch {
    assert.fail(`error body is not JSON: ${raw.slice(0, 300)}`);
  }
  const keys = Object.keys(body?.error ?? {}).sort().join(',');
  if (path === undefined) assert.ok(keys === 'code,message,request_id' || keys === 'code,message,param,type', raw.slice(0, 300));
  else assert.equal(keys, isOpenAIPath(path) ? 'code,message,param,type' : 'code,message,request_id', raw.slice(0, 300));
  if (keys === 'code,message,request_id') assert.equal(body.error.request_id, response.headers['x-request-id']);
  if (response.status >= 500) assert.ok(ALLOWED_5XX.has(body.error.code), `5xx: ${raw.slice(0, 300)}`);
}

// --- with a model provider --------------------------------------------------------------------

/** The fake's directives (docs/fake-openai.md), hostile arguments included: replies, tool calls, upstream faults. */
const directive = fc.oneof(
  nastyString.map((text) => `[[reply:${text.replaceAll(']]', '')}]]`),
  fc.constantFrom('[[words:3]]', '[[drop-after:0]]', '[[drop-after:2]]', '[[chunk-delay:1]]', '[[delay:400]]', '[[error:500]]', '[[error:503]]'),
  fc.integer({ min: 400, max: 599 }).map((status) => `[[error:${status}]]`),
  fc
    .tuple(
      fc.constantFrom('create_task', 'list_tasks', 'update_task', 'delete_task', 'search_tasks', 'no_such_tool', '__proto__', ''),
      fc.oneof(fromSchema({ type: 'object', properties: { title: { type: 'string' }, status: { type: 'string', enum: ['pending', 'completed', 'all'] }, id: { type: 'string' }, query: { type: 'string' } } }).map((v) => JSON.stringify(v)), nastyString, jsonish.map((v) => JSON.stringify(v))),
    )
    .map(([name, args]) => `[[tool:${name} ${String(args).replaceAll(']]', '')}]]`),
  fc.constant('[[always-tool:list_tasks {"status":"all"}]]'),
);
const directedMessage = fc
  .tuple(fc.array(directive, { minLength: 1, maxLength: 3 }), fc.oneof(nastyString, fc.string({ maxLength: 20 })))
  .map(([directives, text]) => `${directives.join(' ')} ${text}`);

function modelRequests(world: World & { conversationId: string }): fc.Arbitrary<Request> {
  const ours = fc.record({
    method: fc.constant('POST'),
    url: fc.constantFrom('/chat', '/chat/stream', '/agent', '/agent/stream', `/chat/conversations/${world.conversationId}/messages`, '/search/semantic'),
    headers: fc.constant({ authorization: `Bearer ${world.keys.alice}` }),
    body: fc
      .record(
        {
          message: fc.oneof({ weight: 4, arbitrary: directedMessage }, { weight: 1, arbitrary: nastyValue }),
          query: fc.oneof(directedMessage, nastyString),
          conversation_id: fc.constantFrom(world.conversationId, ...world.ids),
          top_k: fc.integer({ min: 0, max: 51 }),
        },
        { requiredKeys: ['message', 'query'] },
      )
      .map((value): Body => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
  });
  const messages = fc.array(
    fc.record({ role: fc.constantFrom('user', 'user', 'system', 'assistant', 'tool', 'nobody'), content: fc.oneof({ weight: 4, arbitrary: directedMessage }, { weight: 1, arbitrary: nastyValue }) }),
    { minLength: 0, maxLength: 3 },
  );
  const openai = fc.oneof(
    fc.record({
      method: fc.constant('POST'),
      url: fc.constant('/v1/chat/completions'),
      headers: fc.constant({ authorization: `Bearer ${world.keys.alice}` }),
      body: fc
        .record(
          {
            model: fc.oneof({ weight: 4, arbitrary: fc.constant('gpt-4.1-mini') }, { weight: 1, arbitrary: nastyValue }),
            messages: fc.oneof({ weight: 4, arbitrary: messages }, { weight: 1, arbitrary: nastyValue }),
            stream: fc.oneof(fc.boolean(), nastyValue),
            stream_options: fc.oneof(fc.constant({ include_usage: true }), nastyValue),
            tools: fc.constant([{ type: 'function', function: { name: 'create_task', parameters: { type: 'object' } } }]),
            max_tokens: nastyNumber,
          },
          { requiredKeys: ['model', 'messages'] },
        )
        .map((value): Body => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
    }),
    fc.record({
      method: fc.constant('POST'),
      url: fc.constant('/v1/embeddings'),
      headers: fc.constant({ authorization: `Bearer ${world.keys.alice}` }),
      body: fc
        .record({ model: fc.constantFrom('text-embedding-3-small', 'x'), input: fc.oneof(directedMessage, nastyValue, fc.array(nastyString, { maxLength: 3 })), dimensions: nastyNumber, encoding_format: fc.constantFrom('float', 'base64', 'x') }, { requiredKeys: ['model', 'input'] })
        .map((value): Body => ({ payload: JSON.stringify(value), contentType: 'application/json' })),
    }),
    fc.record({
      method: fc.constant('GET'),
      url: fc.oneof(fc.constant('/v1/models'), nastyString.map((id) => `/v1/models/${encode(id)}`)),
      headers: fc.constant({ authorization: `Bearer ${world.keys.alice}` }),
      body: fc.constant<Body>({}),
    }),
  );
  return fc.oneof({ weight: 3, arbitrary: ours }, { weight: 2, arbitrary: openai });
}

/** A stream that started is the contract's SSE: JSON events or [DONE], errors as {error, code}, never an internal error. */
function checkStream(url: string, text: string): void {
  for (const event of parseSse(text)) {
    if (typeof event === 'string') {
      assert.equal(event, '[DONE]', `SSE data is JSON or [DONE]: ${event.slice(0, 200)}`);
      continue;
    }
    const failure = (event as { error?: unknown; code?: unknown }).error;
    if (failure === undefined) continue;
    const code = isOpenAIPath(url) ? (failure as { code?: unknown }).code : (event as { code?: unknown }).code;
    assert.notEqual(code, 'internal_error', `a stream ended in an internal error: ${JSON.stringify(event)}`);
  }
}

for (const database of TEST_DATABASES) {
  describe(`hostile messages to the model routes, with a model provider (${database.name})`, () => {
    let fixture: ChatFixture;
    let world: World & { conversationId: string };
    const allowed5xx = UPSTREAM_5XX;
    before(async () => {
      fixture = await createChatFixture({
        database,
        env: { RATE_LIMIT_PER_MINUTE: '100000000', LOG_LEVEL: 'warn', OPENAI_MAX_RETRIES: '0', OPENAI_TIMEOUT: '0.2', AGENT_MAX_ITERATIONS: '3' },
      });
      const { t } = fixture;
      const alice = await t.createUser('alice');
      const bob = await t.createUser('bob');
      const ids: string[] = [];
      for (const key of [alice.apiKey, bob.apiKey]) ids.push((await t.request({ method: 'POST', url: '/conversations', key, json: {} })).json().id);
      world = { keys: { alice: alice.apiKey, bob: bob.apiKey }, ids, conversationId: ids[0]! };
    });
    after(() => fixture.close());

    test('never a 5xx but upstream failures, streams that end in the contract, stored turns readable', async (ctx) => {
      const runs = Math.max(10, Math.round(RUNS / 4));
      ctx.diagnostic(`fast-check seed ${SEED}, ${runs} runs`);
      const { t } = fixture;
      const outcomes = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(modelRequests(world), async (request) => {
          const res = await t.app.inject({
            method: request.method as 'GET',
            url: request.url,
            headers: { ...request.headers, ...(request.body.contentType !== undefined && { 'content-type': request.body.contentType }) },
            ...(request.body.payload !== undefined && { payload: request.body.payload }),
          });
          assert.ok(res.headers['x-request-id'], 'x-request-id header');
          const outcome = `${request.url.split('?')[0]!.replace(/\/[^/]{20,}/g, '/:id')} ${res.statusCode}${res.statusCode >= 400 ? ` ${(res.json() as any)?.error?.code}` : ''}`;
          outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
          if (res.statusCode >= 400) checkError(request.url, res.statusCode, res.headers, res.body, allowed5xx);
          else if (String(res.headers['content-type']).startsWith('text/event-stream')) checkStream(request.url, res.body);
        }),
        { seed: SEED, numRuns: runs, endOnFailure: true, includeErrorInReport: true },
      );
      ctx.diagnostic(`outcomes: ${[...outcomes].sort(([a], [b]) => a.localeCompare(b)).map(([o, n]) => `${o} ×${n}`).join(', ')}`);
      // What was stored reads back: every conversation's messages, in the contract's shape.
      for (const id of world.ids.slice(0, 1)) {
        const messages = await t.request({ method: 'GET', url: `/conversations/${id}/messages?limit=1000`, key: world.keys.alice });
        assert.equal(messages.statusCode, 200, messages.body.slice(0, 300));
      }
      const listed = await t.request({ method: 'GET', url: '/conversations?limit=100', key: world.keys.alice });
      for (const conversation of listed.json().data as Array<{ id: string }>) {
        const messages = await t.request({ method: 'GET', url: `/conversations/${conversation.id}/messages?limit=1000`, key: world.keys.alice });
        assert.equal(messages.statusCode, 200, messages.body.slice(0, 300));
      }
      const errors = t.logs.filter((line) => Number(line.level) >= 50 && !allowed5xx.has(String((line.err as { code?: unknown } | undefined)?.code)));
      assert.deepEqual(errors.map((line) => ({ msg: line.msg, err: line.err })), [], 'nothing else was logged as an error');
      assert.equal((await t.request({ method: 'GET', url: '/health' })).statusCode, 200);
    });
  });
}
