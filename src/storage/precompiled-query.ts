import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

const NAME = Symbol('placeholder');

/** Runs the query on `executor` (the database or a transaction of it) with these values. */
type PrecompiledQuery<A, R> = (executor: Kysely<any>, args: A) => Promise<QueryResult<R>>;

/**
 * How a compiled query is run on an executor: through Kysely, or, for SQLite, straight
 * on the connection when that is what Kysely would do (see sqlite.ts).
 */
export type RunCompiled = <R>(executor: Kysely<any>, query: CompiledQuery<R>) => Promise<QueryResult<R>>;

export const throughKysely: RunCompiled = (executor, query) => executor.executeQuery(query);

/**
 * A query built and compiled once, then executed with new values (Kysely's
 * `compile()` and `executeQuery()`): otherwise every call rebuilds the operation
 * tree and compiles the same SQL again, 10-30 µs a query here, and a chat request
 * runs several. `build` gets stand-ins for the named arguments; each must become a
 * bound parameter of the SQL (checked here, once), so a value never changes the text.
 * Only for queries whose shape does not depend on the values.
 */
export function precompile<A extends Record<string, unknown>, R>(
  names: ReadonlyArray<keyof A & string>,
  build: (args: A) => Compilable<R>,
  run: RunCompiled = throughKysely,
): PrecompiledQuery<A, R> {
  const standIns = Object.fromEntries(names.map((name) => [name, { [NAME]: name }])) as unknown as A;
  const compiled = build(standIns).compile();
  const slots = compiled.parameters.map((value) => (isStandIn(value) ? value[NAME] : undefined));
  for (const name of names) {
    if (!slots.includes(name)) throw new Error(`precompile: "${name}" is not a bound parameter of: ${compiled.sql}`);
  }
  return (executor, args) =>
    run<R>(executor, { ...compiled, parameters: slots.map((slot, i) => (slot === undefined ? compiled.parameters[i] : args[slot])) });
}

function isStandIn(value: unknown): value is { [NAME]: string } {
  return typeof value === 'object' && value !== null && NAME in value;
}

/** `precompile` for one way of running: what a repository's queries are made with. */
export const precompiler =
  (run?: RunCompiled) =>
  <A extends Record<string, unknown>, R>(names: ReadonlyArray<keyof A & string>, build: (args: A) => Compilable<R>): PrecompiledQuery<A, R> =>
    precompile(names, build, run);
