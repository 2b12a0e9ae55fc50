import { Ajv } from 'ajv';
import type { CodeOptions, ErrorObject, ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { RE2JS } from 're2js';

/**
 * Per-argument grant rules: JSON Schemas a tool call's arguments must satisfy (`path`
 * under a directory, `repo` one of a list, `limit` at most 100), from the request rule and
 * narrowed by approvers. One validator instance for the whole process; schemas are
 * compiled once (and shared by every grant with the same rule), never per call. No schema
 * can load another over the network: ajv resolves only the refs it is given.
 */
/**
 * `pattern` and `patternProperties` run on RE2 (re2js, linear in the input), not on
 * JavaScript's backtracking engine: an approver's careless `^(/srv/[a-z]+)+$` and a
 * grantee's crafted argument would otherwise block the event loop every session shares.
 * What RE2 cannot run in linear time (lookaround, backreferences) is refused when a rule is
 * checked, not at the first call.
 */
const linearRegExp: NonNullable<CodeOptions['regExp']> = Object.assign((pattern: string) => RE2JS.compile(pattern), { code: 'RE2JS.compile' });
// Unknown keywords and formats are errors (a typo must not allow everything); type and
// `required` pedantry is not (an approver narrows with `{ properties: { path: { pattern } } }`).
const ajv = new Ajv({ strictSchema: true, strictNumbers: true, strictTypes: false, strictTuples: false, strictRequired: false, allErrors: false, code: { regExp: linearRegExp } });
// Formats are checked, never ignored: a rule saying `format: uri` means it (an unknown format is refused at load).
// (A CommonJS module: its function is `default` of what ESM imports.)
addFormatsModule.default(ajv);

/** Largest schema accepted (a rule is a few lines; anything bigger is a mistake or an attack on the compiler). */
const MAX_SCHEMA_BYTES = 16 * 1024;

export type ArgumentCheck = (args: unknown) => { ok: true } | { ok: false; path: string; keyword: string };

/** Compiled validators by schema text: every session of a grant (and grants with the same rule) share one. */
const compiled = new Map<string, ValidateFunction>();
const MAX_COMPILED = 500;

/**
 * The validator for one schema, compiled once. Ajv keeps every schema it compiled (and
 * refuses a second with the same `$id`), so each is removed from it once compiled: only
 * this bounded cache holds validators.
 */
function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) {
    compiled.delete(key);
    compiled.set(key, known);
    return known;
  }
  const copy = JSON.parse(key) as Record<string, unknown>;
  try {
    const validate = ajv.compile(copy);
    compiled.set(key, validate);
    if (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    return validate;
  } finally {
    ajv.removeSchema(copy);
  }
}

/** Why a schema cannot be an argument rule, or null when it can. */
export function argumentSchemaProblem(schema: unknown): string | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'expected a JSON Schema object';
  if (JSON.stringify(schema).length > MAX_SCHEMA_BYTES) return `expected a schema under ${MAX_SCHEMA_BYTES / 1024} KiB`;
  try {
    validatorFor(schema as Record<string, unknown>);
    return null;
  } catch (error) {
    return `not a valid JSON Schema: ${(error as Error).message.slice(0, 200)}`;
  }
}

/**
 * One check for a tool's arguments under every schema given (all must pass). Arguments
 * that are not an object are refused outright: a rule's `properties` would say nothing of
 * them. A refusal names the argument path and the rule's keyword, never the value: an
 * argument may be a secret.
 */
export function compileArgumentRules(schemas: readonly Record<string, unknown>[]): ArgumentCheck {
  let validators: ValidateFunction[];
  try {
    validators = schemas.map(validatorFor);
  } catch {
    // A rule that no longer compiles (one stored before patterns ran on RE2, with a lookahead)
    // refuses every call of its tool, and only of its tool: the rest of the grant still holds.
    return () => ({ ok: false, path: '/', keyword: 'schema' });
  }
  return (args) => {
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ok: false, path: '/', keyword: 'type' };
    for (const validate of validators) {
      if (validate(args)) continue;
      const error: ErrorObject | undefined = validate.errors?.[0];
      // A missing or unexpected argument is named by its key (a name, never a value).
      const params = (error?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
      const key = error?.keyword === 'required' ? params.missingProperty : error?.keyword === 'additionalProperties' ? params.additionalProperty : undefined;
      const path = `${error?.instancePath ?? ''}${key === undefined ? '' : `/${key.slice(0, 128)}`}`;
      return { ok: false, path: path || '/', keyword: error?.keyword ?? 'schema' };
    }
    return { ok: true };
  };
}

/**
 * Argument rules by tool name folded in ASCII case, as deny patterns match: a server that
 * looks its tools up in any case would otherwise run `READ-FILE` with no rule of `read-file`'s.
 * Names that fold alike are held to all their rules. Own keys only (Object.entries), so a
 * tool named `__proto__` is a name like any other.
 */
export function argumentRulesByFoldedName(rules: Readonly<Record<string, readonly Record<string, unknown>[]>>): Map<string, Record<string, unknown>[]> {
  const byName = new Map<string, Record<string, unknown>[]>();
  for (const [tool, schemas] of Object.entries(rules)) {
    const folded = tool.toLowerCase();
    byName.set(folded, [...(byName.get(folded) ?? []), ...schemas]);
  }
  return byName;
}
