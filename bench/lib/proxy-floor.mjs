/**
 * The floor of any Node.js gateway: a bare node:http server in front of the fake, in one
 * of two modes, run as its own process (PROXY_PORT, UPSTREAM = the fake's origin).
 * No framework, no validation, no database, no SDK, no logs.
 *
 * PROXY_MODE unset, for the chat benchmark: turns `POST /` {"message"} into the fake's chat
 * completion (keep-alive agent) and answers {"message"}; PROXY_FIELDS (JSON: model and
 * generation settings) and PROXY_SYSTEM_PROMPT are what the baseline's direct calls send.
 *
 * PROXY_MODE=pass-through, for the /v1 gateway benchmark: forwards each request as it is
 * (method, path, headers but the hop-by-hop ones, the body piped byte for byte) to the
 * fake on a keep-alive agent, and pipes the answer back (status, headers, body as it
 * arrives, so a stream stays a stream). A client that goes away aborts the upstream call.
 */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const port = Number(process.env.PROXY_PORT);

function chatFloor() {
  const upstream = new URL('/v1/chat/completions', process.env.UPSTREAM);
  const fields = JSON.parse(process.env.PROXY_FIELDS);
  const system = { role: 'system', content: process.env.PROXY_SYSTEM_PROMPT };
  return (req, res) => {
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
  };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): each side of the proxy has its own connection. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host']);
const endToEnd = (headers) => {
  const out = {};
  for (const name in headers) if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  return out;
};

function passThrough() {
  const { hostname, port: upstreamPort } = new URL(process.env.UPSTREAM);
  return (req, res) => {
    const call = http.request({ hostname, port: upstreamPort, method: req.method, path: req.url, agent, headers: endToEnd(req.headers) }, (up) => {
      res.writeHead(up.statusCode, endToEnd(up.headers));
      up.pipe(res);
    });
    call.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) call.destroy();
    });
    req.pipe(call);
  };
}

http.createServer(process.env.PROXY_MODE === 'pass-through' ? passThrough() : chatFloor()).listen(port, '127.0.0.1');
