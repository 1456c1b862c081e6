import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_DATABASES } from './helpers/databases.js';
import { createTestApp, type TestApp } from './helpers/test-app.js';

interface TaskJson {
  id: string;
  title: string;
  description: string | null;
  priority: 'low' | 'medium' | 'high';
  status: 'pending' | 'completed';
  created_at: string;
  updated_at: string;
}

for (const database of TEST_DATABASES) {
  describe(`tasks API (${database.name})`, () => {
    let t: TestApp;
    let alice: string;
    let bob: string;
    before(async () => {
      t = await createTestApp({ database });
      alice = (await t.createUser('alice')).apiKey;
      bob = (await t.createUser('bob')).apiKey;
    });
    after(() => t.close());

    const create = async (key: string, body: Record<string, unknown>): Promise<TaskJson> => {
      const res = await t.request({ method: 'POST', url: '/tasks', key, json: body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    };
    const list = async (key: string, query = ''): Promise<{ data: TaskJson[]; next_cursor: string | null }> => {
      const res = await t.request({ method: 'GET', url: `/tasks${query}`, key });
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    };
    const assertValidationError = (res: { statusCode: number; json(): any }, field: string) => {
      assert.equal(res.statusCode, 422);
      const { error } = res.json();
      assert.equal(error.code, 'validation_error');
      assert.match(error.message, new RegExp(field.replace('.', '\\.')), `"${error.message}" names ${field}`);
    };

    test('creating with a title only defaults to priority medium, status pending and no description', async () => {
      const task = await create(alice, { title: 'Buy milk' });
      assert.deepEqual(Object.keys(task).sort(), ['created_at', 'description', 'id', 'priority', 'status', 'title', 'updated_at']);
      assert.equal(task.title, 'Buy milk');
      assert.equal(task.description, null);
      assert.equal(task.priority, 'medium');
      assert.equal(task.status, 'pending');
      assert.equal(new Date(task.created_at).toISOString(), task.created_at);
      assert.equal(task.updated_at, task.created_at);
    });

    test('every field round-trips through create and get, with the title trimmed', async () => {
      const task = await create(alice, { title: '  Write report  ', description: 'Q3 numbers\nwith charts', priority: 'high' });
      assert.equal(task.title, 'Write report');
      assert.equal(task.description, 'Q3 numbers\nwith charts');
      assert.equal(task.priority, 'high');
      const res = await t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), task);
    });

    test('completing a task via PATCH sets its status and bumps updated_at', async () => {
      const task = await create(alice, { title: 'Finish me' });
      await sleep(5);
      const res = await t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json: { status: 'completed' } });
      assert.equal(res.statusCode, 200);
      const done: TaskJson = res.json();
      assert.equal(done.status, 'completed');
      assert.equal(done.title, 'Finish me');
      assert.equal(done.created_at, task.created_at);
      assert.ok(done.updated_at > task.updated_at, `${done.updated_at} > ${task.updated_at}`);
      assert.deepEqual((await t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice })).json(), done);
    });

    test('PATCH changes title, description and priority, and null clears the description', async () => {
      const task = await create(alice, { title: 'old', description: 'details', priority: 'low' });
      const res = await t.request({
        method: 'PATCH',
        url: `/tasks/${task.id}`,
        key: alice,
        json: { title: 'new', priority: 'high' },
      });
      assert.equal(res.statusCode, 200);
      assert.deepEqual([res.json().title, res.json().description, res.json().priority], ['new', 'details', 'high']);
      const cleared = await t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json: { description: null } });
      assert.equal(cleared.statusCode, 200);
      assert.equal(cleared.json().description, null);
      assert.equal(cleared.json().title, 'new');
    });

    test('PATCH without any field is a 422', async () => {
      const task = await create(alice, { title: 'unchanged' });
      for (const json of [{}, { unknown: 'x' }]) {
        const res = await t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json });
        assertValidationError(res, 'title');
      }
    });

    test('the status filter lists pending, completed or all tasks', async () => {
      const { apiKey } = await t.createUser('filterer');
      const open = await create(apiKey, { title: 'open' });
      const closed = await create(apiKey, { title: 'closed' });
      await t.request({ method: 'PATCH', url: `/tasks/${closed.id}`, key: apiKey, json: { status: 'completed' } });
      const ids = async (query: string) => (await list(apiKey, query)).data.map((x) => x.id);
      assert.deepEqual(await ids('?status=pending'), [open.id]);
      assert.deepEqual(await ids('?status=completed'), [closed.id]);
      assert.deepEqual(await ids('?status=all'), [closed.id, open.id]);
      assert.deepEqual(await ids(''), [closed.id, open.id]);
    });

    test('invalid input is a 422 naming the field', async () => {
      const cases: Array<[string, () => Promise<{ statusCode: number; json(): any }>]> = [
        ['body.title', () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: '' } })],
        ['body.title', () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: '   ' } })],
        ['body.title', () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: 'x'.repeat(501) } })],
        ['body.title', () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { description: 'no title' } })],
        ['body.priority', () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: 'a', priority: 'urgent' } })],
        [
          'body.description',
          () => t.request({ method: 'POST', url: '/tasks', key: alice, json: { title: 'a', description: 'd'.repeat(10_001) } }),
        ],
        ['querystring.status', () => t.request({ method: 'GET', url: '/tasks?status=done', key: alice })],
        ['querystring.limit', () => t.request({ method: 'GET', url: '/tasks?limit=0', key: alice })],
        ['querystring.limit', () => t.request({ method: 'GET', url: '/tasks?limit=101', key: alice })],
      ];
      for (const [field, send] of cases) assertValidationError(await send(), field);

      const task = await create(alice, { title: 'target' });
      const patch = (json: unknown) => t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: alice, json });
      assertValidationError(await patch({ status: 'done' }), 'body.status');
      assertValidationError(await patch({ title: '' }), 'body.title');
      assertValidationError(await patch({ priority: 'urgent' }), 'body.priority');
    });

    test('the longest title and description are accepted', async () => {
      const task = await create(alice, { title: 'x'.repeat(500), description: 'd'.repeat(10_000) });
      assert.equal(task.title.length, 500);
      assert.equal(task.description?.length, 10_000);
    });

    test('listing is newest first and pages with next_cursor until null', async () => {
      const { apiKey } = await t.createUser('pager');
      const made: string[] = [];
      for (let i = 0; i < 5; i++) made.push((await create(apiKey, { title: `t${i}` })).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await list(apiKey, `?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.ok(page.data.length <= 2);
        seen.push(...page.data.map((x) => x.id));
        cursor = page.next_cursor;
        pages++;
      } while (cursor);
      assert.equal(pages, 3);
      assert.deepEqual(seen, made.reverse());
    });

    test('pagination combines with the status filter', async () => {
      const { apiKey } = await t.createUser('filtered-pager');
      const pending: string[] = [];
      for (let i = 0; i < 4; i++) {
        const task = await create(apiKey, { title: `t${i}` });
        if (i % 2) await t.request({ method: 'PATCH', url: `/tasks/${task.id}`, key: apiKey, json: { status: 'completed' } });
        else pending.push(task.id);
      }
      const first = await list(apiKey, '?status=pending&limit=1');
      assert.deepEqual(first.data.map((x) => x.id), [pending[1]]);
      assert.ok(first.next_cursor);
      const second = await list(apiKey, `?status=pending&limit=1&cursor=${encodeURIComponent(first.next_cursor)}`);
      assert.deepEqual(second.data.map((x) => x.id), [pending[0]]);
      assert.equal(second.next_cursor, null);
    });

    test('delete answers 204, then the task is gone', async () => {
      const task = await create(alice, { title: 'temporary' });
      const res = await t.request({ method: 'DELETE', url: `/tasks/${task.id}`, key: alice });
      assert.equal(res.statusCode, 204);
      assert.equal(res.body, '');
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const again = await t.request({
          method,
          url: `/tasks/${task.id}`,
          key: alice,
          ...(method === 'PATCH' && { json: { title: 'back' } }),
        });
        assert.equal(again.statusCode, 404, method);
        assert.equal(again.json().error.code, 'not_found');
      }
      assert.ok(!(await list(alice)).data.some((x) => x.id === task.id));
    });

    test("another user's task answers 404 to every verb, like a missing one, and never appears in their list", async () => {
      const task = await create(alice, { title: 'private', description: 'secret' });
      const attempts = [
        { method: 'GET' as const, url: `/tasks/${task.id}` },
        { method: 'PATCH' as const, url: `/tasks/${task.id}`, json: { status: 'completed' } },
        { method: 'DELETE' as const, url: `/tasks/${task.id}` },
        { method: 'GET' as const, url: '/tasks/no-such-task' },
      ];
      const bodies = [];
      for (const attempt of attempts) {
        const res = await t.request({ ...attempt, key: bob });
        assert.equal(res.statusCode, 404, `${attempt.method} ${attempt.url}`);
        const { error } = res.json();
        assert.equal(error.code, 'not_found');
        bodies.push(error.message);
      }
      assert.equal(new Set(bodies).size, 1, 'a foreign id reads exactly like a missing one');
      for (const query of ['', '?status=pending', '?status=all']) {
        assert.ok(!(await list(bob, query)).data.some((x) => x.id === task.id), query);
      }
      const still = await t.request({ method: 'GET', url: `/tasks/${task.id}`, key: alice });
      assert.deepEqual(still.json(), task);
    });

    test('tasks need an API key', async () => {
      const res = await t.request({ method: 'GET', url: '/tasks' });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error.code, 'unauthorized');
    });

    test('the OpenAPI document describes the task endpoints', async () => {
      const doc = (await t.request({ method: 'GET', url: '/openapi.json' })).json();
      assert.ok(doc.paths['/tasks'].post);
      assert.ok(doc.paths['/tasks'].get);
      assert.ok(doc.paths['/tasks/{id}'].patch);
      assert.ok(doc.paths['/tasks/{id}'].delete);
    });
  });
}
