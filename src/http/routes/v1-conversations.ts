import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConversationItemsService } from '../../services/responses/conversations.js';
import { addItemsBody, createConversationBody, listQuery, updateConversationBody } from '../../services/responses/request-schema.js';
import { idParams } from '../schemas.js';
import { OPENAI_BODY_LIMIT_BYTES } from './openai-compatible.js';

const tags = ['responses'];
const security = [{ bearerAuth: [] }];
const itemParams = idParams.extend({ item_id: idParams.shape.id });

/** OpenAI's Conversations API: our conversations (the same as /conversations and /chat use) and their items. */
export function v1ConversationRoutes(deps: { conversationItems: ConversationItemsService }): FastifyPluginAsyncZod {
  const { conversationItems: conversations } = deps;
  return async (app) => {
    app.post(
      '/v1/conversations',
      { bodyLimit: OPENAI_BODY_LIMIT_BYTES, schema: { tags, security, summary: 'Create a conversation, with items and metadata', body: createConversationBody } },
      async (request) => conversations.create(request.user.id, request.body),
    );

    app.get(
      '/v1/conversations/:id',
      { schema: { tags, security, summary: 'Retrieve a conversation (also one made by /chat)', params: idParams } },
      async (request) => conversations.get(request.user.id, request.params.id),
    );

    app.post(
      '/v1/conversations/:id',
      { schema: { tags, security, summary: "Update a conversation's metadata", params: idParams, body: updateConversationBody } },
      async (request) => conversations.update(request.user.id, request.params.id, request.body.metadata),
    );

    app.delete(
      '/v1/conversations/:id',
      { schema: { tags, security, summary: 'Delete a conversation and its items', params: idParams } },
      async (request) => conversations.delete(request.user.id, request.params.id),
    );

    app.get(
      '/v1/conversations/:id/items',
      { schema: { tags, security, summary: "A conversation's items (also the messages of /chat)", params: idParams, querystring: listQuery } },
      async (request) => conversations.listItems(request.user.id, request.params.id, request.query),
    );

    app.post(
      '/v1/conversations/:id/items',
      { bodyLimit: OPENAI_BODY_LIMIT_BYTES, schema: { tags, security, summary: 'Add items to a conversation', params: idParams, body: addItemsBody } },
      async (request) => conversations.addItems(request.user.id, request.params.id, request.body.items),
    );

    app.get(
      '/v1/conversations/:id/items/:item_id',
      { schema: { tags, security, summary: 'Retrieve one item', params: itemParams, querystring: z.looseObject({}) } },
      async (request) => conversations.getItem(request.user.id, request.params.id, request.params.item_id),
    );

    app.delete(
      '/v1/conversations/:id/items/:item_id',
      { schema: { tags, security, summary: 'Delete one item; answers the conversation', params: itemParams } },
      async (request) => conversations.deleteItem(request.user.id, request.params.id, request.params.item_id),
    );
  };
}
