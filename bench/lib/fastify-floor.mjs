/**
 * A second floor for the /v1 gateway: the least a Fastify + undici gateway does. One route
 * relays POST /v1/chat/completions to the fake (UPSTREAM, its origin) on an undici Pool, the
 * body as the bytes that came, and sends the answer back as it arrives (a stream stays a
 * stream; a client that goes away aborts the upstream call). Fastify's logger off; no auth,
 * no limits, no metrics, no logs, no validation, no request ids. Run as its own process
 * (PROXY_PORT). Between the bare node:http proxy and ours, it shows what the framework and
 * the HTTP client cost, apart from what our gateway does with each request.
 */
import Fastify from 'fastify';
import { Pool } from 'undici';

const pool = new Pool(process.env.UPSTREAM, { keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
const app = Fastify({ logger: false });
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

app.post('/v1/chat/completions', async (request, reply) => {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  const answer = await pool.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'content-type': 'application/json', authorization: request.headers.authorization ?? '' },
    body: request.body,
    signal: controller.signal,
  });
  reply.code(answer.statusCode).header('content-type', answer.headers['content-type'] ?? 'application/json');
  return reply.send(answer.body);
});

await app.listen({ port: Number(process.env.PROXY_PORT), host: '127.0.0.1' });
