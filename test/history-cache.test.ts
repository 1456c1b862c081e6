import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../src/config/config.js';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { newId } from '../src/shared/ids.js';
import { chatService, type NewMessageFields } from '../src/services/chat-service.js';
import { conversationService } from '../src/services/conversation-service.js';
import { historyCache, type CachedHistoryEntry, type HistoryCache, type HistorySelection } from '../src/services/history-cache.js';
import { toModelMessage } from '../src/services/history.js';
import { loadTokenCounter, TOKENS_PER_MESSAGE, TOKENS_PER_REPLY } from '../src/services/token-counter.js';
import { openStorage } from '../src/storage/open-storage.js';
import type { HistoryEntry, Storage } from '../src/storage/storage.js';
import { chatModel } from '../src/upstream/chat-model.js';
import { TEST_DATABASES, type TestDatabase } from './helpers/databases.js';
import { mulberry32 } from './helpers/random.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

type Reader = (options: { limit: number; beforeSeq?: number | undefined }) => Promise<HistoryEntry[]>;

/**
 * The selection as it was before the cache, kept verbatim as the oracle: every cached
 * selection must equal what this reads from the database.
 */
async function uncachedSelectHistory(read: Reader, budget: number): Promise<HistoryEntry[]> {
  const units: HistoryEntry[][] = [];
  let used = 0;
  let answers: HistoryEntry[] = [];
  let beforeSeq: number | undefined;
  let limit = Math.min(1024, Math.max(32, Math.ceil(budget / 24)));
  let seen = 0;
  let seenTokens = 0;
  for (;;) {
    const page = await read({ limit, beforeSeq });
    seen += page.length;
    for (const message of page) {
      seenTokens += message.tokens;
      if (message.role === 'tool') {
        answers.unshift(message);
        continue;
      }
      let unit: HistoryEntry[];
      if (message.role === 'assistant' && message.toolCalls?.length) {
        unit = [message, ...answers];
      } else {
        if (!message.content) {
          answers = [];
          continue;
        }
        unit = [message];
      }
      answers = [];
      const cost = unit.reduce((sum, m) => sum + m.tokens, 0);
      if (used + cost > budget) return units.reverse().flat();
      used += cost;
      units.push(unit);
    }
    if (page.length < limit) return units.reverse().flat();
    beforeSeq = page[page.length - 1]!.seq;
    const average = Math.max(4, seenTokens / seen);
    limit = Math.min(1024, Math.max(32, Math.ceil(((budget - used) / average) * 1.25)));
  }
}

/** The same oracle over messages held in memory (oldest first). */
const uncachedOver = (messages: HistoryEntry[], budget: number) => {
  const newestFirst = messages.slice().reverse();
  return uncachedSelectHistory(async ({ limit, beforeSeq }) => newestFirst.filter((m) => beforeSeq === undefined || m.seq < beforeSeq).slice(0, limit), budget);
};

const plain = (e: CachedHistoryEntry): HistoryEntry => ({
  seq: e.seq,
  role: e.role,
  content: e.content,
  tokens: e.tokens,
  toolCalls: e.toolCalls,
  toolCallId: e.toolCallId,
});


/**
 * One random write as the services make them: a plain message, an empty reply, an
 * agent step (assistant message with tool calls plus its answers, one transaction), an
 * orphaned tool answer, or now and then a message too big for any budget.
 */
