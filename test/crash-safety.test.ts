import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { openStorage } from '../src/storage/open-storage.js';
import { runAdmin } from './helpers/admin.js';
import { SQLITE } from './helpers/databases.js';
import { startServerProcess } from './helpers/server-process.js';

describe('a crash mid-stream', () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());

  test('SIGKILL during a stream and a burst of writes loses no stored message and leaves the SQLite file intact', async () => {
    const database = await SQLITE.create();
    try {
      const env = { DATABASE_URL: database.url, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-crash', RATE_LIMIT_PER_MINUTE: '100000' };
      const { api_key: key } = JSON.parse((await runAdmin(['create-user', 'crash'], env)).stdout);
      const server = await startServerProcess(env);
      const post = (body: unknown) =>
        fetch(`${server.url}/chat`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // Completed turns before the crash: these must all survive it.
      const first = (await (await post({ message: 'before the crash' })).json()) as { conversation_id: string };
      for (let i = 0; i < 10; i++) await post({ message: `turn ${i}`, conversation_id: first.conversation_id });

      // A stream in flight and writes racing the kill.
      const stream = await fetch(`${server.url}/chat/stream`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ message: '[[words:200]] [[chunk-delay:20]]', conversation_id: first.conversation_id }),
      });
      const reader = stream.body!.getReader();
      await reader.read();
      const racing = Array.from({ length: 20 }, (_, i) => post({ message: `racing ${i}` }).catch(() => undefined));
      server.child.kill('SIGKILL');
      await server.exited;
      await Promise.all(racing);
      await reader.cancel().catch(() => undefined);

      const file = database.url.slice('sqlite:'.length);
      const raw = new SQLite(file);
      try {
        assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok');
        assert.deepEqual(raw.pragma('foreign_key_check'), []);
      } finally {
        raw.close();
      }
      // The app reopens it (WAL recovery, migrations) and every completed turn is there, in order.
      const storage = openStorage(database.url);
      try {
        await storage.migrate();
        const { data } = await storage.messages.list(first.conversation_id, { limit: 1000 });
        const completed = data.slice(0, 22).map((m) => [m.role, m.content]);
        assert.deepEqual(completed[0], ['user', 'before the crash']);
        assert.deepEqual(completed.at(-1), ['assistant', 'You said: turn 9']);
        assert.equal(data[22]?.content, '[[words:200]] [[chunk-delay:20]]', 'the streamed turn\'s user message was stored before the call');
      } finally {
        await storage.close();
      }
    } finally {
      await database.drop();
    }
  });
});
