import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { openStorage } from '../src/storage/open-storage.js';
import { runAdmin } from './helpers/admin.js';
import { SQLITE } from './helpers/databases.js';
import { parseSse } from './helpers/fake-upstream.js';
import { startServerProcess } from './helpers/server-process.js';

describe('graceful shutdown on SIGTERM (a real server process)', () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());

  async function serverWithUser(env: Record<string, string> = {}) {
    const db = await SQLITE.create();
    const created = await runAdmin(['create-user', 'alice'], { DATABASE_URL: db.url });
    assert.equal(created.code, 0, created.stderr);
    const key = JSON.parse(created.stdout).api_key as string;
    const server = await startServerProcess({ DATABASE_URL: db.url, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test', ...env });
    return { db, key, server };
  }

  /** Starts a stream and resolves once its first event arrived, with a reader for the rest. */
  async function openStream(url: string, key: string, message: string) {
    const res = await fetch(`${url}/chat/stream`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message }),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = decoder.decode((await reader.read()).value);
    return {
      first: text,
      async rest(): Promise<string> {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            text += decoder.decode(value, { stream: true });
          }
        } catch {
          // a cut connection ends the read
        }
        return text;
      },
    };
  }

  test('lets an in-flight stream finish with [DONE], refuses new connections, and exits 0', async () => {
    const { db, key, server } = await serverWithUser();
    try {
      const stream = await openStream(server.url, key, '[[words:30]] [[chunk-delay:50]]');
      server.child.kill('SIGTERM');
      const text = await stream.rest();
      const events = parseSse(text) as any[];
      assert.equal(events.at(-1), '[DONE]', 'the stream finished');
      assert.equal(events.filter((e) => typeof e?.content === 'string').length >= 30, true);
      assert.equal(await server.exited, 0);
      await assert.rejects(fetch(`${server.url}/health`), 'no longer listening');
    } finally {
      await server.stop('SIGKILL');
      await db.drop();
    }
  });

  test('cuts a stream still running when SHUTDOWN_GRACE_SECONDS is over, stores it incomplete, and exits 0', async () => {
    const { db, key, server } = await serverWithUser({ SHUTDOWN_GRACE_SECONDS: '0.5' });
    try {
      const stream = await openStream(server.url, key, '[[words:400]] [[chunk-delay:50]]');
      const conversationId = (parseSse(stream.first)[0] as { conversation_id: string }).conversation_id;
      const started = Date.now();
      server.child.kill('SIGTERM');
      const text = await stream.rest();
      assert.ok(!text.includes('[DONE]'), 'the stream was cut');
      assert.equal(await server.exited, 0);
      assert.ok(Date.now() - started < 5000, `exited ${Date.now() - started} ms after SIGTERM`);
      await fake.waitFor((c) => c.abortedStreams >= 1, 2000); // the abort reached the upstream call
      const messages = await storedMessages(db.url, conversationId);
      const assistant = messages.find((m) => m.role === 'assistant');
      assert.ok(assistant, 'the partial reply was stored');
      assert.equal(assistant.status, 'incomplete');
      assert.ok(assistant.content.length > 0);
    } finally {
      await server.stop('SIGKILL');
      await db.drop();
    }
  });
});

/** The conversation's messages as the API would list them, read straight from the database file. */
async function storedMessages(url: string, conversationId: string): Promise<Array<{ role: string; status: string; content: string }>> {
  const storage = openStorage(url);
  try {
    const page = await storage.messages.list(conversationId, { limit: 100 });
    return page.data as Array<{ role: string; status: string; content: string }>;
  } finally {
    await storage.close();
  }
}
