import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createTaskInput, listTasksInput, updateTaskInput } from '../../services/task-schemas.js';
import type { TaskService } from '../../services/task-service.js';
import { errorResponses, idParams, pageBody, pageQuery, taskBody, toPageBody, toTaskBody } from '../schemas.js';

const listQuery = listTasksInput.extend(pageQuery(100, 50).shape);
const tags = ['tasks'];
const security = [{ bearerAuth: [] }];

export function taskRoutes(deps: { tasks: TaskService }): FastifyPluginAsyncZod {
  const { tasks } = deps;
  return async (app) => {
    app.post(
      '/tasks',
      {
        schema: {
          tags,
          security,
          summary: 'Create a task',
          body: createTaskInput,
          response: { 201: taskBody, ...errorResponses(400, 401, 413, 422) },
        },
      },
      async (request, reply) => reply.code(201).send(toTaskBody(await tasks.create(request.user.id, request.body))),
    );

    app.get(
      '/tasks',
      {
        schema: {
          tags,
          security,
          summary: 'List tasks, newest first',
          querystring: listQuery,
          response: {
            200: pageBody(taskBody),
            ...errorResponses(401, 422),
          },
        },
      },
      async (request) => toPageBody(await tasks.list(request.user.id, request.query), toTaskBody),
    );

    app.get(
      '/tasks/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Get a task',
          params: idParams,
          response: { 200: taskBody, ...errorResponses(401, 404) },
        },
      },
      async (request) => toTaskBody(await tasks.get(request.user.id, request.params.id)),
    );

    app.patch(
      '/tasks/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Change a task: title, description, priority or status',
          params: idParams,
          body: updateTaskInput,
          response: { 200: taskBody, ...errorResponses(400, 401, 404, 413, 422) },
        },
      },
      async (request) => toTaskBody(await tasks.update(request.user.id, request.params.id, request.body)),
    );

    app.delete(
      '/tasks/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Delete a task',
          params: idParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses(401, 404) },
        },
      },
      async (request, reply) => {
        await tasks.delete(request.user.id, request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
}
