import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { startFakeOpenAI, type FakeOpenAI } from '../src/fake-openai/server.js';
import { runAdmin } from './helpers/admin.js';
import { TEST_DATABASES } from './helpers/databases.js';
import { startServerProcess, type ServerProcess } from './helpers/server-process.js';

/**
 * Issue 18: SIGKILL the server while 200 /chat turns are in flight, restart it on the
 * same database, and check that every turn the client saw answered is stored whole,
 * that nothing is left half-written, and that the database passes its integrity checks.
 */

const TURNS = 200;
/** Responses to wait for before the kill: some turns done, the rest still in flight. */
const KILL_AFTER = 40;

interface MessageRow {
  conversation_id: string;
  seq: number;
  role: string;
  content: string | null;
  status: string;
}

/** Read-only access to the database, beside the server. */
interface Inspector {
  /** Every message, in storage order. */
  messages(): Promise<MessageRow[]>;
  conversationIds(): Promise<string[]>;
  /** Problems an integrity check reports; empty when the database is sound. */
  integrityProblems(): Promise<string[]>;
  close(): Promise<void>;
}

function sqliteInspector(url: string): Inspector {
  const raw = new SQLite(url.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
  return {
    async messages() {
      return raw.prepare('SELECT conversation_id, seq, role, content, status FROM messages ORDER BY seq').all() as MessageRow[];
    },
    async conversationIds() {
      return (raw.prepare('SELECT id FROM conversations').all() as Array<{ id: string }>).map((r) => r.id);
    },
    async integrityProblems() {
      const problems: string[] = [];
      const integrity = raw.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok') problems.push(`integrity_check: ${String(integrity)}`);
      for (const row of raw.pragma('foreign_key_check') as unknown[]) problems.push(`foreign_key_check: ${JSON.stringify(row)}`);
      return problems;
    },
    async close() {
      raw.close();
    },
  };
}

async function postgresInspector(url: string): Promise<Inspector> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('SET default_transaction_read_only = on');
  return {
    async messages() {
      const { rows } = await client.query('SELECT conversation_id, seq::int AS seq, role, content, status FROM messages ORDER BY seq');
      return rows as MessageRow[];
    },
    async conversationIds() {
      return (await client.query('SELECT id FROM conversations')).rows.map((r: { id: string }) => r.id);
    },
    async integrityProblems() {
      const problems: string[] = [];
      // PostgreSQL's foreign_key_check: every foreign key of the schema, checked row by row.
      const { rows: fks } = await client.query(`
        SELECT c.conname, child.relname AS child, pa.attname AS parent_col, parent.relname AS parent, ca.attname AS child_col
        FROM pg_constraint c
        JOIN pg_class child ON child.oid = c.conrelid
        JOIN pg_class parent ON parent.oid = c.confrelid
        JOIN pg_namespace n ON n.oid = child.relnamespace
        JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = c.conkey[1]
        JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
        WHERE c.contype = 'f' AND n.nspname = 'public' AND array_length(c.conkey, 1) = 1`);
      assert.ok(fks.length >= 4, 'the schema has its foreign keys');
      for (const fk of fks) {
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM "${fk.child}" c WHERE c."${fk.child_col}" IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM "${fk.parent}" p WHERE p."${fk.parent_col}" = c."${fk.child_col}")`,
        );
        if (rows[0].n !== 0) problems.push(`${fk.conname}: ${rows[0].n} rows without their ${fk.parent}`);
      }
      // PostgreSQL's integrity_check: amcheck over every B-tree index of the schema (heap included), when installed.
      const { rows: available } = await client.query(`SELECT 1 FROM pg_extension WHERE extname = 'amcheck'`);
      if (available.length) {
        const { rows: indexes } = await client.query(`
          SELECT i.indexrelid::regclass::text AS name FROM pg_index i
          JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_am am ON am.oid = c.relam
          WHERE n.nspname = 'public' AND am.amname = 'btree'`);
        for (const { name } of indexes) {
          try {
            await client.query('SELECT bt_index_check($1::regclass, true)', [name]);
          } catch (error) {
            problems.push(`bt_index_check(${name}): ${(error as Error).message}`);
          }
        }
      }
      return problems;
    },
    async close() {
      await client.end();
    },
  };
}

/** Installs amcheck in a fresh PostgreSQL database (before anything else connects), if the server has it. */
async function installAmcheck(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'amcheck'`);
    if (rows.length) await client.query('CREATE EXTENSION IF NOT EXISTS amcheck');
  } finally {
    await client.end();
  }
}

