import { z } from 'zod';
import type { TaskPriority, TaskStatus } from '../storage/storage.js';

/**
 * The one definition of what a task input may be. The HTTP routes use these as
 * body and query schemas, and the agent's task tools derive their JSON Schema
 * and argument validation from them, so both accept exactly the same things.
 * The descriptions are written to be shown to a model.
 *
 * No transforms here (only checks such as trim), so every schema converts to
 * JSON Schema. Defaults (priority medium, status pending, filter all) are
 * applied by the task service, not here, so that they show as optional inputs.
 */

export const taskId = z.string().min(1).max(100).describe('The id of the task, as returned when it was created or listed');

/** U+0000 fits no text column of PostgreSQL: refused as the client's mistake on both databases. */
const NO_NUL = /^[^\u0000]*$/;

const taskTitle = z
  .string()
  .trim()
  .min(1)
  .max(500)
  .regex(NO_NUL, 'must not contain U+0000')
  .describe('Short summary of the task, 1 to 500 characters');

const taskDescription = z
  .string()
  .max(10_000)
  .regex(NO_NUL, 'must not contain U+0000')
  .nullable()
  .describe('Optional details of the task, up to 10,000 characters; null for none');

export const taskPriority = z
  .enum(['low', 'medium', 'high'])
  .describe('How important the task is: low, medium or high') satisfies z.ZodType<TaskPriority>;

export const taskStatus = z
  .enum(['pending', 'completed'])
  .describe('pending while the task is open, completed once it is done') satisfies z.ZodType<TaskStatus>;

const taskStatusFilter = z
  .enum(['pending', 'completed', 'all'])
  .describe('Which tasks to return: pending, completed or all');

export const createTaskInput = z.object({
  title: taskTitle,
  description: taskDescription.optional(),
  priority: taskPriority.optional().describe('How important the task is: low, medium or high; medium when omitted'),
});

/** The fields a task update may change, each optional; see `updateTaskInput` for the whole rule. */
export const updateTaskFields = z.object({
  title: taskTitle.optional(),
  description: taskDescription.optional().describe('New details of the task, up to 10,000 characters; null removes them'),
  priority: taskPriority.optional(),
  status: taskStatus.optional().describe('completed marks the task done; pending reopens it'),
});

const UPDATABLE = Object.keys(updateTaskFields.shape) as Array<keyof typeof updateTaskFields.shape>;

/** True when `input` changes at least one task field (other keys, such as an id, do not count). */
export const changesSomething = (input: Partial<Record<(typeof UPDATABLE)[number], unknown>>): boolean =>
  UPDATABLE.some((field) => input[field] !== undefined);

export const updateTaskInput = updateTaskFields.refine(changesSomething, {
  message: `Give at least one of ${UPDATABLE.join(', ')}`,
});

export const listTasksInput = z.object({
  status: taskStatusFilter.optional().describe('Which tasks to return: pending, completed or all; all when omitted'),
});

export type CreateTaskInput = z.infer<typeof createTaskInput>;
export type UpdateTaskInput = z.infer<typeof updateTaskInput>;
export type TaskStatusFilter = z.infer<typeof taskStatusFilter>;
