import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { encodeUtf8 } from './node-http-fetch.js';

type Message = ChatCompletionMessageParam;
export type MessageList = readonly Message[];

/**
 * The JSON text of frozen messages, made once. A conversation's history is sent again on
 * every turn, mostly as the same frozen objects (the history cache shares them between
 * turns), so re-serialising it each time would cost the most CPU of a long conversation's
 * turn. Only frozen messages are kept: their text cannot go stale.
 */
const messageJson = new WeakMap<object, string>();

function jsonOf(message: Message): string {
  let text = messageJson.get(message);
  if (text === undefined) {
    text = JSON.stringify(message);
    if (Object.isFrozen(message)) messageJson.set(message, text);
  }
  return text;
}

const joinJson = (messages: MessageList, from = 0): string => {
  const parts = new Array<string>(messages.length - from);
  for (let i = from; i < messages.length; i++) parts[i - from] = jsonOf(messages[i]!);
  return parts.join(',');
};

const COMMA = Buffer.from(',');

/**
 * What a list made here carries: the UTF-8 JSON of its messages, joined by commas (the
 * inside of the array), in pieces to be copied into the request body as they are. Kept
 * out of the V8 heap on purpose: a long conversation's history is ~45 KiB per turn in
 * flight, and as strings those were the garbage collector's biggest load (measured).
 */
const JSON_PIECES = Symbol('jsonPieces');
type Pieces = readonly Buffer[];
type ListWithPieces = MessageList & { readonly [JSON_PIECES]?: Pieces };

const piecesOf = (list: MessageList): Pieces | undefined => (list as ListWithPieces)[JSON_PIECES];

function frozenList(messages: Message[], pieces: Pieces | undefined): MessageList {
  if (pieces) Object.defineProperty(messages, JSON_PIECES, { value: pieces });
  return Object.freeze(messages);
}

/** Bytes of JSON a list made here carries (0 for any other list). */
export function carriedJsonBytes(list: MessageList): number {
  let bytes = 0;
  for (const piece of piecesOf(list) ?? []) bytes += piece.length;
  return bytes;
}

const allFrozen = (messages: MessageList, from = 0): boolean => {
  for (let i = from; i < messages.length; i++) if (!Object.isFrozen(messages[i])) return false;
  return true;
};

/**
 * One frozen list of the parts in order: single messages, and lists (a history from
 * historyList). When every single message is frozen and every list was made here, the
 * list carries its JSON, made from the parts' JSON: nothing is serialised again.
 */
export function messageList(...parts: Array<Message | MessageList>): MessageList {
  let length = 0;
  for (const part of parts) length += Array.isArray(part) ? part.length : 1;
  const messages = new Array<Message>(length);
  let at = 0;
  let pieces: Buffer[] | undefined = [];
  for (const part of parts) {
    if (Array.isArray(part)) {
      const list = part as MessageList;
      for (let i = 0; i < list.length; i++) messages[at++] = list[i]!;
      const inner = piecesOf(list);
      if (!inner) pieces = undefined;
      else if (pieces && inner.length) pieces.push(...(pieces.length ? [COMMA] : []), ...inner);
    } else {
      const message = part as Message;
      messages[at++] = message;
      if (!Object.isFrozen(message)) pieces = undefined;
      else if (pieces) pieces.push(...(pieces.length ? [COMMA] : []), encodeUtf8(jsonOf(message)));
    }
  }
  return frozenList(messages, pieces);
}

/**
 * A conversation's history as a frozen list carrying its JSON (see messageList), made
 * from the `previous` turn's list where they overlap: a turn's history is usually the
 * last one's with a few new messages at the end and a few old ones gone from the start,
 * so its JSON is a view of the last one's plus the new messages', whatever its length.
 * Messages must be frozen all the way down (the history cache's are); the ones
 * serialised here are checked. The array itself is frozen and returned: the caller
 * hands it over.
 */
export function historyList(messages: Message[], previous: MessageList | undefined): MessageList {
  if (!messages.length) return frozenList(messages, []);
  const fresh = () => frozenList(messages, allFrozen(messages) ? [encodeUtf8(joinJson(messages))] : undefined);
  const before = previous && piecesOf(previous);
  if (!previous || !before || before.length !== 1) return fresh();
  // Where this list starts in the previous one (usually a few messages in); the
  // overlap must then be the same messages, in order, or the JSON is made afresh.
  const start = previous.indexOf(messages[0]!);
  if (start < 0) return fresh();
  const overlap = Math.min(previous.length - start, messages.length);
  for (let i = 1; i < overlap; i++) if (messages[i] !== previous[start + i]) return fresh();
  if (!allFrozen(messages, overlap)) return frozenList(messages, undefined);

  const bytes = before[0]!;
  let from = 0;
  for (let i = 0; i < start; i++) from += Buffer.byteLength(jsonOf(previous[i]!)) + 1;
  let to = bytes.length;
  for (let i = start + overlap; i < previous.length; i++) to -= Buffer.byteLength(jsonOf(previous[i]!)) + 1;
  const kept = bytes.subarray(from, to);
  if (overlap === messages.length) return frozenList(messages, [kept]);
  // One copy per turn keeps the pieces to one buffer, so the next turn can view it again.
  return frozenList(messages, [Buffer.concat([kept, COMMA, encodeUtf8(joinJson(messages, overlap))])]);
}

/**
 * The request body of a chat completion as UTF-8 JSON: the same value as
 * `JSON.stringify({ ...fields, messages })`, with each frozen message, and the JSON a
 * list from messageList / historyList carries, serialised once.
 */
export function chatRequestBody(fields: Record<string, unknown>, messages: MessageList): Buffer {
  const head = JSON.stringify(fields);
  const open = `${head.length > 2 ? `${head.slice(0, -1)},` : '{'}"messages":[`;
  const pieces = piecesOf(messages);
  if (!pieces) return encodeUtf8(`${open}${joinJson(messages)}]}`);
  return Buffer.concat([Buffer.from(open), ...pieces, CLOSE]);
}

const CLOSE = Buffer.from(']}');
