import { z } from 'zod';
import type { Task } from '../storage/storage.js';
import { taskPriority, taskStatus } from './task-schemas.js';

/**
 * A task as clients see it, in snake_case: the task API's response body and the
 * agent tools' results alike, so a model and an HTTP client read the same shape.
 */
export const taskJson = z.object({
  id: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  priority: taskPriority,
  status: taskStatus,
  created_at: z.string(),
  updated_at: z.string(),
});

type TaskJson = z.infer<typeof taskJson>;

export const toTaskJson = (t: Task): TaskJson => ({
  id: t.id,
  title: t.title,
  description: t.description,
  priority: t.priority,
  status: t.status,
  created_at: t.createdAt,
  updated_at: t.updatedAt,
});
