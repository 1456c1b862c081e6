/**
 * POST /v1/chat/completions: validation, the non-streamed answer and the SSE stream, in OpenAI's shapes.
 *
 * Token counts (deterministic and cheap):
 *   prompt_tokens     = Σ over messages of ceil(chars / 4) + 4, where chars is the length of the
 *                       message's text (string content, or its text parts joined with "\n") plus, for
 *                       assistant tool_calls, the lengths of each function name and arguments string.
 *   completion_tokens = the number of whitespace-separated words of the reply; for tool calls,
 *                       Σ ceil((name.length + arguments.length) / 4).
 */
import { sendBody, sendError, nextId, errorJson, defaultError } from './respond.js';
import { contentText, planChat, type ChatPlan } from './directives.js';
import type { Exchange } from './exchange.js';

type Json = Record<string, unknown>;

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const FLUSH_AT = 16 * 1024;
/** Tool-call argument fragment sizes, cycled (3–8 chars, like OpenAI's uneven fragments). */
const FRAGMENT_SIZES = [3, 5, 8, 4, 7, 6];

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

interface Invalid {
  message: string;
  param: string | null;
  code: string | null;
}

function invalid(message: string, param: string | null, code: string | null = null): Invalid {
  return { message, param, code };
}

/** Checks the request like OpenAI does (the parts that catch client bugs); returns null when valid. */
export function validateChat(body: unknown): Invalid | null {
  if (!isObject(body)) return invalid('The request body must be a JSON object.', null, 'invalid_type');
  if (body.model === undefined) return invalid('you must provide a model parameter', 'model', 'missing_required_parameter');
  if (typeof body.model !== 'string' || body.model.length === 0)
    return invalid("Invalid type for 'model': expected a non-empty string.", 'model', 'invalid_type');
  const messages = body.messages;
  if (messages === undefined) return invalid("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  if (!Array.isArray(messages)) return invalid("Invalid type for 'messages': expected an array.", 'messages', 'invalid_type');
  if (messages.length === 0)
    return invalid(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
      'empty_array',
    );
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    return invalid("Invalid type for 'stream': expected a boolean.", 'stream', 'invalid_type');

  let pending: Set<string> | null = null;
  let pendingAt = -1;
  for (let i = 0; i < messages.length; i++) {
    const m: unknown = messages[i];
    if (!isObject(m)) return invalid(`Invalid type for 'messages[${i}]': expected an object.`, `messages[${i}]`, 'invalid_type');
    const role = m.role;
    if (typeof role !== 'string' || !ROLES.has(role))
      return invalid(
        `Invalid value: '${String(role)}'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.`,
        `messages[${i}].role`,
        'invalid_value',
      );
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c))
      return invalid(`Invalid type for 'messages[${i}].content': expected a string or an array.`, `messages[${i}].content`, 'invalid_type');
    if ((c === undefined || c === null) && role !== 'assistant')
      return invalid(`Missing required parameter: 'messages[${i}].content'.`, `messages[${i}].content`, 'missing_required_parameter');

    if (role === 'tool') {
      const id = m.tool_call_id;
      if (typeof id !== 'string')
        return invalid(`Missing required parameter: 'messages[${i}].tool_call_id'.`, `messages[${i}].tool_call_id`, 'missing_required_parameter');
      if (pending === null || !pending.delete(id))
        return invalid(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      continue;
    }
    if (pending !== null && pending.size > 0)
      return invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
          `The following tool_call_ids did not have response messages: ${[...pending].join(', ')}`,
        `messages.[${pendingAt}].role`,
      );
    pending = null;
    if (role === 'assistant') {
      const calls = m.tool_calls;
      if (calls !== undefined && calls !== null) {
        if (!Array.isArray(calls)) return invalid(`Invalid type for 'messages[${i}].tool_calls': expected an array.`, `messages[${i}].tool_calls`, 'invalid_type');
        if (calls.length > 0) {
          pending = new Set();
          pendingAt = i;
          for (let j = 0; j < calls.length; j++) {
            const tc: unknown = calls[j];
            const p = `messages[${i}].tool_calls[${j}]`;
            if (!isObject(tc) || typeof tc.id !== 'string') return invalid(`Missing required parameter: '${p}.id'.`, `${p}.id`, 'missing_required_parameter');
            const fn = tc.function;
            if (!isObject(fn) || typeof fn.name !== 'string' || typeof fn.arguments !== 'string')
              return invalid(`Invalid '${p}.function': expected name and arguments strings.`, `${p}.function`, 'invalid_type');
            pending.add(tc.id);
          }
        }
      } else if (c === undefined || c === null) {
        return invalid(`Missing required parameter: 'messages[${i}].content'.`, `messages[${i}].content`, 'missing_required_parameter');
      }
    }
  }
  if (pending !== null && pending.size > 0)
    return invalid(
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. " +
        `The following tool_call_ids did not have response messages: ${[...pending].join(', ')}`,
      `messages.[${pendingAt}].role`,
    );

  const tools = body.tools;
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) return invalid("Invalid type for 'tools': expected an array.", 'tools', 'invalid_type');
    if (tools.length === 0) return invalid("Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'tools', 'empty_array');
    for (let i = 0; i < tools.length; i++) {
      const t: unknown = tools[i];
      const fn = isObject(t) ? t.function : undefined;
      if (!isObject(t) || t.type !== 'function' || !isObject(fn) || typeof fn.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(fn.name))
        return invalid(`Invalid 'tools[${i}]': expected {"type":"function","function":{"name":…}} with a name matching ^[a-zA-Z0-9_-]{1,64}$.`, `tools[${i}]`, 'invalid_value');
    }
  }
  return null;
}

