import { NotFoundError } from '../errors.js';

/** An id holding U+0000 was never issued (and PostgreSQL cannot even compare one): it does not exist. */
const possibleId = (id: string): boolean => !id.includes('\u0000');
import { newId } from '../shared/ids.js';
import type { Page, Storage, Task } from '../storage/storage.js';
import type { CreateTaskInput, TaskStatusFilter, UpdateTaskInput } from './task-schemas.js';

/**
 * Keeps task embeddings current (embedding-worker.ts). A task whose title or description
 * is written is queued for embedding in the same transaction, then `indexNow` tries at
 * once; it never throws, so a write never fails because embeddings are unavailable.
 */
interface TaskIndexer {
  newJobDueAt(): string;
  indexNow(taskId: string): Promise<void>;
}

/**
 * A user's tasks, for the HTTP API and the agent's tools alike. Inputs arrive
 * already checked against task-schemas.ts; this applies the defaults and keeps
 * every call scoped to one user: another user's id is "not found".
 */
export function taskService(storage: Storage, indexer?: TaskIndexer) {
  const queueJob = (taskId: string, userId: string) => ({
    taskId,
    userId,
    version: newId(),
    notBefore: indexer?.newJobDueAt() ?? new Date().toISOString(),
  });
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
      await storage.transaction(async (tx) => {
        await tx.tasks.create(task);
        await tx.embeddings.enqueue(queueJob(task.id, userId));
      });
      await indexer?.indexNow(task.id);
      return task;
    },

    async get(userId: string, id: string): Promise<Task> {
      if (!possibleId(id)) throw new NotFoundError('Task');
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
      if (!possibleId(id)) throw new NotFoundError('Task');
      const write = { ...changes, updatedAt: new Date().toISOString() };
      // Only a new title or description can change the embedding; the embedder also skips an identical text.
      const textChanged = changes.title !== undefined || changes.description !== undefined;
      const updated = textChanged
        ? await storage.transaction(async (tx) => {
            const task = await tx.tasks.update(userId, id, write);
            if (task) await tx.embeddings.enqueue(queueJob(id, userId));
            return task;
          })
        : await storage.tasks.update(userId, id, write);
      if (!updated) throw new NotFoundError('Task');
      if (textChanged) await indexer?.indexNow(id);
      return updated;
    },

    async delete(userId: string, id: string): Promise<void> {
      if (!possibleId(id)) throw new NotFoundError('Task');
      if (!(await storage.tasks.delete(userId, id))) throw new NotFoundError('Task');
    },
  };
}

export type TaskService = ReturnType<typeof taskService>;
