/**
 * One load-generator process of runStreamsInProcesses (bench/lib/streams.ts): says
 * `ready`, opens the streams it is sent as soon as it gets them, and reports its raw
 * samples as `done`. Forked with an IPC channel; exits when the parent disconnects.
 */
import { openStreams, type StreamsOptions } from './streams.js';

if (!process.send) throw new Error('streams-worker runs as a forked child of bench/lib/streams.ts');

process.on('message', (message: { type: string; options: StreamsOptions }) => {
  if (message.type !== 'run') return;
  openStreams(message.options).then(
    (value) => process.send!({ type: 'done', value }),
    (error: unknown) => {
      process.stderr.write(`streams-worker: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready', value: null });
