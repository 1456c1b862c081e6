import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_DATABASES } from './helpers/databases.js';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';

/**
 * Found while fuzzing the agent with the fake's tool directives: tool arguments holding U+0000
 * (written `\u0000` in the JSON, so the request itself holds none) reach storage. PostgreSQL
 * refuses them, and the tool answers the model `{"error":"create_task failed","code":
 * "internal_error"}`, logged nowhere; SQLite stores them. The HTTP API refuses such strings
 * (bug-nul-character-500-on-postgres.test.ts); the tools do too, as invalid arguments, and an id
 * holding one is one that does not exist.

 */
for (const database of TEST_DATABASES) {
  describe(`agent tool arguments holding U+0000 (${database.name})`, () => {
    let fixture: ChatFixture;
    let key: string;
    before(async () => {
      fixture = await createChatFixture({ database, env: { OPENAI_MAX_RETRIES: '0' } });
      key = (await fixture.t.createUser()).apiKey;
    });
    after(() => fixture.close());

    const cases: Array<[string, RegExp]> = [
      ['[[tool:create_task {"title":"a\\u0000b"}]] go', /invalid arguments/i],
      ['[[tool:update_task {"id":"\\u0000","title":"x"}]] go', /not found/i],
    ];
    for (const [message, expected] of cases) {
      test(`${message}: the tool answers ${expected}, never internal_error`, async () => {
        const res = await fixture.t.request({ method: 'POST', url: '/agent', key, json: { message } });
        assert.equal(res.statusCode, 200);
        const [call] = res.json().tool_calls as Array<{ result: { error?: string; code?: string } }>;
        assert.notEqual(call?.result.code, 'internal_error');
        assert.match(String(call?.result.error), expected);
      });
    }
  });
}
