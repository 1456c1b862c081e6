import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StreamHub } from '../../streams/stream-hub.js';
import type { ChatReply, ChatService } from '../../services/chat-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { chatBody, chatMessage, eventStream, idParams, turnErrors, turnInput } from '../schemas.js';
import { writeEventStream } from '../sse.js';
import { streamPolicy, streamPolicyFields } from './streams.js';

const chatReply = z.object({ message: z.string(), conversation_id: z.string(), tokens_used: z.number().int() });
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
          response: { 200: chatReply, ...turnErrors },
        },
      },
      async (request, reply) => toChatReply(await chat.reply(turnInput(request.user.id, request.body), modelCallOptions(request, reply))),
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
          response: { 200: chatReply, ...turnErrors },
        },
      },
      async (request, reply) =>
        toChatReply(await chat.reply(turnInput(request.user.id, request.body, request.params.id), modelCallOptions(request, reply))),
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
          response: { 200: eventStream, ...turnErrors },
        },
      },
      async (request, reply) => {
        const target = { hub: streams, kind: 'chat' as const, policy: streamPolicy(request.body) };
        await writeEventStream(request, reply, target, (options) => chat.stream(turnInput(request.user.id, request.body), options), (event) =>
          event.type === 'content' ? { content: event.content } : { usage: event.usage },
        );
      },
    );
  };
}
