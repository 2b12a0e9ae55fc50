import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Resolves `${env:NAME}` and `${file:PATH}` inside configuration strings so secrets never
 * sit in the file itself. `$${` stands for a literal `${`. Every resolved value is
 * collected so the logger can scrub it from anything it writes.
 */
export interface ReferenceProblem {
  path: (string | number)[];
  message: string;
}

export interface ResolvedReferences {
  value: unknown;
  secrets: Set<string>;
  problems: ReferenceProblem[];
}

const REFERENCE = /\$(\$)?\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function resolveReferences(value: unknown, options: { env: NodeJS.ProcessEnv; baseDir: string }): ResolvedReferences {
  const secrets = new Set<string>();
  const problems: ReferenceProblem[] = [];

  const resolveString = (input: string, path: (string | number)[]): string =>
    input.replace(REFERENCE, (whole, escaped: string | undefined, body: string) => {
      if (escaped) return whole.slice(1);
      const colon = body.indexOf(':');
      const kind = colon < 0 ? '' : body.slice(0, colon);
      const arg = colon < 0 ? '' : body.slice(colon + 1);
      const resolved = kind === 'env' ? fromEnv(arg) : kind === 'file' ? fromFile(arg) : { error: `unknown reference "\${${body}}"; use \${env:NAME} or \${file:PATH}` };
      if ('error' in resolved) {
        problems.push({ path, message: resolved.error });
        return '';
      }
      secrets.add(resolved.value);
      return resolved.value;
    });

  const fromEnv = (name: string): { value: string } | { error: string } => {
    if (!ENV_NAME.test(name)) return { error: `invalid environment variable name "${name}"` };
    const v = options.env[name];
    if (v === undefined) return { error: `environment variable ${name} is not set` };
    if (v === '') return { error: `environment variable ${name} is empty` };
    return { value: v };
  };

  const fromFile = (file: string): { value: string } | { error: string } => {
    if (file === '') return { error: 'empty file path in ${file:...}' };
    try {
      // Trailing newlines are an editor artefact, never part of a token or header value.
      const v = readFileSync(resolve(options.baseDir, file), 'utf8').replace(/\s+$/, '');
      return v === '' ? { error: `file ${file} is empty` } : { value: v };
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      return { error: `cannot read file ${file} (${code})` };
    }
  };

  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') return resolveString(node, path);
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };

  return { value: walk(value, []), secrets, problems };
}
