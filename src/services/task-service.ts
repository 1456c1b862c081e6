import { NotFoundError } from '../errors.js';
import { newId } from '../ids.js';
import type { Page, Storage, Task } from '../storage/storage.js';
import type { CreateTaskInput, TaskStatusFilter, UpdateTaskInput } from './task-schemas.js';

/**
 * A user's tasks, for the HTTP API and the agent's tools alike. Inputs arrive
 * already checked against task-schemas.ts; this applies the defaults and keeps
 * every call scoped to one user: another user's id is "not found".
 */
export function taskService(storage: Storage) {
  return {
    async create(userId: string, input: CreateTaskInput): Promise<Task> {
      const now = new Date().toISOString();
      const task: Task = {
        id: newId(),
        userId,
        title: input.title,
        description: input.description ?? null,
        priority: input.priority ?? 'medium',
        status: 'pending',
        createdAt: now,
        updatedAt: now,
      };
      await storage.tasks.create(task);
      return task;
    },

    async get(userId: string, id: string): Promise<Task> {
      const task = await storage.tasks.get(userId, id);
      if (!task) throw new NotFoundError('Task');
      return task;
    },

    /** Newest first; `status` all (or omitted) lists every task. */
    list(
      userId: string,
      options: { status?: TaskStatusFilter | undefined; limit: number; cursor?: string | undefined },
    ): Promise<Page<Task>> {
      const { status, ...page } = options;
      return storage.tasks.list(userId, { ...page, ...(status !== 'all' && { status }) });
    },

    async update(userId: string, id: string, changes: UpdateTaskInput): Promise<Task> {
      const updated = await storage.tasks.update(userId, id, { ...changes, updatedAt: new Date().toISOString() });
      if (!updated) throw new NotFoundError('Task');
      return updated;
    },

    async delete(userId: string, id: string): Promise<void> {
      if (!(await storage.tasks.delete(userId, id))) throw new NotFoundError('Task');
    },
  };
}

export type TaskService = ReturnType<typeof taskService>;
