/**
 * Directives: how a test decides what the fake model answers.
 *
 * Directives are read from the LAST message with role `user` in `messages` (content as a string, or
 * an array of content parts whose `text` fields are joined with "\n"). A directive is written
 * `[[name:arg]]`; `arg` runs up to the first `]]` (if more `]` follow right away, the last two
 * close the directive, so `[[tool:f [1]]]` has arg `f [1]`). Names are case-insensitive; unknown
 * names are left in the text untouched.
 *
 *   (no directive)          reply "You said: " + the message text, exactly.
 *                           With directives present, the text is echoed with the directives removed
 *                           and surrounding whitespace trimmed.
 *   [[reply:TEXT]]          reply exactly TEXT.
 *   [[words:N]]             reply "w1 w2 … wN" (0 ≤ N ≤ 100000). With several reply/words, the last wins.
 *   [[chunk-delay:MS]]      streaming: wait MS ms before each chunk after the first (holds streams open).
 *   [[delay:MS]]            wait MS ms before answering at all (streaming or not).
 *   [[error:STATUS]]        answer with that HTTP status and OpenAI's error body for it.
 *   [[drop-after:N]]        streaming: send N chunks after the role chunk, then destroy the socket.
 *   [[tool:NAME ARGS]]      when the request has `tools` (and `tool_choice` is not "none") and the last
 *                           message of the request is this user message: answer with a call to NAME whose
 *                           `arguments` string is ARGS verbatim (may be invalid JSON on purpose); without
 *                           ARGS (`[[tool:NAME]]`) the arguments are "{}". Several → several tool calls in
 *                           one assistant message, in order, ids `call_<random>`. NAME is not checked
 *                           against `tools`. With [[reply:TEXT]] or [[words:N]] too, the assistant
                           message carries that text before its calls (streamed first).
 *   [[always-tool:NAME ARGS]]  like `tool`, but also on every later turn (after tool results), so an
 *                           agent loop never ends on its own (to test iteration caps).
 *
 * When the last message of the request has role `tool` (and no `always-tool` applies), the reply is
 * "Done: " + the contents of the trailing tool messages joined with "; ".
 * The timing/failure directives (chunk-delay, delay, error, drop-after) apply to every request whose
 * last user message carries them, including the turns after tool results.
 */
import { randomBytes } from 'node:crypto';

export interface ToolCallPlan {
  id: string;
  name: string;
  arguments: string;
}

export interface ChatPlan {
  /** Text reply; `null` when the answer is tool calls alone. */
  content: string | null;
  toolCalls: ToolCallPlan[] | null;
  chunkDelayMs: number;
  delayMs: number;
  /** 0 = none. */
  errorStatus: number;
  /** -1 = none. */
  dropAfterChunks: number;
}

const DIRECTIVE_RE = /\[\[([a-z][a-z-]*):([\s\S]*?\]*)\]\]/gi;
const KNOWN = new Set(['reply', 'words', 'chunk-delay', 'delay', 'error', 'drop-after', 'tool', 'always-tool']);
const MAX_WORDS = 100_000;
const MAX_DELAY_MS = 600_000;

interface Msg {
  role?: unknown;
  content?: unknown;
}

/** The text of a message's content: a string, or the `text` of its parts joined with "\n". */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  let first = true;
  for (const part of content) {
    const t = part !== null && typeof part === 'object' ? (part as { text?: unknown }).text : undefined;
    if (typeof t === 'string') {
      out = first ? t : out + '\n' + t;
      first = false;
    }
  }
  return out;
}

function toInt(s: string, max: number): number {
  const t = s.trim();
  if (!/^\d{1,9}$/.test(t)) return -1;
  const n = Number(t);
  return n > max ? max : n;
}

let wordsCacheN = -1;
let wordsCache = '';
/** "w1 w2 … wN" (the last one is cached: benchmarks ask for the same N again and again). */
export function words(n: number): string {
  if (n === wordsCacheN) return wordsCache;
  const parts = new Array<string>(n);
  for (let i = 0; i < n; i++) parts[i] = 'w' + (i + 1);
  wordsCacheN = n;
  wordsCache = parts.join(' ');
  return wordsCache;
}

function toolCall(arg: string): ToolCallPlan | null {
  const ws = /\s/.exec(arg);
  const name = ws === null ? arg : arg.slice(0, ws.index);
  if (name.length === 0) return null;
  return {
    id: 'call_' + randomBytes(12).toString('base64url'),
    name,
    arguments: ws === null ? '{}' : arg.slice(ws.index + 1),
  };
}

/**
 * Decide the answer for a validated chat request.
 * @param hasTools the request offers tools and `tool_choice` is not "none".
 */
export function planChat(messages: readonly Msg[], hasTools: boolean): ChatPlan {
  const plan: ChatPlan = { content: null, toolCalls: null, chunkDelayMs: 0, delayMs: 0, errorStatus: 0, dropAfterChunks: -1 };

  let userIdx = -1;
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') {
      userIdx = i;
      break;
    }
  }
  const text = userIdx === -1 ? '' : contentText(messages[userIdx]?.content);
  const lastIsUser = userIdx === messages.length - 1;
  const last = messages[messages.length - 1];

  let echo = text;
  let reply: string | null = null;
  let calls: ToolCallPlan[] | null = null; // tool + always-tool, in order

  if (text.includes('[[')) {
    let stripped = '';
    let from = 0;
    let found = false;
    for (const m of text.matchAll(DIRECTIVE_RE)) {
      const name = (m[1] as string).toLowerCase();
      if (!KNOWN.has(name)) continue;
      found = true;
      stripped += text.slice(from, m.index);
      from = m.index + m[0].length;
      const arg = m[2] as string;
      switch (name) {
        case 'reply':
          reply = arg;
          break;
        case 'words': {
          const n = toInt(arg, MAX_WORDS);
          if (n >= 0) reply = words(n);
          break;
        }
        case 'chunk-delay': {
          const n = toInt(arg, MAX_DELAY_MS);
          if (n >= 0) plan.chunkDelayMs = n;
          break;
        }
        case 'delay': {
          const n = toInt(arg, MAX_DELAY_MS);
          if (n >= 0) plan.delayMs = n;
          break;
        }
        case 'error': {
          const n = toInt(arg, 599);
          if (n >= 400) plan.errorStatus = n;
          break;
        }
        case 'drop-after': {
          const n = toInt(arg, 1_000_000_000);
          if (n >= 0) plan.dropAfterChunks = n;
          break;
        }
        case 'tool':
        case 'always-tool': {
          if (!hasTools) break;
          const always = name === 'always-tool';
          if (!lastIsUser && !always) break;
          const call = toolCall(arg);
          if (call === null) break;
          (calls ??= []).push(call);
          break;
        }
      }
    }
    if (found) echo = (stripped + text.slice(from)).trim();
  }

  if (calls !== null) {
    // After tool results only always-tool directives were collected.
    plan.toolCalls = calls;
    plan.content = reply;
    return plan;
  }
  if (last?.role === 'tool') {
    let i = messages.length - 1;
    while (i > 0 && messages[i - 1]?.role === 'tool') i--;
    const results: string[] = [];
    for (; i < messages.length; i++) results.push(contentText(messages[i]?.content));
    plan.content = 'Done: ' + results.join('; ');
    return plan;
  }
  plan.content = reply ?? 'You said: ' + echo;
  return plan;
}