describe('SIGKILL during 200 concurrent chat turns', () => {
  let fake: FakeOpenAI;
  before(async () => {
    fake = await startFakeOpenAI();
  });
  after(() => fake.close());

  for (const database of TEST_DATABASES) {
    test(`${database.name}: every answered turn is stored whole, nothing is orphaned, the database is intact`, async (t) => {
      const db = await database.create();
      const servers: ServerProcess[] = [];
      const inspectors: Inspector[] = [];
      try {
        if (database.name === 'postgres') await installAmcheck(db.url);
        const env = { DATABASE_URL: db.url, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-kill', RATE_LIMIT_PER_MINUTE: '1000000' };
        const created = await runAdmin(['create-user', 'killed'], env);
        assert.equal(created.code, 0, created.stderr);
        const { api_key: key } = JSON.parse(created.stdout) as { api_key: string };

        const first = await startServerProcess(env);
        servers.push(first);
        // Turns answer over about half a second (delays 0..475 ms), so that the kill finds many in flight.
        type Outcome = { i: number; message: string; reply: string; conversationId?: string; answer?: string; status?: number };
        const outcomes: Outcome[] = [];
        let answered = 0;
        let reachedKillPoint!: () => void;
        const killPoint = new Promise<void>((resolve) => (reachedKillPoint = resolve));
        const turns = Array.from({ length: TURNS }, async (_, i) => {
          const reply = `reply number ${i}`;
          const message = `turn number ${i} [[delay:${(i % 20) * 25}]] [[reply:${reply}]]`;
          const outcome: Outcome = { i, message, reply };
          outcomes.push(outcome);
          try {
            const res = await fetch(`${first.url}/chat`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ message }),
            });
            outcome.status = res.status;
            const body = (await res.json()) as { conversation_id?: string; message?: string };
            if (res.status === 200 && body.conversation_id) {
              outcome.conversationId = body.conversation_id;
              outcome.answer = body.message;
            }
          } catch {
            // The connection died with the server: the client never saw this turn answered.
          } finally {
            if (++answered === KILL_AFTER) reachedKillPoint();
          }
        });
        await killPoint;
        first.child.kill('SIGKILL');
        await first.exited;
        await Promise.all(turns);

        const confirmed = outcomes.filter((o) => o.conversationId);
        const failedStatuses = outcomes.filter((o) => o.status !== undefined && o.status !== 200);
        assert.ok(confirmed.length >= 1, 'some turns were answered before the kill');
        assert.deepEqual(failedStatuses.map((o) => o.status), [], 'the server answered no turn with an error before it died');
        for (const o of confirmed) assert.equal(o.answer, o.reply, 'the client got the fake model\'s reply');

        // Restart on the same database (WAL recovery / rolled-back transactions, migrations).
        const second = await startServerProcess(env);
        servers.push(second);

        // Every confirmed turn, through the API: the user message then the reply, both complete.
        for (const o of confirmed) {
          const res = await fetch(`${second.url}/conversations/${o.conversationId}/messages`, { headers: { authorization: `Bearer ${key}` } });
          assert.equal(res.status, 200, `conversation of turn ${o.i} exists after the restart`);
          const { data } = (await res.json()) as { data: Array<{ role: string; content: string; status: string }> };
          assert.deepEqual(
            data.map((m) => [m.role, m.content, m.status]),
            [
              ['user', o.message, 'complete'],
              ['assistant', o.reply, 'complete'],
            ],
            `turn ${o.i} is stored whole`,
          );
        }

        const inspector = database.name === 'postgres' ? await postgresInspector(db.url) : sqliteInspector(db.url);
        inspectors.push(inspector);
        assert.deepEqual(await inspector.integrityProblems(), []);

        const conversations = new Set(await inspector.conversationIds());
        const byConversation = new Map<string, MessageRow[]>();
        for (const m of await inspector.messages()) {
          assert.ok(conversations.has(m.conversation_id), `message ${m.seq} belongs to an existing conversation`);
          byConversation.set(m.conversation_id, [...(byConversation.get(m.conversation_id) ?? []), m]);
        }
        const sent = new Map(outcomes.map((o) => [o.message, o]));
        for (const id of conversations) {
          const messages = byConversation.get(id) ?? [];
          // A conversation is created together with its first user message, in one transaction.
          assert.ok(messages.length >= 1, `conversation ${id} has its user message`);
          assert.equal(messages[0]!.role, 'user', `conversation ${id} starts with the user message`);
          const turn = sent.get(messages[0]!.content ?? '');
          assert.ok(turn, `conversation ${id} holds one of the turns sent`);
          assert.equal(messages[0]!.status, 'complete');
          // A blocking turn stores its reply in one go, after the user message: all or nothing.
          assert.ok(messages.length <= 2, `conversation ${id} holds one turn`);
          if (messages[1]) assert.deepEqual([messages[1].role, messages[1].content, messages[1].status], ['assistant', turn.reply, 'complete']);
          if (turn.conversationId) assert.equal(turn.conversationId, id);
        }
        assert.ok(conversations.size >= confirmed.length);
        assert.ok(conversations.size <= TURNS);
        const stored = [...conversations].filter((id) => (byConversation.get(id) ?? []).length === 2).length;
        t.diagnostic(`${database.name}: ${confirmed.length} turns answered before the kill, ${conversations.size} conversations stored, ${stored} with their reply`);
      } finally {
        for (const inspector of inspectors) await inspector.close().catch(() => {});
        for (const server of servers) await server.stop('SIGKILL');
        await db.drop();
      }
    });
  }
});
