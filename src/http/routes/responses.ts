import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createResponseBody, listQuery } from '../../services/responses/request-schema.js';
import type { ResponsesService } from '../../services/responses/responses-service.js';
import type { ResponseEvent } from '../../services/responses/stream-events.js';
import { modelCallOptions } from '../model-call-options.js';
import type { OpenAIErrorObject } from '../openai-errors.js';
import { idParams } from '../schemas.js';
import { writeLoggedStream, writeOpenAIStream } from '../sse.js';
import { abortOnDisconnect } from '../client-disconnect.js';
import { OPENAI_BODY_LIMIT_BYTES } from './openai-compatible.js';

const tags = ['responses'];
const security = [{ bearerAuth: [] }];

/** A response's typed events as OpenAI streams them: `event: <type>` and the event as `data:`. */
async function* serialised(events: AsyncIterable<ResponseEvent>) {
  for await (const event of events) yield { event: event.type, data: JSON.stringify(event) };
}

/** The service ends its own events (completed, incomplete or failed); anything that still escapes is OpenAI's `error` event. */
const errorEvent = ({ code, message, param }: OpenAIErrorObject) => ({ event: 'error', data: { type: 'error', code, message, param } });

/** OpenAI's Responses API (stateful, over the Chat Completions upstream): create, retrieve, delete, input items. */
export function responseRoutes(deps: { responses: ResponsesService }): FastifyPluginAsyncZod {
  const { responses } = deps;
  return async (app) => {
    app.post(
      '/v1/responses',
      {
        config: { modelCall: true },
        bodyLimit: OPENAI_BODY_LIMIT_BYTES,
        schema: {
          tags,
          security,
          summary: 'Create a model response (OpenAI Responses API)',
          description:
            'Served over the Chat Completions upstream: instructions, stored history (previous_response_id or conversation, within MODEL_CONTEXT_TOKENS) and the input items become one chat completion call. With stream: true, OpenAI\'s typed events (`event:` + `data:` with sequence_number).',
          body: createResponseBody,
        },
      },
      async (request, reply) => {
        const options = modelCallOptions(request, reply);
        if (request.body.background) {
          const queued = await responses.background(request.user.id, request.body, options);
          if (!request.body.stream) return queued;
          const disconnected = abortOnDisconnect(reply);
          return writeLoggedStream(request, reply, await responses.resume(request.user.id, queued.id, -1, disconnected), disconnected);
        }
        if (request.body.stream) return writeOpenAIStream(request, reply, serialised(await responses.stream(request.user.id, request.body, options)), errorEvent);
        return responses.create(request.user.id, request.body, options);
      },
    );

    app.get(
      '/v1/responses/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Retrieve a stored response',
          params: idParams,
          querystring: z.looseObject({
            stream: z.enum(['true', 'false']).optional().describe('true: replay the events of a background response and follow it to its end'),
            starting_after: z.coerce.number().int().min(-1).optional().describe('The sequence number after which to replay'),
          }),
        },
      },
      async (request, reply) => {
        if (request.query.stream !== 'true') return responses.get(request.user.id, request.params.id);
        const disconnected = abortOnDisconnect(reply);
        const events = await responses.resume(request.user.id, request.params.id, request.query.starting_after ?? -1, disconnected);
        return writeLoggedStream(request, reply, events, disconnected);
      },
    );

    app.post(
      '/v1/responses/:id/cancel',
      { schema: { tags, security, summary: 'Cancel a background response (idempotent)', params: idParams, body: z.looseObject({}).nullish() } },
      async (request) => responses.cancel(request.user.id, request.params.id),
    );

    app.delete(
      '/v1/responses/:id',
      { schema: { tags, security, summary: 'Delete a stored response', params: idParams } },
      async (request) => responses.delete(request.user.id, request.params.id),
    );

    app.get(
      '/v1/responses/:id/input_items',
      { schema: { tags, security, summary: "A response's input items", params: idParams, querystring: listQuery } },
      async (request) => responses.inputItems(request.user.id, request.params.id, request.query),
    );
  };
}
