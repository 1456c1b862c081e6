import type { Kysely, Selectable } from 'kysely';
import { newestFirst } from './page.js';
import type { Database, TasksTable } from './schema.js';
import type { Task, TaskRepository } from './storage.js';

const toTask = (r: Selectable<TasksTable>): Task => ({
  id: r.id,
  userId: r.user_id,
  title: r.title,
  description: r.description,
  priority: r.priority,
  status: r.status,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function taskRepository(db: Kysely<Database>): TaskRepository {
  return {
    async create(t) {
      await db
        .insertInto('tasks')
        .values({
          id: t.id,
          user_id: t.userId,
          title: t.title,
          description: t.description,
          priority: t.priority,
          status: t.status,
          created_at: t.createdAt,
          updated_at: t.updatedAt,
        })
        .execute();
    },

    async get(userId, id) {
      const row = await db.selectFrom('tasks').selectAll().where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return row && toTask(row);
    },

    async list(userId, { status, ...page }) {
      let query = db.selectFrom('tasks').selectAll().where('user_id', '=', userId);
      if (status) query = query.where('status', '=', status);
      return newestFirst(query, page, toTask);
    },

    async update(userId, id, changes) {
      // `undefined` leaves a column alone; `null` (description only) clears it.
      const result = await db
        .updateTable('tasks')
        .set({
          updated_at: changes.updatedAt,
          ...(changes.title !== undefined && { title: changes.title }),
          ...(changes.description !== undefined && { description: changes.description }),
          ...(changes.priority !== undefined && { priority: changes.priority }),
          ...(changes.status !== undefined && { status: changes.status }),
        })
        .where('id', '=', id)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return undefined;
      return this.get(userId, id);
    },

    async delete(userId, id) {
      const result = await db.deleteFrom('tasks').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    },
  };
}
