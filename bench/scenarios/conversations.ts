/**
 * GET /conversations with auth (a key lookup and a page of 20 rows), next to
 * GET /health on the same app (routing and serialisation, no auth, no database)
 * and the fake's GET /v1/models (a bare node:http server on this machine).
 */
import { loadSideBySide, type LoadResult } from '../lib/load.js';
import { fmt, type Section } from '../lib/report.js';
import { type AppUnderTest, type BenchContext, bearer } from './context.js';

export async function conversationsScenario(ctx: BenchContext, app: AppUnderTest): Promise<Section> {
  const { settings } = ctx;
  const results = await loadSideBySide(
    {
      'fake GET /v1/models': { url: `${ctx.fake.baseUrl}/models` },
      'app GET /health': { url: `${app.origin}/health` },
      'app GET /conversations': { url: `${app.origin}/conversations`, headers: bearer(app.apiKey) },
    },
    { high: settings.highConcurrency, low: settings.lowConcurrency, durationS: settings.durationS, warmupS: settings.warmupS, log: ctx.log },
  );
  const fake = results['fake GET /v1/models'];
  const health = results['app GET /health'];
  const convs = results['app GET /conversations'];

  const row = (name: string, r: LoadResult, fakeR: LoadResult, healthR: LoadResult) => [
    name,
    String(r.connections),
    fmt.rps(r.rps),
    fmt.ratio(r.rps / fakeR.rps),
    fmt.ratio(r.rps / healthR.rps),
    fmt.ms(r.p50),
    fmt.ms(r.p99),
    fmt.deltaMs(r.p50 - fakeR.p50),
    String(r.errors),
    String(r.non2xx),
  ];
  const rows: string[][] = [];
  for (const level of ['high', 'low'] as const) {
    rows.push(row('fake `GET /v1/models` (baseline)', fake[level], fake[level], health[level]));
    rows.push(row('app `GET /health` (no auth, no DB)', health[level], fake[level], health[level]));
    rows.push(row(`app \`GET /conversations\` (auth + ${app.db.label})`, convs[level], fake[level], health[level]));
  }
  return {
    title: `2. GET /conversations with auth (${app.db.label})`,
    tables: [
      {
        columns: ['request', 'c', 'rps', 'rps vs fake', 'rps vs /health', 'p50', 'p99', 'p50 − fake p50', 'errors', 'non-2xx'],
        rows,
      },
    ],
    notes: [
      `The user has ${app.seeded.conversations + 1} conversations; the page returns the newest 20.`,
      'Load generator, app and fake share the 2 cores: the app rows pay for one more busy process than the fake row.',
    ],
    targets: [],
    data: results,
  };
}
