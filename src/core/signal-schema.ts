/**
 * The signal's published contract, docs/signal.schema.json, as a validator: the one check of a
 * signal message read back (`roadseg report`, and the tests, which validate every line they read).
 * Read with zod's JSON Schema reader when first needed, so the schema file is the only definition.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../util/package.js';
import { signalVersion } from './signal.js';

export const signalSchemaPath = join(packageRoot, 'docs', 'signal.schema.json');

/** The parts of the schema its readers look at. */
export interface SignalJsonSchema {
  properties: Record<string, unknown>;
  required: readonly string[];
}
type JsonSchema = Parameters<typeof z.fromJSONSchema>[0] & SignalJsonSchema;
let loaded: { schema: JsonSchema; validator: z.ZodType } | undefined;

function load() {
  if (!loaded) {
    const schema = JSON.parse(readFileSync(signalSchemaPath, 'utf8')) as JsonSchema;
    loaded = { schema, validator: z.fromJSONSchema(schema) };
  }
  return loaded;
}

/** The schema itself (its `properties` name every field of version 1). */
export function signalSchema(): SignalJsonSchema {
  return load().schema;
}

/**
 * What is wrong with a message as a version-1 signal, one entry per problem, each naming its
 * field (`captureTime: expected number, received string`); empty when it conforms. An unknown
 * version is one problem of its own: the fields of another version mean what that version says.
 */
export function signalProblems(message: unknown): string[] {
  if (message && typeof message === 'object' && !Array.isArray(message) && 'v' in message && message.v !== signalVersion) {
    return [`v: signal version ${JSON.stringify(message.v)}; this roadseg reads version ${signalVersion}`];
  }
  const r = load().validator.safeParse(message);
  if (r.success) return [];
  return r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'the message'}: ${i.message}${valueAt(message, i.path)}`);
}

/** The offending value, shortened, for the message: ` (got "lots")`. */
function valueAt(message: unknown, path: readonly PropertyKey[]): string {
  let v: unknown = message;
  for (const key of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[key] : undefined;
  if (v === undefined || path.length === 0) return '';
  const text = JSON.stringify(v);
  return ` (got ${text.length > 40 ? `${text.slice(0, 40)}...` : text})`;
}
