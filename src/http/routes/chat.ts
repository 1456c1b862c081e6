import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StreamHub } from '../../streams/stream-hub.js';
import type { ChatReply, ChatService } from '../../services/chat-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { chatBody, chatMessage, errorResponses, eventStream, idParams } from '../schemas.js';
import { writeEventStream } from '../sse.js';
import { streamPolicy, streamPolicyFields } from './streams.js';

const chatReply = z.object({ message: z.string(), conversation_id: z.string(), tokens_used: z.number().int() });
const modelErrors = errorResponses(400, 401, 404, 413, 422, 429, 502, 503, 504);
const tags = ['chat'];
const security = [{ bearerAuth: [] }];

const toChatReply = (result: ChatReply): z.infer<typeof chatReply> => ({
  message: result.message,
  conversation_id: result.conversationId,
  tokens_used: result.tokensUsed,
});

export function chatRoutes(deps: { chat: ChatService; streams: StreamHub }): FastifyPluginAsyncZod {
  const { chat, streams } = deps;
  return async (app) => {
    app.post(
      '/chat',
      {
        config: { modelCall: true },
        schema: {
          tags,
          security,
          summary: 'Send a message and get the whole reply',
          body: chatBody,
          response: { 200: chatReply, ...modelErrors },
        },
      },
      async (request, reply) => {
        const result = await chat.reply(
          { userId: request.user.id, message: request.body.message, conversationId: request.body.conversation_id },
          modelCallOptions(request, reply),
        );
        return toChatReply(result);
      },
    );

    app.post(
      '/chat/conversations/:id/messages',
      {
        config: { modelCall: true },
        schema: {
          tags,
          security,
          summary: 'Send a message in an existing conversation',
          params: idParams,
          body: z.object({ message: chatMessage }),
          response: { 200: chatReply, ...modelErrors },
        },
      },
      async (request, reply) => {
        const result = await chat.reply(
          { userId: request.user.id, message: request.body.message, conversationId: request.params.id },
          modelCallOptions(request, reply),
        );
        return toChatReply(result);
      },
    );

    app.post(
      '/chat/stream',
      {
        config: { modelCall: true },
        schema: {
          tags,
          security,
          summary: 'Send a message and stream the reply as server-sent events',
          description:
            'Events: {"conversation_id"} first, then {"content"} deltas, {"usage"}, and [DONE]. A failure before the first ' +
            'token is a normal error response; after it, an {"error","code"} event ends the stream.',
          body: chatBody.extend(streamPolicyFields),
          response: { 200: eventStream, ...modelErrors },
        },
      },
      async (request, reply) => {
        const input = { userId: request.user.id, message: request.body.message, conversationId: request.body.conversation_id };
        const target = { hub: streams, kind: 'chat' as const, policy: streamPolicy(request.body) };
        await writeEventStream(request, reply, target, (options) => chat.stream(input, options), (event) =>
          event.type === 'content' ? { content: event.content } : { usage: event.usage },
        );
      },
    );
  };
}
