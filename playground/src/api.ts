import { EventSourceParserStream } from 'eventsource-parser/stream';

/** The service's HTTP API, as the contract describes it, for one API key. */

export interface Conversation {
  id: string;
  title: string | null;
  created_at: string;
  updated_at: string;
}

export interface ToolCallRecord {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface StoredMessage {
  id: string;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tokens: number;
  status: 'complete' | 'incomplete';
  created_at: string;
  tool_calls?: ToolCallRecord[];
  tool_call_id?: string;
}

export interface Task {
  id: string;
  title: string;
  description: string | null;
  priority: 'low' | 'medium' | 'high';
  status: 'pending' | 'completed';
  created_at: string;
  updated_at: string;
}

export interface SearchResult {
  id: string;
  title: string;
  similarity: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** One event of /chat/stream or /agent/stream. */
export type StreamEvent =
  | { type: 'start'; conversationId: string; streamId?: string }
  | { type: 'content'; content: string }
  | { type: 'tool_call'; name: string; arguments: unknown }
  | { type: 'tool_result'; name: string; result: unknown }
  | { type: 'usage'; usage: Usage }
  | { type: 'error'; code: string; message: string }
  | { type: 'done' }
  /** The connection dropped; the stream is being resumed from the last event received. */
  | { type: 'reconnecting'; attempt: number }
  /** Events flow again after a drop. */
  | { type: 'resumed' }
  /** The connection dropped and the stream could not be resumed. */
  | { type: 'dropped' };

/** How often a dropped stream is resumed before giving up (the server keeps it STREAM_RESUME_GRACE_SECONDS). */
const MAX_RESUMES = 5;
const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/** An error answer of the API: its status, code and message, and for a 429 how long to wait. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function toApiError(response: Response): Promise<ApiError> {
  let code = 'http_error';
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // Not the API's JSON (a proxy's page): the status line says enough.
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return new ApiError(response.status, code, message, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}

export class Api {
  constructor(private readonly key: string) {}

  private async send(method: string, path: string, body?: unknown, signal?: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
    const response = await fetch(path, {
      method,
      headers: { authorization: `Bearer ${this.key}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      ...(signal && { signal }),
    });
    if (!response.ok) throw await toApiError(response);
    return response;
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    return (response.status === 204 ? undefined : await response.json()) as T;
  }

  conversations(cursor?: string | null, limit = 20): Promise<{ data: Conversation[]; next_cursor: string | null }> {
    const query = new URLSearchParams({ limit: String(limit), ...(cursor && { cursor }) });
    return this.json('GET', `/conversations?${query}`);
  }

  messages(conversationId: string): Promise<{ data: StoredMessage[] }> {
    return this.json('GET', `/conversations/${encodeURIComponent(conversationId)}/messages`);
  }

  tasks(cursor?: string | null, limit = 50): Promise<{ data: Task[]; next_cursor: string | null }> {
    const query = new URLSearchParams({ status: 'all', limit: String(limit), ...(cursor && { cursor }) });
    return this.json('GET', `/tasks?${query}`);
  }

  createTask(title: string, priority: Task['priority']): Promise<Task> {
    return this.json('POST', '/tasks', { title, priority });
  }

  updateTask(id: string, changes: Partial<Pick<Task, 'status' | 'title' | 'priority'>>): Promise<Task> {
    return this.json('PATCH', `/tasks/${encodeURIComponent(id)}`, changes);
  }

  deleteTask(id: string): Promise<void> {
    return this.json('DELETE', `/tasks/${encodeURIComponent(id)}`);
  }

  search(query: string, topK = 5): Promise<{ results: SearchResult[] }> {
    return this.json('POST', '/search/semantic', { query, top_k: topK });
  }

  /** Stops a running stream wherever it runs; the server stores its reply incomplete. */
  cancelStream(streamId: string): Promise<{ stream_id: string; cancelled: boolean }> {
    return this.json('POST', `/streams/${encodeURIComponent(streamId)}/cancel`);
  }

  /**
   * POSTs to /chat/stream or /agent/stream (resumable: the server keeps generating a while
   * when the connection drops) and yields its events as they arrive. A connection that drops
   * before [DONE] is resumed with GET /streams/{id} from the last event id received, so
   * nothing is lost or repeated. Aborting `signal` ends the generator with the AbortError
   * (Stop also cancels the stream: see cancelStream).
   */
  async *stream(
    path: '/chat/stream' | '/agent/stream',
    body: { message: string; conversation_id?: string },
    signal: AbortSignal,
  ): AsyncGenerator<StreamEvent> {
    let response = await this.send('POST', path, { ...body, resumable: true }, signal);
    let streamId: string | undefined;
    let lastEventId: string | undefined;
    let failures = 0;
    for (;;) {
      try {
        for await (const message of readEvents(response)) {
          if (message.id !== undefined) lastEventId = message.id;
          const event = toStreamEvent(message.data);
          if (!event) continue;
          if (event.type === 'start') streamId = event.streamId;
          if (failures > 0) {
            failures = 0;
            yield { type: 'resumed' };
          }
          yield event;
          if (event.type === 'done' || event.type === 'error') return;
        }
      } catch (error) {
        if (signal.aborted) throw error;
        // Otherwise the connection broke mid-stream: resume below.
      }
      if (streamId === undefined || lastEventId === undefined || failures >= MAX_RESUMES) {
        yield { type: 'dropped' };
        return;
      }
      failures += 1;
      yield { type: 'reconnecting', attempt: failures };
      await sleep(250 * 2 ** (failures - 1), signal);
      try {
        response = await this.send('GET', `/streams/${encodeURIComponent(streamId)}`, undefined, signal, { 'last-event-id': lastEventId });
      } catch (error) {
        // The server answered (404, 410…): the stream cannot be resumed. A network failure is retried.
        if (signal.aborted || error instanceof ApiError) throw error;
        response = Response.error();
      }
    }
  }
}

/** The SSE messages of a response body (a failed response has none). */
async function* readEvents(response: Response): AsyncGenerator<{ id?: string | undefined; data: string }> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // Left early ([DONE] seen) or broken: let go of the connection.
    await reader.cancel().catch(() => undefined);
  }
}

function toStreamEvent(data: string): StreamEvent | undefined {
  if (data === '[DONE]') return { type: 'done' };
  const event = JSON.parse(data) as Record<string, unknown>;
  if (typeof event.error === 'string') return { type: 'error', message: event.error, code: String(event.code ?? 'error') };
  if (typeof event.content === 'string') return { type: 'content', content: event.content };
  if (typeof event.conversation_id === 'string') {
    return { type: 'start', conversationId: event.conversation_id, ...(typeof event.stream_id === 'string' && { streamId: event.stream_id }) };
  }
  if (event.tool_call && typeof event.tool_call === 'object') {
    const call = event.tool_call as { name: string; arguments: unknown };
    return { type: 'tool_call', name: call.name, arguments: call.arguments };
  }
  if (event.tool_result && typeof event.tool_result === 'object') {
    const result = event.tool_result as { name: string; result: unknown };
    return { type: 'tool_result', name: result.name, result: result.result };
  }
  if (event.usage && typeof event.usage === 'object') return { type: 'usage', usage: event.usage as Usage };
  return undefined;
}