function promptTokens(messages: readonly Json[]): number {
  let total = 0;
  for (const m of messages) {
    let chars = contentText(m.content).length;
    const calls = m.tool_calls;
    if (Array.isArray(calls)) {
      for (const tc of calls) {
        const fn = (tc as { function?: { name?: unknown; arguments?: unknown } }).function;
        if (typeof fn?.name === 'string') chars += fn.name.length;
        if (typeof fn?.arguments === 'string') chars += fn.arguments.length;
      }
    }
    total += Math.ceil(chars / 4) + 4;
  }
  return total;
}

/** Splits text into stream pieces: each piece is leading whitespace + one word; trailing whitespace joins the last. */
export function splitWords(text: string): string[] {
  const pieces = text.match(/\s*\S+/g);
  if (pieces === null) return text.length > 0 ? [text] : [];
  const consumed = pieces.reduce((n, p) => n + p.length, 0);
  if (consumed < text.length) pieces[pieces.length - 1] += text.slice(consumed);
  return pieces;
}

function countWords(pieces: readonly string[]): number {
  let n = pieces.length;
  if (n === 1 && (pieces[0] as string).trim().length === 0) n = 0;
  return n;
}

interface Answer {
  content: string | null;
  pieces: string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  completionTokens: number;
}

function answer(plan: ChatPlan, body: Json): Answer {
  if (plan.toolCalls !== null) {
    const pieces = plan.content === null ? [] : splitWords(plan.content);
    let completionTokens = countWords(pieces);
    for (const tc of plan.toolCalls) completionTokens += Math.ceil((tc.name.length + tc.arguments.length) / 4);
    return { content: plan.content, pieces, finishReason: 'tool_calls', completionTokens };
  }
  let content = plan.content ?? '';
  let pieces = splitWords(content);
  let finishReason: Answer['finishReason'] = 'stop';
  const max = body.max_completion_tokens ?? body.max_tokens;
  if (typeof max === 'number' && Number.isInteger(max) && max >= 0 && pieces.length > max) {
    pieces = pieces.slice(0, max);
    content = pieces.join('');
    finishReason = 'length';
  }
  return { content, pieces, finishReason, completionTokens: countWords(pieces) };
}

/**
 * Answers a chat request. `dropAfterChunks` (≥ 0) comes from a fault and wins over the directive.
 * Returns when done (streams included); never throws.
 */
