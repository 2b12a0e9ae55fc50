import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { core } from 'zod';
import { PortcullisError } from '../errors.js';
import { SecretScrubber } from '../text/secret-scrubber.js';
import { resolveReferences } from './references.js';
import { configSchema } from './schema.js';
import type { PortcullisConfig } from './schema.js';
import { configWarnings } from './warnings.js';

export interface ConfigProblem {
  /** Key path such as `roles[1].request[0].maxDurationSeconds`; empty for the whole file. */
  path: string;
  message: string;
  line?: number;
}

export class ConfigError extends PortcullisError {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super('CONFIG_INVALID', problems.map((p) => formatProblem(file, p)).join('\n'));
  }
}

export interface LoadedConfig {
  config: PortcullisConfig;
  /** Values resolved from ${env:...}/${file:...}: never to be logged or returned. */
  secrets: ReadonlySet<string>;
  file: string;
  /** What is valid but rarely meant (warnings.ts), with no resolved reference in a message: `check-config` prints them, `serve` logs them. */
  warnings: ConfigProblem[];
}

export function formatProblem(file: string, problem: ConfigProblem): string {
  const where = problem.line === undefined ? file : `${file}:${problem.line}`;
  return problem.path ? `${where}: ${problem.path}: ${problem.message}` : `${where}: ${problem.message}`;
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/**
 * Reads, resolves and validates a config file. Throws ConfigError listing every problem
 * (one per key), so an operator fixes them in one pass; nothing partial is returned.
 */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [{ path: '', message: `cannot read file (${(error as NodeJS.ErrnoException).code ?? 'error'})` }]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: '', message: `YAML: ${e.message.split('\n')[0]}`, line: lineCounter.linePos(e.pos[0]).line })),
    );
  }
  const lineOf = (keyPath: readonly PropertyKey[]) => nodeLine(doc, lineCounter, keyPath);

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', message: 'expected a YAML mapping at the top level' }]);
  }

  // References and schema are checked in one pass, so every problem is reported at once;
  // a key whose reference failed reports that, not the empty value left in its place.
  const resolved = resolveReferences(raw, { env, baseDir: dirname(path) });
  const problems: ConfigProblem[] = resolved.problems.map((p) => ({ path: formatPath(p.path), message: p.message, line: lineOf(p.path) }));
  const failedReferences = new Set(problems.map((p) => p.path));
  // reportInput: a value of the wrong type must not read as "required" (toProblems tells them apart by the input).
  const parsed = configSchema.safeParse(resolved.value, { reportInput: true });
  if (!parsed.success) {
    problems.push(...parsed.error.issues.flatMap((issue) => toProblems(issue, lineOf)).filter((p) => !failedReferences.has(p.path)));
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(file, withoutSecrets(problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)), resolved.secrets));
  const warnings = configWarnings(parsed.data).map((w) => ({ path: formatPath(w.path), message: w.message, line: lineOf(w.path) }));
  return { config: parsed.data, secrets: resolved.secrets, file: path, warnings: withoutSecrets(warnings, resolved.secrets) };
}

/**
 * Messages may quote a value (`duplicate server name "…"`, an IdP id), and `check-config` prints
 * them: none may show a resolved reference, as written or as the schema normalised it
 * (trimmed, lower-cased). Every length counts here: a mangled message beats a leaked one.
 */
function withoutSecrets(problems: ConfigProblem[], secrets: ReadonlySet<string>): ConfigProblem[] {
  const forms = [...secrets].flatMap((secret) => [secret, secret.trim(), secret.toLowerCase(), secret.trim().toLowerCase()]);
  const scrubber = new SecretScrubber(forms, { minLength: 1 });
  return problems.map((problem) => ({ ...problem, message: scrubber.scrub(problem.message) }));
}

function toProblems(issue: core.$ZodIssue, lineOf: (path: readonly PropertyKey[]) => number | undefined): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyPath = [...issue.path, key];
      return { path: formatPath(keyPath), message: 'unknown key', line: lineOf(keyPath) };
    });
  }
  const message = issue.code === 'invalid_type' && issue.input === undefined ? 'required' : issue.message;
  return [{ path: formatPath(issue.path), message, line: lineOf(issue.path) }];
}

function nodeLine(doc: Document, lineCounter: LineCounter, keyPath: readonly PropertyKey[]): number | undefined {
  // Walk up to the deepest existing node: a missing key is reported at its parent.
  for (let depth = keyPath.length; depth >= 0; depth--) {
    const node = doc.getIn(keyPath.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
  }
  return undefined;
}
