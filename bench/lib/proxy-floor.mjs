/**
 * The floor of any Node.js gateway, for the chat benchmark: a bare node:http server
 * that turns `POST /` {"message"} into the fake's chat completion (keep-alive agent)
 * and answers {"message"}. No framework, no validation, no database, no SDK, no logs.
 * Run as its own process: PROXY_PORT, UPSTREAM (the fake's origin), and what the baseline's
 * direct calls send: PROXY_FIELDS (JSON: model and generation settings) and PROXY_SYSTEM_PROMPT.
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true });
const upstream = new URL('/v1/chat/completions', process.env.UPSTREAM);
const fields = JSON.parse(process.env.PROXY_FIELDS);
const system = { role: 'system', content: process.env.PROXY_SYSTEM_PROMPT };

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { message } = JSON.parse(Buffer.concat(chunks).toString());
      const body = Buffer.from(JSON.stringify({ ...fields, messages: [system, { role: 'user', content: message }] }));
      const call = http.request(upstream, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (up) => {
        const parts = [];
        up.on('data', (c) => parts.push(c));
        up.on('end', () => {
          const reply = JSON.parse(Buffer.concat(parts).toString());
          const out = JSON.stringify({ message: reply.choices[0].message.content });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) }).end(out);
        });
      });
      call.on('error', () => res.writeHead(502).end());
      call.end(body);
    });
  })
  .listen(Number(process.env.PROXY_PORT), '127.0.0.1');
