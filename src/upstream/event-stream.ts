import { createParser } from 'eventsource-parser';

/**
 * The `data` of each server-sent event in a byte stream, in order, as it arrives
 * (eventsource-parser does the framing: `\n`, `\r\n`, comments, multi-line data; the
 * decoder keeps a character split across chunks whole). Ends with the stream; the
 * caller decides what `[DONE]` means. Stopping early (return/throw) destroys nothing:
 * the owner of the body does that.
 */
export async function* eventData(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let ready: string[] = [];
  const parser = createParser({ onEvent: (event) => void ready.push(event.data) });
  for await (const chunk of body) {
    parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    if (ready.length === 0) continue;
    const events = ready;
    ready = [];
    for (const data of events) yield data;
  }
  parser.feed(decoder.decode());
  // An event the stream ended without its blank line is still an event.
  parser.feed('\n\n');
  for (const data of ready) yield data;
}
