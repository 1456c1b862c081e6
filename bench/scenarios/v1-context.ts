/**
 * What the /v1 gateway scenarios (bench/v1.ts) share: the processes under load, the
 * request bodies, and how each gateway is addressed. Every gateway is sent the same
 * OpenAI chat completion body, the one the direct baseline sends the fake.
 */
import type { LoadTarget } from '../lib/load.js';
import type { PortkeyProcess } from '../lib/processes.js';
import { bearer, directChatBody } from './context.js';

/** A running gateway process (ours, the bare proxy, Portkey). */
export interface Gateway {
  origin: string;
  pid: number;
}

export interface AppUnderLoad extends Gateway {
  apiKey: string;
  /** Whether POST /v1/chat/completions answered (false: the route is not there yet; /v1 rows are skipped). */
  v1: boolean;
}

export interface V1Setup {
  passThrough: Gateway;
  /** bench/lib/fastify-floor.mjs: Fastify + undici relaying, nothing else. */
  fastifyFloor: Gateway;
  portkey: PortkeyProcess;
  app: AppUnderLoad;
}

/** An OpenAI chat completion request for `message`, as the direct baseline sends it; `stream: true` alone when streamed. */
export const completionBody = (message: string, stream: boolean) => ({ ...directChatBody(message), ...(stream && { stream: true }) });

/** The same request to each of the five OpenAI-compatible endpoints, and the CPU to read while it runs. */
export function completionTargets(
  fake: { origin: string; pid: number },
  setup: V1Setup,
  body: ReturnType<typeof completionBody>,
): { direct: LoadTarget; bare: LoadTarget; fastify: LoadTarget; ours?: LoadTarget; portkey: LoadTarget } {
  const path = '/v1/chat/completions';
  const stream = body.stream === true;
  const common = { method: 'POST' as const, body, stream };
  return {
    direct: { ...common, url: `${fake.origin}${path}`, headers: bearer('sk-bench'), cpu: { fake: fake.pid } },
    bare: { ...common, url: `${setup.passThrough.origin}${path}`, headers: bearer('sk-bench'), cpu: { gateway: setup.passThrough.pid, fake: fake.pid } },
    fastify: { ...common, url: `${setup.fastifyFloor.origin}${path}`, headers: bearer('sk-bench'), cpu: { gateway: setup.fastifyFloor.pid, fake: fake.pid } },
    ...(setup.app.v1 && {
      ours: { ...common, url: `${setup.app.origin}${path}`, headers: bearer(setup.app.apiKey), cpu: { gateway: setup.app.pid, fake: fake.pid } },
    }),
    portkey: {
      ...common,
      url: `${setup.portkey.origin}${path}`,
      headers: { ...setup.portkey.headers, ...bearer('sk-bench') },
      cpu: { gateway: setup.portkey.pid, fake: fake.pid },
    },
  };
}

/** Our own chat endpoints (`/chat`, `/chat/stream`), a new conversation per request. */
export function ownChatTarget(fake: { pid: number }, app: AppUnderLoad, message: string, stream: boolean): LoadTarget {
  return {
    url: `${app.origin}${stream ? '/chat/stream' : '/chat'}`,
    method: 'POST',
    headers: bearer(app.apiKey),
    body: { message },
    stream,
    cpu: { gateway: app.pid, fake: fake.pid },
  };
}

/** Drops the undefined entries (a target that is not there yet), keeping the order. */
export function present<T>(record: Record<string, T | undefined>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).filter((entry): entry is [string, T] => entry[1] !== undefined));
}
