import { z } from 'zod';

/**
 * What the Responses API accepts, as OpenAI documents it, for what we serve: text
 * messages, function calls and their outputs, references to stored items, function
 * tools. The routes use these as body schemas (the OpenAPI document and validation: a
 * bad field is a 400 naming it in `param`). Fields we do not act on (`include`, `text`,
 * `reasoning`, `user`, …) are accepted and ignored, as a Chat Completions upstream has no
 * use for them. No transforms, so every schema converts to JSON Schema.
 */

const textPart = z.object({
  type: z.enum(['input_text', 'output_text']).describe('Only text parts are served'),
  text: z.string(),
});

/** A message's content: a string, or text parts. */
const content = z.union([z.string(), z.array(z.looseObject(textPart.shape))]);

const messageItem = z.looseObject({
  type: z.literal('message').optional(),
  id: z.string().nullish(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content,
  status: z.string().nullish(),
});

const functionCallItem = z.looseObject({
  type: z.literal('function_call'),
  id: z.string().nullish(),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  status: z.string().nullish(),
});

const functionCallOutputItem = z.looseObject({
  type: z.literal('function_call_output'),
  id: z.string().nullish(),
  call_id: z.string().min(1),
  output: content,
  status: z.string().nullish(),
});

const itemReference = z.looseObject({ type: z.literal('item_reference'), id: z.string().min(1) });

export const inputItem = z.union([functionCallItem, functionCallOutputItem, itemReference, messageItem]);

export type InputItem = z.infer<typeof inputItem>;
export type MessageInputItem = z.infer<typeof messageItem>;

const functionTool = z.looseObject({
  type: z.literal('function').describe('Only function tools are served'),
  name: z.string().min(1).max(64),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

export type FunctionTool = z.infer<typeof functionTool>;

const toolChoice = z.union([z.enum(['auto', 'none', 'required']), z.looseObject({ type: z.literal('function'), name: z.string().min(1) })]);

export type ToolChoice = z.infer<typeof toolChoice>;

const metadata = z.record(z.string().max(64), z.string().max(512)).refine((m) => Object.keys(m).length <= 16, 'at most 16 keys');

export const createResponseBody = z.looseObject({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(inputItem)]).optional(),
  instructions: z.string().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  conversation: z.union([z.string().min(1), z.looseObject({ id: z.string().min(1) })]).nullish(),
  store: z.boolean().nullish(),
  tools: z.array(functionTool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  metadata: metadata.nullish(),
  truncation: z.enum(['auto', 'disabled']).nullish(),
  stream: z.boolean().nullish(),
  background: z.boolean().nullish(),
});

export type CreateResponseBody = z.infer<typeof createResponseBody>;

export const createConversationBody = z
  .looseObject({ items: z.array(inputItem).max(20).nullish(), metadata: metadata.nullish() })
  .nullish();

export const updateConversationBody = z.looseObject({ metadata: metadata.nullable() });

export const addItemsBody = z.looseObject({ items: z.array(inputItem).min(1).max(20) });

/** `after`, `limit` and `order` of OpenAI's lists. */
export const listQuery = z.looseObject({
  after: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  order: z.enum(['asc', 'desc']).default('desc'),
});

export type ListQuery = z.infer<typeof listQuery>;
