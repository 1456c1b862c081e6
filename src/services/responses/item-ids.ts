import { sha256 } from '../../shared/hash.js';
import { newId } from '../../shared/ids.js';

/**
 * OpenAI-style ids for the Responses API, derived from our row ids (UUIDv7) so that an item
 * id names its message row without a lookup table: `msg_<row>` is a row's text,
 * `fc_<row>_<call>` one of its tool calls (by a hash of the call's id, so that deleting one
 * call leaves the others' ids as they were), `fco_<row>` a tool answer. Response ids are
 * `resp_` and a fresh id.
 */
export type ItemKind = 'message' | 'function_call' | 'function_call_output';

const compact = (uuid: string): string => uuid.replaceAll('-', '');
const expand = (hex: string): string => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

/** Which of a row's calls an fc id names. */
export const callTag = (callId: string): string => sha256(callId).slice(0, 8);

export const messageItemId = (rowId: string): string => `msg_${compact(rowId)}`;
export const callItemId = (rowId: string, callId: string): string => `fc_${compact(rowId)}_${callTag(callId)}`;
export const outputItemId = (rowId: string): string => `fco_${compact(rowId)}`;

/** The row (and for a call, its tag) an item id names; undefined for an id we did not make. */
export function parseItemId(id: string): { kind: ItemKind; rowId: string; callTag?: string } | undefined {
  const match = /^(?:(msg|fco)_([0-9a-f]{32})|fc_([0-9a-f]{32})_([0-9a-f]{8}))$/.exec(id);
  if (!match) return undefined;
  if (match[3]) return { kind: 'function_call', rowId: expand(match[3]), callTag: match[4]! };
  return { kind: match[1] === 'msg' ? 'message' : 'function_call_output', rowId: expand(match[2]!) };
}

export const newResponseId = (): string => `resp_${compact(newId())}`;
