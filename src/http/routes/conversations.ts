import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConversationService } from '../../services/conversation-service.js';
import { conversationBody, errorResponses, idParams, messageBody, pageBody, pageQuery, toConversationBody, toMessageBody, toPageBody } from '../schemas.js';

const title = z.string().trim().min(1).max(200);
const tags = ['conversations'];
const security = [{ bearerAuth: [] }];

export function conversationRoutes(deps: { conversations: ConversationService }): FastifyPluginAsyncZod {
  const { conversations } = deps;
  return async (app) => {
    app.post(
      '/conversations',
      {
        schema: {
          tags,
          security,
          summary: 'Create a conversation',
          body: z.object({ title: title.optional() }).nullish(),
          response: { 201: conversationBody, ...errorResponses(400, 401, 413, 422) },
        },
      },
      async (request, reply) => {
        const conversation = await conversations.create(request.user.id, request.body?.title ?? null);
        return reply.code(201).send(toConversationBody(conversation));
      },
    );

    app.get(
      '/conversations',
      {
        schema: {
          tags,
          security,
          summary: 'List conversations, newest first',
          querystring: pageQuery(100, 20),
          response: {
            200: pageBody(conversationBody),
            ...errorResponses(401, 422),
          },
        },
      },
      async (request) => toPageBody(await conversations.list(request.user.id, request.query), toConversationBody),
    );

    app.get(
      '/conversations/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Get a conversation',
          params: idParams,
          response: { 200: conversationBody, ...errorResponses(401, 404) },
        },
      },
      async (request) => toConversationBody(await conversations.get(request.user.id, request.params.id)),
    );

    app.patch(
      '/conversations/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Rename a conversation',
          params: idParams,
          body: z.object({ title }),
          response: { 200: conversationBody, ...errorResponses(400, 401, 404, 413, 422) },
        },
      },
      async (request) =>
        toConversationBody(await conversations.update(request.user.id, request.params.id, { title: request.body.title })),
    );

    app.delete(
      '/conversations/:id',
      {
        schema: {
          tags,
          security,
          summary: 'Delete a conversation and its messages',
          params: idParams,
          response: { 204: z.null().describe('Deleted'), ...errorResponses(401, 404) },
        },
      },
      async (request, reply) => {
        await conversations.delete(request.user.id, request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/conversations/:id/messages',
      {
        schema: {
          tags,
          security,
          summary: "A conversation's messages, oldest first",
          params: idParams,
          querystring: pageQuery(1000, 200).extend({ cursor: z.string().regex(/^\d{1,15}$/).optional() }),
          response: {
            200: pageBody(messageBody),
            ...errorResponses(401, 404, 422),
          },
        },
      },
      async (request) => toPageBody(await conversations.messages(request.user.id, request.params.id, request.query), toMessageBody),
    );
  };
}
