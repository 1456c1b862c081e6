import assert from 'node:assert/strict';
import { test } from 'node:test';
import { derivedId, newId } from '../src/shared/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('ids are UUIDv7, unique, and sort in the order they were made (across pool refills)', () => {
  const ids = Array.from({ length: 5000 }, () => newId());
  for (const id of ids) assert.match(id, UUID_V7);
  assert.equal(new Set(ids).size, ids.length);
  assert.deepEqual([...ids].sort(), ids);
});

test('an id carries the time it was made', () => {
  const before = Date.now();
  const id = newId();
  const ms = Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
  assert.ok(ms >= before && ms <= Date.now() + 1, `${ms} not in [${before}, now]`);
});

test('derived ids are UUIDv7 with their base time, the same for everyone who derives them, and distinct', () => {
  const base = newId();
  assert.equal(derivedId(base, 0), base);
  const derived = [1, 2, 3, 10].map((n) => derivedId(base, n));
  for (const id of derived) {
    assert.match(id, UUID_V7);
    assert.equal(id.slice(0, 13), base.slice(0, 13));
  }
  assert.equal(new Set([base, ...derived]).size, 5);
  assert.deepEqual([1, 2, 3, 10].map((n) => derivedId(base, n)), derived);
  assert.notEqual(derivedId(newId(), 1), derived[0]);
});
