/**
 * The floor of any Node.js gateway, for the chat benchmark: a bare node:http server
 * that turns `POST /` {"message"} into the fake's chat completion (keep-alive agent)
 * and answers {"message"}. No framework, no validation, no database, no SDK, no logs.
 * Run as its own process: PROXY_PORT, UPSTREAM (the fake's origin).
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true });
const upstream = new URL('/v1/chat/completions', process.env.UPSTREAM);

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const { message } = JSON.parse(Buffer.concat(chunks).toString());
      const body = Buffer.from(
        JSON.stringify({
          model: 'gpt-4o-mini',
          messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: message }],
          max_completion_tokens: 2000,
          temperature: 0.7,
        }),
      );
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
