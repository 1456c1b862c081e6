import type { HistoryEntry, Storage } from '../../storage/storage.js';
import type { HistorySource } from '../history.js';

/** Responses of a chain looked up at once. */
const CHAIN_BATCH = 64;

/** A conversation's rows newest first, a batch per call (the size the walk asks for). */
export function conversationSource(storage: Pick<Storage, 'messages'>, conversationId: string): HistorySource<HistoryEntry> {
  let beforeSeq: number | undefined;
  return async (want) => {
    const batch = await storage.messages.newestFirst(conversationId, { limit: want, beforeSeq });
    if (batch.length) beforeSeq = batch.at(-1)!.seq;
    return batch;
  };
}

/**
 * The items of a previous_response_id chain newest first: the chain's responses are found a
 * batch at a time (one recursive query each), and their rows read newest first across the
 * batch. Rows of older responses have smaller seqs (a response is continued only once it
 * ended), so reading on with `seq < last` is the same walk. The walk stops asking when its
 * budget is full: a turn reads what the budget holds, not the whole chain.
 */
export function chainSource(storage: Pick<Storage, 'responses' | 'items'>, userId: string, newestResponseId: string): HistorySource<HistoryEntry> {
  let ids: string[] = [];
  let next: string | null = newestResponseId;
  let beforeSeq: number | undefined;
  return async (want) => {
    for (;;) {
      if (ids.length) {
        const batch = await storage.items.newestOfResponses(ids, { limit: want, beforeSeq });
        if (batch.length) {
          beforeSeq = batch.at(-1)!.seq;
          return batch;
        }
      }
      if (next === null) return [];
      const links = await storage.responses.chain(userId, next, CHAIN_BATCH);
      ids = links.map((l) => l.id);
      next = links.length === CHAIN_BATCH ? links.at(-1)!.previousResponseId : null;
      if (!ids.length) return [];
    }
  };
}
