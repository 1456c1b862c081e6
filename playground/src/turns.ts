import type { StoredMessage, Usage } from './api.js';

/** A tool call the agent made in a turn, with its result once it arrived. */
export interface ToolCallView {
  name: string;
  arguments: unknown;
  result?: unknown;
  /** The stored call's id, to match its tool message. */
  id?: string;
}

/** One message as the page shows it: a stored one, or the reply streaming in. */
export interface MessageView {
  key: string;
  role: 'user' | 'assistant';
  content: string;
  status: 'complete' | 'incomplete' | 'streaming';
  toolCalls: ToolCallView[];
  /** The turn's usage from the stream's usage event. */
  usage?: Usage;
  /** Stored token count (history shows this instead of a turn's usage). */
  tokens?: number;
  /** Why a reply ended early, in words. */
  note?: string;
}

const parsed = (text: string | null | undefined): unknown => {
  if (text == null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/**
 * Stored messages as the page shows them: an agent turn (assistant calls, tool results, the
 * answer) is one assistant message holding its tool calls; system messages are left out.
 */
export function fromStored(messages: StoredMessage[]): MessageView[] {
  const views: MessageView[] = [];
  for (const message of messages) {
    if (message.role === 'system') continue;
    if (message.role === 'user') {
      views.push({ key: message.id, role: 'user', content: message.content ?? '', status: message.status, toolCalls: [], tokens: message.tokens });
      continue;
    }
    let last = views.at(-1);
    if (!last || last.role !== 'assistant') {
      last = { key: message.id, role: 'assistant', content: '', status: 'complete', toolCalls: [], tokens: 0 };
      views.push(last);
    }
    if (message.status === 'incomplete') last.status = 'incomplete';
    last.tokens = (last.tokens ?? 0) + message.tokens;
    if (message.role === 'tool') {
      const call = last.toolCalls.find((c) => c.id === message.tool_call_id);
      if (call) call.result = parsed(message.content);
      continue;
    }
    for (const call of message.tool_calls ?? []) {
      last.toolCalls.push({ id: call.id, name: call.function.name, arguments: parsed(call.function.arguments) });
    }
    if (message.content) last.content += (last.content ? '\n\n' : '') + message.content;
  }
  return views;
}

/** The first call of that name still waiting for its result gets it (calls are answered in order). */
export function withToolResult(view: MessageView, name: string, result: unknown): MessageView {
  const index = view.toolCalls.findIndex((c) => c.name === name && c.result === undefined);
  if (index < 0) return view;
  return { ...view, toolCalls: view.toolCalls.map((c, i) => (i === index ? { ...c, result } : c)) };
}