function randomWrite(next: () => number): NewMessageFields[] {
  const words = (n: number) => Array.from({ length: n }, (_, i) => `w${Math.floor(next() * 50)}${i}`).join(' ');
  const message = (role: 'user' | 'assistant', size: number): NewMessageFields => ({ role, content: words(size), tokens: size + TOKENS_PER_MESSAGE, status: 'complete' });
  const roll = next();
  if (roll < 0.35) return [message('user', 1 + Math.floor(next() * 30))];
  if (roll < 0.6) return [message('assistant', 1 + Math.floor(next() * 30))];
  if (roll < 0.67) return [{ role: 'assistant', content: '', tokens: TOKENS_PER_MESSAGE, status: next() < 0.5 ? 'complete' : 'incomplete' }];
  if (roll < 0.9) {
    const calls = Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({
      id: `call_${newId()}`,
      type: 'function' as const,
      function: { name: 'list_tasks', arguments: JSON.stringify({ status: 'pending', note: words(2) }) },
    }));
    return [
      { role: 'assistant', content: next() < 0.5 ? null : words(3), toolCalls: calls, tokens: 20 + Math.floor(next() * 20), status: 'complete' },
      ...calls.map((c): NewMessageFields => ({ role: 'tool', content: JSON.stringify({ ok: words(2) }), toolCallId: c.id, tokens: 5 + Math.floor(next() * 15), status: 'complete' })),
    ];
  }
  if (roll < 0.96) return [{ role: 'tool', content: '{"orphan":true}', toolCallId: 'call_gone', tokens: 9, status: 'complete' }];
  return [message('user', 500)];
}

/** The storage's message reads, counted: a history read afresh calls newestFirst; one caught up from what was kept, only newerThan. */
function countedReads(storage: Storage) {
  const calls = { newestFirst: 0, newerThan: 0 };
  const messages: Storage['messages'] = {
    ...storage.messages,
    newestFirst: (...args) => (calls.newestFirst++, storage.messages.newestFirst(...args)),
    newerThan: (...args) => (calls.newerThan++, storage.messages.newerThan(...args)),
  };
  return { storage: { messages }, calls };
}

/** An instance of the app as far as history goes: its own connection, cache and write path. */
interface Instance {
  storage: Storage;
  history: HistoryCache;
  /** Stores messages the way the chat service does; returns the newest seq. */
  append(conversationId: string, messages: NewMessageFields[]): Promise<number>;
}

const COVER = 400;

async function openInstance(url: string | Storage): Promise<Instance> {
  const storage = typeof url === 'string' ? openStorage(url, { poolSize: 4 }) : url;
  const history = historyCache({ storage, coverTokens: COVER });
  const tokens = await loadTokenCounter('gpt-4o-mini');
  const config = loadConfig({ HISTORY_MAX_TOKENS: String(COVER) });
  const chat = chatService({ storage, model: chatModel(undefined, config.openai), tokens, history, config });
  return { storage, history, append: async (id, messages) => (await chat.appendMessages(id, messages)).at(-1)!.seq };
}

