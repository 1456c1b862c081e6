import { z } from 'zod';
import { AppError } from '../../errors.js';
import type { CallOptions, ChatCompletionTool } from '../../upstream/chat-model.js';
import { toTaskJson } from '../task-json.js';
import { changesSomething, createTaskInput, listTasksInput, taskId, updateTaskFields } from '../task-schemas.js';
import { DEFAULT_TOP_K, searchInput } from '../search-schemas.js';
import type { SearchService } from '../search-service.js';
import type { TaskService } from '../task-service.js';

export type JsonObject = { [key: string]: unknown };

/**
 * A function the model may call. `input` is the one zod schema of its arguments:
 * the JSON Schema offered to the model is generated from it, and the arguments
 * the model sends are checked against it before `run` sees them.
 */
export interface Tool<Input = unknown> {
  name: string;
  description: string;
  input: z.ZodType<Input>;
  /** Acts for `userId` only; the user never comes from the model's arguments. `options`: the request's, for a tool that calls a model (search embeds its query). */
  run(userId: string, args: Input, options: CallOptions): Promise<JsonObject>;
}

/** Keeps each tool's argument type tied to its schema, then erases it for the tool list. */
const defineTool = <S extends z.ZodType>(tool: Tool<z.output<S>> & { input: S }): Tool => tool as Tool;

/** The most tasks one list_tasks call returns; the model is told when there are more. */
const LIST_LIMIT = 100;

const updateTaskToolInput = updateTaskFields.extend({ id: taskId }).refine(changesSomething, {
  message: `Give at least one of ${Object.keys(updateTaskFields.shape).join(', ')} besides id`,
});

/** The task tools, acting through the same services (and schemas) as the task and search APIs. */
export function taskTools(tasks: TaskService, search: SearchService): Tool[] {
  return [
    defineTool({
      name: 'create_task',
      description: "Create a task in the user's task list. Returns the created task.",
      input: createTaskInput,
      run: async (userId, args) => toTaskJson(await tasks.create(userId, args)),
    }),
    defineTool({
      name: 'list_tasks',
      description: `List the user's tasks, newest first (at most ${LIST_LIMIT}). Returns {"tasks": [...], "has_more"}.`,
      input: listTasksInput,
      run: async (userId, args) => {
        const page = await tasks.list(userId, { status: args.status, limit: LIST_LIMIT });
        return { tasks: page.data.map(toTaskJson), has_more: page.nextCursor !== null };
      },
    }),
    defineTool({
      name: 'update_task',
      description:
        'Change a task of the user by id: its title, description, priority or status (status "completed" completes it). ' +
        'Returns the updated task.',
      input: updateTaskToolInput,
      run: async (userId, { id, ...changes }) => toTaskJson(await tasks.update(userId, id, changes)),
    }),
    defineTool({
      name: 'delete_task',
      description: 'Delete a task of the user by id. Returns {"deleted": true, "id"}.',
      input: z.object({ id: taskId }),
      run: async (userId, { id }) => {
        await tasks.delete(userId, id);
        return { deleted: true, id };
      },
    }),
    defineTool({
      name: 'search_tasks',
      description:
        "Find the user's tasks closest in meaning to a query (semantic search). " +
        'Returns {"results": [{"id", "title", "similarity"}]}, most similar first.',
      input: searchInput,
      run: async (userId, { query, top_k: topK = DEFAULT_TOP_K }, options) => ({
        results: await search.search(userId, query, topK, options),
      }),
    }),
  ];
}

/** The `tools` parameter of a chat completion request, generated from the tools' zod schemas. */
export function toolDefinitions(tools: readonly Tool[]): ChatCompletionTool[] {
  return tools.map((tool) => {
    const { $schema: _dialect, ...parameters } = z.toJSONSchema(tool.input, { io: 'input' });
    return { type: 'function', function: { name: tool.name, description: tool.description, parameters } };
  });
}

/** One call the model asked for, as it arrived. */
export interface ToolCallRequest {
  id: string;
  name: string;
  /** The raw arguments string; it may not be JSON at all. */
  arguments: string;
}

/** What a call did: its arguments (parsed when they are a JSON object, else as received) and its result. */
export interface ToolCallOutcome {
  id: string;
  name: string;
  arguments: JsonObject | string;
  /** The tool's result, or `{"error": "…"}` (with a `code` when the error has one). */
  result: JsonObject;
}

const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Arguments as shown to clients: the JSON object they encode, or the raw string when
 * they are not one. Some models send "" for a call without arguments: that is {}.
 */
export function parseArguments(raw: string): JsonObject | string {
  try {
    const value: unknown = JSON.parse(raw || '{}');
    return isJsonObject(value) ? value : raw;
  } catch {
    return raw;
  }
}

const describeIssues = (error: z.ZodError): string =>
  error.issues.map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message)).join('; ');

/**
 * Runs one call for `userId`. Never throws: unknown tools, arguments that are not
 * JSON or fail the schema, and tools that fail all become an `{"error"}` result,
 * which the model reads as the tool's answer and can correct.
 */
export async function runToolCall(tools: readonly Tool[], userId: string, call: ToolCallRequest, options: CallOptions = {}): Promise<ToolCallOutcome> {
  let parsed: unknown;
  let parses = true;
  try {
    parsed = JSON.parse(call.arguments || '{}');
  } catch {
    parses = false;
  }
  const outcome = (result: JsonObject): ToolCallOutcome => ({
    id: call.id,
    name: call.name,
    arguments: parses && isJsonObject(parsed) ? parsed : call.arguments,
    result,
  });

  const tool = tools.find((t) => t.name === call.name);
  if (!tool) return outcome({ error: `Unknown tool ${JSON.stringify(call.name)}; available: ${tools.map((t) => t.name).join(', ')}` });
  if (!parses) return outcome({ error: 'The arguments are not valid JSON' });
  const args = tool.input.safeParse(parsed);
  if (!args.success) return outcome({ error: `Invalid arguments: ${describeIssues(args.error)}` });
  try {
    return outcome(await tool.run(userId, args.data, options));
  } catch (error) {
    // Our own errors are meant to be read (e.g. "Task not found"); anything else stays internal.
    if (error instanceof AppError) return outcome({ error: error.message, code: error.code });
    return outcome({ error: `${call.name} failed`, code: 'internal_error' });
  }
}
