/** One SSE event as a resumable stream sends it: its `id:` (the log seq) and its data (JSON parsed, or a string such as [DONE]). */
export interface SseEvent {
  id: number | undefined;
  data: any;
}

function parseBlock(block: string): SseEvent | undefined {
  let id: number | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('id:')) id = Number(line.slice(3).trim());
    else if (line.startsWith('data:')) data.push(line.slice(5).trim());
  }
  if (data.length === 0) return undefined;
  const text = data.join('\n');
  try {
    return { id, data: JSON.parse(text) };
  } catch {
    return { id, data: text };
  }
}

/**
 * Reads a fetch response's events as they arrive. With `stopAfter`, stops reading after that
 * many events and aborts the request (`abort`, the fetch's controller): a client that goes away.
 */
export async function readSse(response: Response, options: { stopAfter?: number; abort?: AbortController } = {}): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const event = parseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) events.push(event);
        if (options.stopAfter !== undefined && events.length >= options.stopAfter) {
          options.abort?.abort();
          await reader.cancel().catch(() => {});
          return events;
        }
      }
    }
  } catch (error) {
    if (!(options.abort?.signal.aborted)) throw error;
  }
  return events;
}

/** Polls `probe` until it returns a value (every 20 ms, up to `tries` times). */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, tries = 500): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
