import type { BenchDatabase } from '../lib/database.js';
import type { FakeProcess } from '../lib/processes.js';
import type { Seeded } from '../lib/seed.js';
import type { Settings } from '../lib/settings.js';
import { TOKENS_PER_MESSAGE, TOKENS_PER_REPLY } from '../../src/services/token-counter.js';

/** What every scenario gets. */
export interface BenchContext {
  settings: Settings;
  fake: FakeProcess;
  /** Temporary directory of this run (SQLite files, app stderr). */
  workDir: string;
  /** Progress line on stderr. */
  log(line: string): void;
}

/** A running app on one database, with its seeded user. */
export interface AppUnderTest {
  origin: string;
  pid: number;
  db: BenchDatabase;
  apiKey: string;
  seeded: Seeded;
}

/** The SDK's default request settings of the app (config defaults), for direct calls to the fake. */
export const SDK_CHAT_DEFAULTS = {
  model: 'gpt-4o-mini',
  max_completion_tokens: 2000,
  temperature: 0.7,
};
export const SYSTEM_PROMPT = 'You are a helpful assistant.';

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** What the SDK sends for one user message: the body of the direct (baseline) calls. */
export const directChatBody = (message: string, { stream = false } = {}) => ({
  ...SDK_CHAT_DEFAULTS,
  messages: [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: message },
  ],
  ...(stream && { stream: true, stream_options: { include_usage: true } }),
});

/**
 * What the app sends when it continues the bench's long conversation once the measured
 * load has filled its history with "hello" turns: the system prompt, then as many
 * user/assistant pairs as HISTORY_MAX_TOKENS holds (counted as the app counts them),
 * then the message. The baseline for what a long history costs upstream.
 */
export function directLongChatBody(message: string, reply: string, historyMaxTokens: number, tokens: { count(text: string): number }) {
  const perMessage = (text: string) => tokens.count(text) + TOKENS_PER_MESSAGE;
  const room = historyMaxTokens - perMessage(SYSTEM_PROMPT) - TOKENS_PER_REPLY - perMessage(message);
  const pair = perMessage(message) + perMessage(reply);
  const history: Array<{ role: 'user' | 'assistant'; content: string }> = [];
  for (let used = pair; used <= room; used += pair) history.push({ role: 'user', content: message }, { role: 'assistant', content: reply });
  return {
    ...SDK_CHAT_DEFAULTS,
    messages: [{ role: 'system', content: SYSTEM_PROMPT }, ...history, { role: 'user', content: message }],
  };
}
