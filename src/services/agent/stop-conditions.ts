/**
 * When the agent loop stops, as small composable predicates over the steps made
 * so far (as vercel/ai's `stepCountIs`). The loop checks its condition after
 * every step, once that step's tool calls have run.
 */

/** One model call of the loop and what it asked for. */
export interface AgentStep {
  text: string;
  toolCalls: number;
}

type StopCondition = (steps: readonly AgentStep[]) => boolean;

/** Stops once `count` model calls were made (AGENT_MAX_ITERATIONS). */
export const stepCountIs =
  (count: number): StopCondition =>
  (steps) =>
    steps.length >= count;

/** Stops when the model answered without calling a tool: the answer is final. */
export const hasTextAnswer: StopCondition = (steps) => {
  const last = steps.at(-1);
  return last !== undefined && last.toolCalls === 0;
};

/** Stops when any of `conditions` does. */
export const anyOf =
  (...conditions: StopCondition[]): StopCondition =>
  (steps) =>
    conditions.some((condition) => condition(steps));
