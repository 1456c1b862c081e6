import type { ResponseRecord } from '../../storage/storage.js';
import type { TokenUsage } from '../../upstream/model-call.js';
import type { FunctionTool, ToolChoice } from './request-schema.js';
import type { Truncation } from './context.js';

/** The request's settings as the Response object echoes them (stored with the response). */
export interface ResponseSettings {
  model: string;
  instructions: string | null;
  tools: Array<{ type: 'function'; name: string; description: string | null; parameters: Record<string, unknown> | null; strict: boolean }>;
  tool_choice: ToolChoice;
  parallel_tool_calls: boolean;
  temperature: number;
  top_p: number;
  max_output_tokens: number | null;
  metadata: Record<string, string>;
  truncation: Truncation;
  store: boolean;
}

export const echoTool = (tool: FunctionTool): ResponseSettings['tools'][number] => ({
  type: 'function',
  name: tool.name,
  description: tool.description ?? null,
  parameters: tool.parameters ?? null,
  strict: tool.strict ?? true,
});

/** OpenAI's usage object, from a chat completion's. */
export const responseUsage = (usage: TokenUsage) => ({
  input_tokens: usage.prompt_tokens,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: usage.completion_tokens,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: usage.total_tokens,
});

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/**
 * The Response object exactly as OpenAI answers it (the fields its SDKs read; `output_text`
 * is the SDKs' own convenience). Fields for features a Chat Completions upstream does not
 * have (reasoning, service tiers, prompt caching) carry OpenAI's values for "not used".
 */
export function responseObject(r: ResponseRecord) {
  const s = r.settings as unknown as ResponseSettings;
  return {
    id: r.id,
    object: 'response' as const,
    created_at: seconds(r.createdAt),
    status: r.status,
    background: r.background,
    completed_at: r.completedAt ? seconds(r.completedAt) : null,
    conversation: r.conversationId ? { id: r.conversationId } : null,
    error: r.error,
    incomplete_details: r.incompleteDetails,
    instructions: s.instructions,
    max_output_tokens: s.max_output_tokens,
    max_tool_calls: null,
    metadata: s.metadata,
    model: s.model,
    output: r.output,
    parallel_tool_calls: s.parallel_tool_calls,
    previous_response_id: r.previousResponseId,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: 'default',
    store: s.store,
    temperature: s.temperature,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: s.tool_choice,
    tools: s.tools,
    top_logprobs: 0,
    top_p: s.top_p,
    truncation: s.truncation,
    usage: r.usage,
    user: null,
  };
}

export type ResponseObject = ReturnType<typeof responseObject>;
