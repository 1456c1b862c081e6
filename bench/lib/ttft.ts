/**
 * Time to first token of one streaming request: from sending it to the first event
 * that carries content. The rest of the stream is read to the end, so the keep-alive
 * connection is reused by the next request and the server finishes its work.
 */
import http from 'node:http';

export interface StreamTarget {
  url: string;
  headers?: Record<string, string>;
  body: unknown;
  /** True for the `data:` payload (without the prefix) that carries the first token. */
  isFirstToken(data: string): boolean;
}

/** Our SSE: `data: {"content":"…"}`. */
export const appFirstToken = (data: string): boolean => data.startsWith('{"content"');

/** OpenAI's chunks: the first whose delta has non-empty content (the role chunk has ""). */
export function openAIFirstToken(data: string): boolean {
  if (!data.startsWith('{')) return false;
  const chunk = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string | null } }> };
  return Boolean(chunk.choices?.[0]?.delta?.content);
}

export function timeToFirstToken(agent: http.Agent, target: StreamTarget): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(target.body);
    const started = performance.now();
    const req = http.request(
      target.url,
      {
        method: 'POST',
        agent,
        headers: { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`${target.url} answered ${res.statusCode}`));
          return;
        }
        res.setEncoding('utf8');
        let buffer = '';
        let first: number | undefined;
        res.on('data', (text: string) => {
          if (first !== undefined) return;
          buffer += text;
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            // Our events carry an `id:` line before their data (resumable streams).
            const data = event.split('\n').find((line) => line.startsWith('data: '));
            if (data && target.isFirstToken(data.slice(6))) {
              first = performance.now() - started;
              buffer = '';
              return;
            }
          }
        });
        res.once('end', () => (first === undefined ? reject(new Error(`${target.url}: stream ended without a token`)) : resolve(first)));
        res.once('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end(payload);
  });
}
