import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { encodeUtf8 } from './node-http-fetch.js';

type Message = ChatCompletionMessageParam;
export type MessageList = readonly Message[];

/**
 * The JSON text of frozen messages, made once: the system prompt goes out on every turn
 * as the same frozen object. (A history's JSON is kept by the history cache itself, as
 * bytes: see listCarryingJson.) Only frozen messages are kept: their text cannot go stale.
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

const joinJson = (messages: MessageList): string => {
  const parts = new Array<string>(messages.length);
  for (let i = 0; i < messages.length; i++) parts[i] = jsonOf(messages[i]!);
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

/**
 * One frozen list of the parts in order: single messages, and lists (a history from
 * listCarryingJson). When every single message is frozen and every list was made here, the
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
 * A frozen list of `messages` that carries `json`: their UTF-8 JSON joined by commas, as
 * messageList carries it. The caller vouches that the two match: the history cache makes
 * both from the same frozen messages and keeps the bytes from turn to turn.
 */
export function listCarryingJson(messages: Message[], json: Buffer): MessageList {
  return frozenList(messages, json.length ? [json] : []);
}

/** The UTF-8 JSON of one message (for the caller to keep: nothing is cached here). */
export const messageJsonBytes = (message: Message): Buffer => encodeUtf8(JSON.stringify(message));

/**
 * The request body of a chat completion as UTF-8 JSON: the same value as
 * `JSON.stringify({ ...fields, messages })`, with each frozen message, and the JSON a
 * list from messageList / listCarryingJson carries, serialised once.
 */
export function chatRequestBody(fields: Record<string, unknown>, messages: MessageList): Buffer {
  const head = JSON.stringify(fields);
  const open = `${head.length > 2 ? `${head.slice(0, -1)},` : '{'}"messages":[`;
  const pieces = piecesOf(messages);
  if (!pieces) return encodeUtf8(`${open}${joinJson(messages)}]}`);
  return Buffer.concat([Buffer.from(open), ...pieces, CLOSE]);
}

const CLOSE = Buffer.from(']}');
