import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** Runs the admin CLI as an operator would (a separate process), and collects its output. */
export function runAdmin(
  args: string[],
  env: Record<string, string>,
  { viaNpm = false } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, commandArgs] = viaNpm
    ? ['npm', ['run', '--silent', 'admin', '--', ...args]]
    : [process.execPath, ['--import', 'tsx', 'src/cli/admin.ts', ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, commandArgs as string[], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Creates a user with the admin CLI (which must succeed) and answers its API key. */
export async function createUserKey(env: Record<string, string>, name: string): Promise<string> {
  const created = await runAdmin(['create-user', name], env);
  assert.equal(created.code, 0, created.stderr);
  return (JSON.parse(created.stdout) as { api_key: string }).api_key;
}
