import { once } from 'node:events';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Server-sent events over the raw response. Each `send` waits for the socket
 * to drain when its buffer is full, so a slow client slows the upstream read
 * (TCP backpressure) instead of growing memory.
 */
export class SseWriter {
  private readonly response: FastifyReply['raw'];

  constructor(request: FastifyRequest, reply: FastifyReply) {
    reply.hijack();
    this.response = reply.raw;
    this.response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
      'x-request-id': String(request.id),
    });
  }

  /** True once the client is gone or the stream ended. */
  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  /** Writes one `data:` event: JSON for objects, as-is for strings such as [DONE]. */
  async send(data: unknown): Promise<void> {
    if (this.closed) return;
    const payload = typeof data === 'string' ? data : JSON.stringify(data);
    if (!this.response.write(`data: ${payload}\n\n`)) {
      await Promise.race([once(this.response, 'drain'), once(this.response, 'close')]);
    }
  }

  end(): void {
    if (!this.closed) this.response.end();
  }
}
