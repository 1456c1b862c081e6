import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamExpiredError } from '../src/errors.js';
import { memoryStreamHub } from '../src/streams/memory-hub.js';

/** Opens, fills and ends one log of `events` events of about 100 characters each; its id. */
async function endedLog(hub: ReturnType<typeof memoryStreamHub>, events: number): Promise<string> {
  const producer = await hub.open({ userId: 'u', kind: 'chat', policy: 'background', context: {} });
  for (let i = 0; i < events; i++) await producer.append(JSON.stringify({ content: `${i} ${'x'.repeat(100)}` }));
  await producer.end();
  return producer.id;
}

async function readable(hub: ReturnType<typeof memoryStreamHub>, id: string): Promise<boolean> {
  try {
    await hub.check('u', id);
    return true;
  } catch (error) {
    assert.ok(error instanceof StreamExpiredError, `a dropped log answers 410 stream_expired, not ${String(error)}`);
    return false;
  }
}

test('the in-process hub keeps ended logs within its byte bound: the oldest go first (410) and the newest replay whole', async () => {
  // A log of 10 events of ~110 characters is a few kilobytes: the bound holds some of 12, not all.
  const hub = memoryStreamHub({ retentionMs: 60_000, graceMs: 1_000, maxEndedBytes: 20_000 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await endedLog(hub, 10));
    const kept: boolean[] = [];
    for (const id of ids) kept.push(await readable(hub, id));
    const firstKept = kept.indexOf(true);
    assert.ok(firstKept > 0, `some of the oldest were dropped: ${kept.join(',')}`);
    assert.ok(kept.slice(firstKept).every(Boolean), `every log ended after the oldest one kept is kept: ${kept.join(',')}`);
    assert.ok(kept.length - firstKept >= 2, 'more than one log fits');

    const events: string[] = [];
    for await (const event of hub.read('u', ids.at(-1)!, { after: 0 })) events.push(event.data);
    assert.equal(events.length, 10);
    assert.equal(JSON.parse(events[9]!).content.split(' ')[0], '9');
  } finally {
    await hub.close();
  }
});

test('a running log is not dropped for the bound, however large; it counts once it ends', async () => {
  const hub = memoryStreamHub({ retentionMs: 60_000, graceMs: 1_000, maxEndedBytes: 5_000 });
  try {
    const older = await endedLog(hub, 2);
    const producer = await hub.open({ userId: 'u', kind: 'chat', policy: 'background', context: {} });
    for (let i = 0; i < 100; i++) await producer.append(JSON.stringify({ content: 'y'.repeat(100) }));
    assert.equal(await readable(hub, producer.id), true, 'running: kept');
    assert.equal(await readable(hub, older), true, 'a running log does not push ended ones out');
    await producer.end();
    assert.equal(await readable(hub, older), false, 'the older ended log went first');
    // Alone over the bound, the log that just ended goes too: nothing ended is kept past the bound.
    assert.equal(await readable(hub, producer.id), false);
  } finally {
    await hub.close();
  }
});
