import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StreamHub } from '../../streams/stream-hub.js';
import type { AgentService } from '../../services/agent/agent-service.js';
import { modelCallOptions } from '../model-call-options.js';
import { chatBody, eventStream, turnErrors, turnInput } from '../schemas.js';
import { writeEventStream } from '../sse.js';
import { streamPolicy, streamPolicyFields } from './streams.js';

const jsonObject = z.record(z.string(), z.unknown());
const toolCallBody = z.object({
  name: z.string(),
  arguments: z.union([jsonObject, z.string()]).describe('The arguments as a JSON object, or the raw string when they are not one'),
  result: jsonObject.describe('What the tool returned, or {"error": "…"} when the call failed'),
});
const agentReply = z.object({
  message: z.string().describe("The model's final answer, or a note that AGENT_MAX_ITERATIONS was reached"),
  conversation_id: z.string(),
  tool_calls: z.array(toolCallBody).describe('Every tool call made, in order'),
  iterations: z.number().int().describe('Model calls made'),
  tokens_used: z.number().int().describe('Total tokens of every model call'),
});
const tags = ['agent'];
const security = [{ bearerAuth: [] }];

export function agentRoutes(deps: { agent: AgentService; streams: StreamHub }): FastifyPluginAsyncZod {
  const { agent, streams } = deps;
  return async (app) => {
    app.post(
      '/agent',
      {
        config: { modelCall: true },
        schema: {
          tags,
          security,
          summary: 'Send a message to the task agent, which may call tools, and get its answer',
          description:
            'The model may create, list, update and delete your tasks through tools; calls with bad arguments are answered ' +
            'to the model as tool errors. Stops at a text answer or after AGENT_MAX_ITERATIONS model calls.',
          body: chatBody,
          response: { 200: agentReply, ...turnErrors },
        },
      },
      async (request, reply) => {
        const result = await agent.run(turnInput(request.user.id, request.body), modelCallOptions(request, reply));
        return {
          message: result.message,
          conversation_id: result.conversationId,
          tool_calls: result.toolCalls.map(({ name, arguments: args, result }) => ({ name, arguments: args, result })),
          iterations: result.iterations,
          tokens_used: result.usage.total_tokens,
        };
      },
    );

    app.post(
      '/agent/stream',
      {
        config: { modelCall: true },
        schema: {
          tags,
          security,
          summary: 'Send a message to the task agent and stream its work as server-sent events',
          description:
            'Events: {"conversation_id"} first, then {"content"} deltas, {"tool_call":{"name","arguments"}} once a call is ' +
            'complete, {"tool_result":{"name","result"}}, {"usage"} summed over every model call, and [DONE]. A failure ' +
            'before the first event is a normal error response; after it, an {"error","code"} event ends the stream.',
          body: chatBody.extend(streamPolicyFields),
          response: { 200: eventStream, ...turnErrors },
        },
      },
      async (request, reply) => {
        const target = { hub: streams, kind: 'agent' as const, policy: streamPolicy(request.body) };
        await writeEventStream(request, reply, target, (options) => agent.stream(turnInput(request.user.id, request.body), options), (event) => {
          switch (event.type) {
            case 'content':
              return { content: event.content };
            case 'tool_call':
              return { tool_call: { name: event.name, arguments: event.arguments } };
            case 'tool_result':
              return { tool_result: { name: event.name, result: event.result } };
            case 'usage':
              return { usage: event.usage };
          }
        });
      },
    );
  };
}
