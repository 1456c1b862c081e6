import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends bytes as they are (no client library fixes them up) and reads what comes back until the
 * server closes the connection or `timeoutMs` passes. `response` is undefined when the server
 * answered nothing it could parse as HTTP.
 */
export function rawRequest(url: string, bytes: string | Buffer, timeoutMs = 5000): Promise<{ response: RawResponse | undefined; raw: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const raw = Buffer.concat(chunks).toString('latin1');
      resolve({ response: parseResponse(raw), raw });
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      // A response with a Content-Length is complete once that many body bytes arrived (keep-alive).
      const parsed = parseResponse(Buffer.concat(chunks).toString('latin1'));
      if (parsed?.headers['content-length'] !== undefined && parsed.bodyBytes >= Number(parsed.headers['content-length'])) finish();
    });
    socket.on('error', () => {}); // a reset after the answer is how some of these end
    socket.on('close', finish);
    socket.write(bytes);
  });
}

function parseResponse(raw: string): (RawResponse & { bodyBytes: number }) | undefined {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [statusLine, ...lines] = raw.slice(0, end).split('\r\n');
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '');
  if (!match) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  // latin1: one character per byte. Only the first response: what follows (a second answer to
  // bytes after the first request) is not its body.
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const body = raw.slice(end + 4, length === undefined ? undefined : end + 4 + length);
  return { status: Number(match[1]), headers, body: Buffer.from(body, 'latin1').toString('utf8'), bodyBytes: body.length };
}