export async function handleChat(x: Exchange, body: unknown, dropAfterChunks: number): Promise<void> {
  const bad = validateChat(body);
  if (bad !== null) return sendError(x.res, 400, bad.message, 'invalid_request_error', bad.code, bad.param);
  const req = body as Json;
  const messages = req.messages as Json[];
  const hasTools = Array.isArray(req.tools) && req.tools.length > 0 && req.tool_choice !== 'none';
  const plan = planChat(messages, hasTools);

  if (plan.delayMs > 0) {
    await x.sleep(plan.delayMs);
    if (x.closed) return;
  }
  if (plan.errorStatus > 0) return sendBody(x.res, plan.errorStatus, errorJson(defaultError(plan.errorStatus)));

  const model = req.model as string;
  const prompt = promptTokens(messages);
  const ans = answer(plan, req);
  const usage = { prompt_tokens: prompt, completion_tokens: ans.completionTokens, total_tokens: prompt + ans.completionTokens };

  if (req.stream === true) {
    const opts = req.stream_options;
    const includeUsage = isObject(opts) && opts.include_usage === true;
    const drop = dropAfterChunks >= 0 ? dropAfterChunks : plan.dropAfterChunks;
    return stream(x, model, plan, ans, usage, includeUsage, drop);
  }

  const message =
    plan.toolCalls !== null
      ? {
          role: 'assistant',
          content: ans.content,
          refusal: null,
          tool_calls: plan.toolCalls.map((tc) => ({ id: tc.id, type: 'function', function: { name: tc.name, arguments: tc.arguments } })),
          annotations: [],
        }
      : { role: 'assistant', content: ans.content, refusal: null, annotations: [] };
  sendBody(
    x.res,
    200,
    JSON.stringify({
      id: nextId('chatcmpl-'),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: ans.finishReason }],
      usage,
      system_fingerprint: 'fp_fake',
    }),
  );
}

/** Splits a string into fragments of FRAGMENT_SIZES lengths (cycled). */
function fragments(s: string): string[] {
  const out: string[] = [];
  for (let at = 0, k = 0; at < s.length; k++) {
    const size = FRAGMENT_SIZES[k % FRAGMENT_SIZES.length] as number;
    out.push(s.slice(at, at + size));
    at += size;
  }
  return out;
}

async function stream(
  x: Exchange,
  model: string,
  plan: ChatPlan,
  ans: Answer,
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number },
  includeUsage: boolean,
  drop: number,
): Promise<void> {
  const { res } = x;
  const id = nextId('chatcmpl-');
  const created = Math.floor(Date.now() / 1000);
  const meta = `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"system_fingerprint":"fp_fake","choices":[`;
  const head = 'data: ' + meta + '{"index":0,"delta":';
  const usageNull = includeUsage ? ',"usage":null' : '';
  const tail = ',"logprobs":null,"finish_reason":null}]' + usageNull + '}\n\n';

  // The deltas after the role chunk: text pieces, then each tool call's fragments.
  const pieces = ans.pieces;
  const deltas = new Array<string>(pieces.length);
  for (let i = 0; i < pieces.length; i++) deltas[i] = '{"content":' + JSON.stringify(pieces[i]) + '}';
  if (plan.toolCalls !== null) {
    plan.toolCalls.forEach((tc, index) => {
      deltas.push(
        `{"tool_calls":[{"index":${index},"id":${JSON.stringify(tc.id)},"type":"function","function":{"name":${JSON.stringify(tc.name)},"arguments":""}}]}`,
      );
      for (const f of fragments(tc.arguments)) deltas.push(`{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(f)}}}]}`);
    });
  }
  const roleLine =
    head + (ans.content === null ? '{"role":"assistant","content":null,"refusal":null}' : '{"role":"assistant","content":"","refusal":null}') + tail;
  let end = head + '{},"logprobs":null,"finish_reason":"' + ans.finishReason + '"}]' + usageNull + '}\n\n';
  if (includeUsage) end += 'data: ' + meta + '],"usage":' + JSON.stringify(usage) + '}\n\n';
  end += 'data: [DONE]\n\n';

  x.stream = true;
  x.watch();
  if (x.closed) return;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': nextId('req_') });

  const n = deltas.length;
  const dropAt = drop < 0 ? -1 : Math.min(drop, n);
  if (dropAt === 0) return x.dropAfter(roleLine);
  const delay = plan.chunkDelayMs;

  if (delay === 0) {
    // Batch lines into large writes; wait for 'drain' when the socket buffer is full.
    let buf = roleLine;
    for (let i = 0; i < n; i++) {
      const line = head + deltas[i] + tail;
      if (buf.length >= FLUSH_AT) {
        const ok = res.write(buf);
        buf = line;
        if (!ok) {
          await x.drain();
          if (x.closed) return;
        }
      } else {
        buf += line;
      }
      if (i + 1 === dropAt) return x.dropAfter(buf);
    }
    return x.finish(buf + end);
  }

  if (!res.write(roleLine)) await x.drain();
  for (let i = 0; i < n; i++) {
    await x.sleep(delay);
    if (x.closed) return;
    const line = head + deltas[i] + tail;
    if (i + 1 === dropAt) return x.dropAfter(line);
    if (!res.write(line)) await x.drain();
  }
  await x.sleep(delay);
  if (x.closed) return;
  x.finish(end);
}
