/**
 * Validates signal messages against the published JSON Schema (docs/signal.schema.json), with
 * zod's JSON Schema reader (zod is already a dependency: no separate validator package needed).
 * readSignal and the websocket test client call it, so every signal line the suite writes is checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { repoRoot } from './paths.js';

export const signalSchemaPath = join(repoRoot, 'docs', 'signal.schema.json');
export const signalSchema = JSON.parse(readFileSync(signalSchemaPath, 'utf8')) as { properties: Record<string, unknown> };
const validator = z.fromJSONSchema(signalSchema as Parameters<typeof z.fromJSONSchema>[0]);

/** Problems with one message: schema violations, and fields the schema does not describe. */
export function signalProblems(message: unknown): string[] {
  const r = validator.safeParse(message);
  const problems = r.success ? [] : [z.prettifyError(r.error)];
  if (message && typeof message === 'object') {
    const undocumented = Object.keys(message).filter((k) => !(k in signalSchema.properties));
    if (undocumented.length) problems.push(`fields not in ${signalSchemaPath}: ${undocumented.join(', ')}`);
  }
  return problems;
}

export function assertValidSignal(message: unknown, where: string): void {
  const problems = signalProblems(message);
  if (problems.length) throw new Error(`signal message ${where} does not match the schema: ${problems.join('; ')}\n${JSON.stringify(message)}`);
}
