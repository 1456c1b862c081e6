/** The part of autocannon 9's API the benchmark uses (the package ships no types). */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  export interface Options {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    connections?: number;
    duration?: number;
    pipelining?: number;
    /** Seconds before a request counts as a timeout (an error). */
    timeout?: number;
    /** Called with each connection's client (an EventEmitter: 'request', 'headers', 'body', 'response') as it is made. */
    setupClient?: (client: EventEmitter) => void;
    /** False counts the response as a mismatch (`Result.mismatches`). */
    verifyBody?: (body: string) => boolean;
  }

  export interface Result {
    /** Seconds the run lasted. */
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    mismatches?: number;
    '2xx': number;
    requests: { average: number; total: number };
    latency: { p50: number; p99: number; average: number };
  }

  export interface Instance extends EventEmitter {
    stop(): void;
  }

  function autocannon(options: Options, callback: (error: Error | null, result: Result) => void): Instance;
  export default autocannon;
}