for (const database of TEST_DATABASES) {
  describe(`history cache (${database.name})`, () => {
    let db: { url: string; drop(): Promise<void> };
    let a: Instance;
    let b: Instance;
    let userId: string;
    before(async () => {
      db = await database.create();
      a = await openInstance(db.url);
      await a.storage.migrate();
      b = await openInstance(db.url);
      userId = newId();
      const now = new Date().toISOString();
      await a.storage.users.createWithKey({ id: userId, name: 'u', createdAt: now }, { id: newId(), userId, keyHash: newId(), keyPrefix: 'oab_x', createdAt: now });
    });
    after(async () => {
      await a.storage.close();
      await b.storage.close();
      await db.drop();
    });

    async function newConversation(): Promise<string> {
      const id = newId();
      const now = new Date().toISOString();
      await a.storage.conversations.create({ id, userId, title: null, createdAt: now, updatedAt: now });
      return id;
    }

    async function assertSameAsUncached(instance: Instance, id: string, budget: number): Promise<void> {
      const expected = await uncachedSelectHistory((page) => instance.storage.messages.newestFirst(id, page), budget);
      const got = await instance.history.select(id, budget);
      assert.deepEqual(got.entries.map(plain), expected, `budget ${budget}`);
      // What goes upstream, byte for byte.
      assert.equal(JSON.stringify(got.entries.map((e) => e.message)), JSON.stringify(expected.map(toModelMessage)));
      // The model messages the selection hands over are the same, and so is their JSON, made beforehand.
      assert.equal(JSON.stringify({ messages: got.messages }), JSON.stringify({ messages: expected.map(toModelMessage) }));
      assert.equal(`[${got.json.toString()}]`, JSON.stringify(expected.map(toModelMessage)));
      assert.equal(got.tokens, expected.reduce((sum, m) => sum + m.tokens, 0));
    }

    test('selects exactly what the uncached rules select, while two instances append tool-call groups, empty and orphaned messages', async () => {
      const next = mulberry32(7);
      const budgets = [0, 3, 25, 60, 150, 399, COVER];
      const ids = [await newConversation(), await newConversation()];
      for (let round = 0; round < 120; round++) {
        const id = ids[round % 2]!;
        const writes = 1 + Math.floor(next() * 3);
        for (let i = 0; i < writes; i++) await (next() < 0.5 ? a : b).append(id, randomWrite(next));
        for (const instance of [a, b]) {
          await assertSameAsUncached(instance, id, budgets[Math.floor(next() * budgets.length)]!);
        }
      }
      // Budgets above the cover read further back than the entry keeps, still exactly.
      await assertSameAsUncached(a, ids[0]!, 5000);
      await assertSameAsUncached(a, ids[0]!, 37);
    });

    test('a long conversation (answers stored after their call, units over the cover, the old end let go many times) stays exact, and earlier selections keep what they selected', async () => {
      const id = await newConversation();
      const next = mulberry32(31);
      const history = historyCache({ storage: a.storage, coverTokens: COVER });
      const held: Array<{ messages: HistorySelection['messages']; json: Buffer; body: string }> = [];
      const call = (tokens: number): NewMessageFields => ({
        role: 'assistant',
        content: null,
        toolCalls: [{ id: `call_${newId()}`, type: 'function', function: { name: 'list_tasks', arguments: '{}' } }],
        tokens,
        status: 'complete',
      });
      const answer = (tokens: number): NewMessageFields => ({ role: 'tool', content: '{"ok":true}', toolCallId: 'call_x', tokens, status: 'complete' });
      for (let turn = 0; turn < 700; turn++) {
        const roll = next();
        // A call stored alone, its answers in later writes (one may be another turn's message in between).
        if (roll < 0.15) await a.append(id, [call(10 + Math.floor(next() * 20))]);
        else if (roll < 0.3) await a.append(id, [answer(5 + Math.floor(next() * 10))]);
        else if (roll < 0.33) await a.append(id, [call(COVER - 5)]); // fits alone; its answers will not
        else await a.append(id, randomWrite(next));
        const budget = [COVER, COVER - 7, 120, 30][turn % 4]!;
        const got = await history.select(id, budget);
        const body = JSON.stringify({ messages: got.messages });
        if (turn % 10 === 0 || turn > 680) {
          const expected = await uncachedSelectHistory((page) => a.storage.messages.newestFirst(id, page), budget);
          assert.deepEqual(got.entries.map(plain), expected, `turn ${turn}`);
          assert.equal(body, JSON.stringify({ messages: expected.map(toModelMessage) }), `turn ${turn}`);
          assert.equal(`{"messages":[${got.json.toString()}]}`, body, `turn ${turn}`);
          assert.equal(got.tokens, expected.reduce((sum, m) => sum + m.tokens, 0));
        }
        if (turn % 50 === 0) held.push({ messages: got.messages, json: got.json, body });
      }
      // Selections made long ago still send what they sent then.
      for (const h of held) {
        assert.equal(JSON.stringify({ messages: h.messages }), h.body);
        assert.equal(`{"messages":[${h.json.toString()}]}`, h.body);
      }
    });

    test('after the first turn, a turn reads only what was appended since', async () => {
      const id = await newConversation();
      const next = mulberry32(11);
      for (let i = 0; i < 300; i++) await a.append(id, randomWrite(next));
      const { storage, calls } = countedReads(a.storage);
      const history = historyCache({ storage, coverTokens: COVER });
      await history.select(id, COVER);
      assert.ok(calls.newestFirst >= 1 && calls.newerThan === 0, 'the first turn reads the history');
      calls.newestFirst = 0;
      for (let turn = 0; turn < 5; turn++) {
        await b.append(id, randomWrite(next));
        const got = await history.select(id, COVER - turn);
        const expected = await uncachedSelectHistory((page) => a.storage.messages.newestFirst(id, page), COVER - turn);
        assert.deepEqual(got.entries.map(plain), expected);
      }
      assert.deepEqual(calls, { newestFirst: 0, newerThan: 5 });
    });

    test('of turns that started from the same cached history, the one that read the newest messages is kept', async () => {
      const id = await newConversation();
      await a.append(id, [{ role: 'user', content: 'first', tokens: 5, status: 'complete' }]);
      let gate: Promise<void> | undefined;
      const rows: number[] = [];
      const gated: Storage['messages'] = {
        ...a.storage.messages,
        newerThan: async (...args) => {
          const waitFor = gate;
          gate = undefined;
          await waitFor;
          const newer = await a.storage.messages.newerThan(...args);
          rows.push(newer.length);
          return newer;
        },
      };
      const history = historyCache({ storage: { messages: gated }, coverTokens: COVER });
      await history.select(id, COVER);
      await a.append(id, [{ role: 'assistant', content: 'second', tokens: 5, status: 'complete' }]);
      let open!: () => void;
      gate = new Promise((resolve) => (open = resolve));
      const late = history.select(id, COVER); // reads once the gate opens, after a third message
      await history.select(id, COVER); // reads the second message and is kept
      await a.append(id, [{ role: 'user', content: 'third', tokens: 5, status: 'complete' }]);
      open();
      assert.deepEqual((await late).entries.map((e) => e.content), ['first', 'second', 'third']);
      assert.deepEqual((await history.select(id, COVER)).entries.map((e) => e.content), ['first', 'second', 'third']);
      assert.deepEqual(rows, [1, 2, 0], 'the last turn had nothing new to read: the late, fresher history was kept');
    });

    test('concurrent turns in one conversation each see a gap-free history holding every message committed before the turn', async () => {
      const id = await newConversation();
      const next = mulberry32(23);
      // Two SQLite connections in one process cannot write concurrently (a waiting writer blocks
      // the thread the other needs to commit), so there the second instance shares the connection.
      const other = database.name === 'sqlite' ? await openInstance(a.storage) : b;
      let committed = 0; // the newest seq known to be stored
      const checks = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const instance = i % 2 ? a : other;
          const own = await instance.append(id, randomWrite(next));
          // Everything stored before this turn reads its history must be in it, its own write included.
          const floor = Math.max(committed, own);
          const got = await instance.history.select(id, 150);
          committed = Math.max(committed, (await instance.storage.messages.newestFirst(id, { limit: 1 }))[0]!.seq);
          return { floor, got: JSON.stringify(got.entries.map(plain)) };
        }),
      );
      const all = await a.storage.messages.newerThan(id, { afterSeq: 0, limit: 10_000 });
      for (const { floor, got } of checks) {
        // Some prefix of the stored conversation that holds at least everything up to `floor`: no gap, nothing stale.
        let matched = false;
        for (let end = all.filter((m) => m.seq <= floor).length; end <= all.length && !matched; end++) {
          matched = JSON.stringify(await uncachedOver(all.slice(0, end), 150)) === got;
        }
        assert.ok(matched, `the selection is that of the stored conversation up to some message at or after seq ${floor}`);
      }
    });

    test('a deleted conversation has no history, though its history was kept', async () => {
      const id = await newConversation();
      await a.append(id, [{ role: 'user', content: 'hello', tokens: 5, status: 'complete' }]);
      const conversations = conversationService(a.storage, a.history);
      assert.deepEqual((await a.history.select(id, COVER)).entries.map((e) => e.content), ['hello']);
      await conversations.delete(userId, id);
      assert.deepEqual((await a.history.select(id, COVER)).entries, []);
    });

    test('memory is bounded: least recently used conversations go first, and a history over the byte bound is not kept', async () => {
      const { storage, calls } = countedReads(a.storage);
      /** How a turn got its history: read afresh, or caught up from what was kept. */
      const select = async (instance: Instance, id: string) => {
        const fresh = calls.newestFirst;
        await assertSameAsUncached(instance, id, COVER);
        return calls.newestFirst > fresh ? 'read afresh' : 'kept';
      };
      const ids = [await newConversation(), await newConversation(), await newConversation()];
      const next = mulberry32(5);
      for (const id of ids) for (let i = 0; i < 20; i++) await a.append(id, randomWrite(next));
      const small = { ...a, history: historyCache({ storage, coverTokens: COVER, maxConversations: 2 }) };
      for (const id of ids) assert.equal(await select(small, id), 'read afresh');
      assert.equal(await select(small, ids[2]!), 'kept');
      assert.equal(await select(small, ids[1]!), 'kept');
      assert.equal(await select(small, ids[0]!), 'read afresh', 'the least recently used went first');

      const [short, long] = [await newConversation(), await newConversation()];
      await a.append(short, [{ role: 'user', content: 'hi', tokens: 5, status: 'complete' }]);
      for (let i = 0; i < 10; i++) await a.append(long, [{ role: 'user', content: 'x'.repeat(200), tokens: 10, status: 'complete' }]);
      const tiny = { ...a, history: historyCache({ storage, coverTokens: COVER, maxBytes: 2000 }) };
      for (const id of [short, long]) assert.equal(await select(tiny, id), 'read afresh');
      assert.equal(await select(tiny, short), 'kept');
      assert.equal(await select(tiny, long), 'read afresh', 'ten 200-character messages are over 2,000 bytes');
    });
  });

  describe(`history across instances of the app (${database.name})`, () => {
    let fake: FakeOpenAI;
    let db: { url: string; drop(): Promise<void> };
    let apps: TestApp[];
    let key: string;
    const env = () => ({ OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', HISTORY_MAX_TOKENS: '300', SYSTEM_PROMPT: 'Be brief.' });
    before(async () => {
      fake = await startFakeOpenAI();
      db = await database.create();
      const shared: TestDatabase = { name: database.name, create: async () => ({ url: db.url, drop: async () => {} }) };
      apps = [await createTestApp({ env: env(), database: shared }), await createTestApp({ env: env(), database: shared })];
      key = (await apps[0]!.createUser()).apiKey;
    });
    after(async () => {
      for (const app of apps) await app.close();
      await db.drop();
      await fake.close();
    });

    test('turns alternating between two instances send exactly the history an uncached read selects (chat and agent)', async () => {
      const tokens = await loadTokenCounter(apps[0]!.config.openai.model);
      const room = 300 - (tokens.count('Be brief.') + TOKENS_PER_MESSAGE) - TOKENS_PER_REPLY - TOKENS_PER_MESSAGE;
      const storage = apps[0]!.storage;
      let id: string | undefined;
      for (let turn = 0; turn < 16; turn++) {
        const message = turn % 3 === 1 ? `[[tool:create_task {"title":"task ${turn}"}]] and more` : `turn ${turn} ${'words '.repeat(turn % 5)}`;
        const expected = id ? await uncachedSelectHistory((page) => storage.messages.newestFirst(id!, page), room - tokens.count(message)) : [];
        const seen = fake.requests.length;
        const res = await apps[turn % 2]!.request({ method: 'POST', url: turn % 4 < 2 ? '/agent' : '/chat', key, json: { message, ...(id && { conversation_id: id }) } });
        assert.equal(res.statusCode, 200, res.body);
        id = res.json().conversation_id;
        const sent = fake.requests.slice(seen).find((r) => r.path === '/v1/chat/completions')!.body.messages;
        assert.equal(JSON.stringify(sent), JSON.stringify([{ role: 'system', content: 'Be brief.' }, ...expected.map(toModelMessage), { role: 'user', content: message }]));
      }
      const stored = (await storage.messages.newerThan(id!, { afterSeq: 0, limit: 1000 })).length;
      assert.ok(stored > 30, `the conversation outgrew the budget (${stored} messages)`);
    });
  });
}
