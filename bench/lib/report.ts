/** Markdown tables, number formats, target checks and the JSON results file. */
import fs from 'node:fs';
import path from 'node:path';

export interface Table {
  columns: string[];
  rows: string[][];
}

export interface Target {
  scenario: string;
  name: string;
  measured: string;
  limit: string;
  met: boolean;
}

export interface Section {
  title: string;
  tables: Table[];
  notes: string[];
  targets: Target[];
  /** Raw numbers for latest.json. */
  data: unknown;
}

const escape = (cell: string) => cell.replace(/\|/g, '\\|');

export function markdownTable(table: Table): string {
  const right = table.columns.map((_, i) => table.rows.every((r) => /^[-+−]?[\d.,]+( ?(ms|MB|×|%|s|µs))?$|^–$/.test(r[i] ?? '')));
  const lines = [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `| ${table.columns.map((_, i) => (right[i] ? '---:' : '---')).join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return lines.join('\n');
}

export function targetsTable(targets: Target[], withScenario = false): Table {
  return {
    columns: [...(withScenario ? ['scenario'] : []), 'target', 'measured', 'limit', 'result'],
    rows: targets.map((t) => [...(withScenario ? [t.scenario] : []), t.name, t.measured, t.limit, t.met ? 'met' : '**MISSED**']),
  };
}

export function renderSection(section: Section): string {
  const parts = [`## ${section.title}`, ''];
  for (const table of section.tables) parts.push(markdownTable(table), '');
  if (section.targets.length) parts.push(markdownTable(targetsTable(section.targets)), '');
  for (const note of section.notes) parts.push(`- ${note}`);
  if (section.notes.length) parts.push('');
  return parts.join('\n');
}

// ---------------------------------------------------------------- formats

const finite = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v);

export const fmt = {
  ms: (v: number | undefined) => (!finite(v) ? '–' : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`),
  /** Signed difference in ms. */
  deltaMs: (v: number | undefined) => (!finite(v) ? '–' : `${v >= 0 ? '+' : '−'}${fmt.ms(Math.abs(v))}`),
  rps: (v: number | undefined) => (!finite(v) ? '–' : Math.round(v).toLocaleString('en-US')),
  ratio: (v: number | undefined) => (!finite(v) ? '–' : `${v.toFixed(2)}×`),
  percent: (v: number | undefined) => (!finite(v) ? '–' : `${(v * 100).toFixed(0)}%`),
  mb: (v: number | undefined) => (!finite(v) ? '–' : `${v.toFixed(1)} MB`),
  s: (v: number | undefined) => (!finite(v) ? '–' : `${v.toFixed(2)} s`),
  /** Microseconds, for CPU time per request or per chunk. */
  us: (v: number | undefined) => (!finite(v) ? '–' : `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} µs`),
  int: (v: number | undefined) => (!finite(v) ? '–' : String(Math.round(v))),
};

// ---------------------------------------------------------------- results file

export function writeResults(file: string, results: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(results, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
}
