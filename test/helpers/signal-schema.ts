/**
 * Validates signal messages against the published JSON Schema (docs/signal.schema.json) with the
 * product's own check (src/core/signal-schema.ts), and also refuses fields the schema does not
 * describe. readSignal and the websocket test client call it, so every signal line the suite
 * writes is checked.
 */
import { signalProblems as contractProblems, signalSchema as schemaOf, signalSchemaPath } from '../../src/core/signal-schema.js';

export { signalSchemaPath };
export const signalSchema = schemaOf();

/** Problems with one message: schema violations, and fields the schema does not describe. */
export function signalProblems(message: unknown): string[] {
  const problems = contractProblems(message);
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
