import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import SQLite from 'better-sqlite3';
import { newId } from '../src/shared/ids.js';
import { openSqlite } from '../src/storage/sqlite.js';
import type { Storage } from '../src/storage/storage.js';

const fileSize = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);

async function writeConversation(storage: Storage, messages: number): Promise<void> {
  const now = new Date().toISOString();
  const user = { id: newId(), name: 'u', createdAt: now };
  await storage.users.createWithKey(user, { id: newId(), userId: user.id, keyHash: newId(), keyPrefix: 'oab_x', createdAt: now });
  const conversationId = newId();
  await storage.conversations.create({ id: conversationId, userId: user.id, title: null, createdAt: now, updatedAt: now });
  for (let i = 0; i < messages; i++) {
    await storage.messages.append({
      id: newId(), conversationId, role: 'user', content: 'x'.repeat(2000), tokens: 500, status: 'complete', toolCalls: null, toolCallId: null, createdAt: now,
    });
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return check();
}

test('committed pages reach the database file from the checkpoint thread, not from the committing connection', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-ckpt-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.db');
  const storage = openSqlite(file);
  await storage.migrate();
  // About 300 pages: far below the backstop threshold, so only the thread can move them.
  const before = fileSize(file);
  await writeConversation(storage, 150);
  assert.ok(fileSize(`${file}-wal`) > 500_000, 'the commits are in the WAL');
  assert.ok(await until(() => fileSize(file) > before + 250_000, 5000), `database file stayed at ${fileSize(file)} bytes`);
  await storage.close();

  // Everything committed is there after close, read by a fresh connection.
  const check = new SQLite(file, { readonly: true });
  t.after(() => check.close());
  assert.equal((check.prepare('select count(*) as n from messages').get() as { n: number }).n, 150);
  assert.equal((check.pragma('integrity_check') as Array<{ integrity_check: string }>)[0]!.integrity_check, 'ok');
});

test('without the thread, the same writes stay in the WAL until SQLite checkpoints itself', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oab-ckpt-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'app.db');
  const storage = openSqlite(file, { backgroundCheckpoints: false });
  await storage.migrate();
  const before = fileSize(file);
  await writeConversation(storage, 150);
  assert.equal(await until(() => fileSize(file) > before + 250_000, 500), false);
  await storage.close();
});
