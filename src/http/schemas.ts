import type { preValidationHookHandler } from 'fastify';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import type { ChatInput } from '../services/chat-service.js';
import type { Conversation, Message, Page } from '../storage/storage.js';

/** Shapes shared by several routes; each route file keeps its own request schemas. */

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable machine-readable code, e.g. validation_error'),
      message: z.string(),
      request_id: z.string(),
    }),
  })
  .describe('Every error response has this body and the x-request-id header');

/** OpenAI's error object: the body of every error under /v1 (see openai-errors.ts). */
export const openaiErrorBody = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().describe('e.g. invalid_request_error, server_error'),
      param: z.string().nullable(),
      code: z.string().nullable().describe('e.g. invalid_api_key, rate_limit_exceeded'),
    }),
  })
  .describe("OpenAI's error object, so the official SDKs raise their matching error classes");

/**
 * The 200 of a route that answers server-sent events: the OpenAPI document declares it as
 * text/event-stream (docs.ts looks for this very schema), and it is never serialised (the
 * route writes the stream itself).
 */
export const eventStream = z.string().describe('text/event-stream: `data:` lines, one JSON event each, as described above');

/** Error responses a route may answer, for the OpenAPI document. */
export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, errorBody])) as Record<number, typeof errorBody>;

/** `limit` and `cursor` query parameters of a paged list. */
export const pageQuery = (max: number, fallback: number) =>
  z.object({
    limit: z.coerce.number().int().min(1).max(max).default(fallback),
    // Ids are UUIDv7 and a page's cursor is its last id, so anything else was not issued here.
    cursor: z.uuid({ message: 'not a cursor this service issued' }).optional().describe('next_cursor of the previous page'),
  });

/** A page of a list, as every list route answers it: its items and the cursor of the next page. */
export const pageBody = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const toPageBody = <T, B>(page: Page<T>, toBody: (item: T) => B) => ({ data: page.data.map(toBody), next_cursor: page.nextCursor });

/** No stored string can hold U+0000: PostgreSQL's text cannot (see refuseNulCharacters). */
const hasNul = (text: string): boolean => text.includes('\u0000');

/** An id in the path; one these refuse names nothing, and answers 404 (see error-handler.ts). */
export const idParams = z.object({ id: z.string().min(1).max(100).refine((id) => !hasNul(id), 'no such id') });

/**
 * The path of the first string in a request body that holds U+0000 ("body.title",
 * "body.items.0"), as ValidationError words fields. Iterative: a body nested as deep as
 * 1 MiB allows must not overflow the stack.
 */
function nulCharacterAt(body: unknown): string | undefined {
  const pending: Array<[unknown, string]> = [[body, 'body']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (hasNul(value)) return path;
    } else if (value !== null && typeof value === 'object') {
      for (const key of Object.keys(value).reverse()) pending.push([(value as Record<string, unknown>)[key], `${path}.${key}`]);
    }
  }
  return undefined;
}

/**
 * preValidation hook: PostgreSQL cannot store U+0000 in text, so a body string holding one is
 * refused (422 naming the field) before anything is stored, on SQLite alike so that both
 * databases answer the same. Only on routes that declare a body: others ignore theirs (a
 * body sent with DELETE), and the /v1 relays pass theirs on as they came, storing nothing.
 */
export const refuseNulCharacters: preValidationHookHandler = (request, _reply, done) => {
  const at = request.body === undefined || !request.routeOptions.schema?.body ? undefined : nulCharacterAt(request.body);
  const field = at && at.length > 200 ? `${at.slice(0, 200)}…` : at;
  done(field ? new ValidationError(`${field}: must not contain the NUL character (U+0000)`) : undefined);
};

/** A user message to the model (chat and agent). */
export const chatMessage = z
  .string()
  .min(1)
  .refine((s) => s.trim().length > 0, 'must not be blank')
  .describe('The user message');

/** The body of /chat, /chat/stream, /agent and /agent/stream. */
export const chatBody = z.object({
  message: chatMessage,
  conversation_id: z.string().min(1).max(100).optional().describe('Continue this conversation; a new one when absent'),
});

/** The chat or agent turn a chat body asks for; `conversationId` from the path where the route has one. */
export const turnInput = (userId: string, body: z.infer<typeof chatBody>, conversationId = body.conversation_id): ChatInput => ({
  userId,
  message: body.message,
  conversationId,
});

/** What a chat or agent turn may answer besides its 200. */
export const turnErrors = errorResponses(400, 401, 404, 413, 422, 429, 502, 503, 504);

export const conversationBody = z.object({
  id: z.string(),
  title: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const toConversationBody = (c: Conversation): z.infer<typeof conversationBody> => ({
  id: c.id,
  title: c.title,
  created_at: c.createdAt,
  updated_at: c.updatedAt,
});

export const messageBody = z.object({
  id: z.string(),
  role: z.enum(['system', 'user', 'assistant', 'tool']),
  content: z.string().nullable(),
  tokens: z.number().int(),
  status: z.enum(['complete', 'incomplete']),
  created_at: z.string(),
  tool_calls: z
    .array(z.object({ id: z.string(), type: z.literal('function'), function: z.object({ name: z.string(), arguments: z.string() }) }))
    .optional(),
  tool_call_id: z.string().optional(),
});

export const toMessageBody = (m: Message): z.infer<typeof messageBody> => ({
  id: m.id,
  role: m.role,
  content: m.content,
  tokens: m.tokens,
  status: m.status,
  created_at: m.createdAt,
  ...(m.toolCalls && { tool_calls: m.toolCalls }),
  ...(m.toolCallId && { tool_call_id: m.toolCallId }),
});

/** The task body is defined with the services, which hand the same shape to the agent's tools. */
export { taskJson as taskBody, toTaskJson as toTaskBody } from '../services/task-json.js';
