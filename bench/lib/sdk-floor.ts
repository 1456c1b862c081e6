/**
 * The floor of a gateway that calls the model through the official SDK, for the chat
 * benchmark: bench/lib/proxy-floor.mjs with `client.chat.completions.create` in place of
 * its node:http call. No framework, validation, database or logs. SDK_FETCH=app gives
 * the SDK the app's own fetch (src/upstream/node-http-fetch.ts); otherwise it uses its
 * default (Node's built-in fetch). Same environment as proxy-floor.mjs.
 */
import http from 'node:http';
import OpenAI from 'openai';
import { createNodeHttpFetch } from '../../src/upstream/node-http-fetch.js';

const fields = JSON.parse(process.env.PROXY_FIELDS!) as { model: string };
const system = { role: 'system' as const, content: process.env.PROXY_SYSTEM_PROMPT! };
const client = new OpenAI({
  apiKey: 'sk-bench',
  baseURL: new URL('/v1', process.env.UPSTREAM).toString(),
  ...(process.env.SDK_FETCH === 'app' && { fetch: createNodeHttpFetch() }),
});

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { message } = JSON.parse(Buffer.concat(chunks).toString()) as { message: string };
      client.chat.completions.create({ ...fields, messages: [system, { role: 'user', content: message }] }).then(
        (reply) => {
          const out = JSON.stringify({ message: reply.choices[0]!.message.content });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
        },
        () => res.writeHead(502).end(),
      );
    });
  })
  .listen(Number(process.env.PROXY_PORT), '127.0.0.1');
