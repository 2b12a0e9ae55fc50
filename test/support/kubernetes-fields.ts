import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import ts from 'typescript';

/**
 * Fields Kubernetes does not know, at any depth, and values of the wrong type. The JSON
 * schemas from the Kubernetes OpenAPI leave objects open (no `additionalProperties: false`),
 * so a misspelt `readinesProbe` passes them, and the API server (strict field validation)
 * refuses it or a lenient client drops it silently. kubernetes-models types every kind from
 * the same OpenAPI; TypeScript's excess-property check on an object literal is the strict
 * check: each manifest is type-checked, in memory, as a literal of its kind's interface.
 * Each problem reads "<kind> <name>: <TypeScript's message>".
 */
export function fieldProblems(manifests: readonly { apiVersion: string; kind: string; metadata: { name: string } }[]): string[] {
  // The in-memory file sits beside the node_modules holding kubernetes-models, so its imports resolve as the tests' do.
  const root = dirname(dirname(dirname(createRequire(import.meta.url).resolve('kubernetes-models'))));
  const file = join(root, '__portcullis_manifests__.ts');
  const text = manifests.map((m, i) => `import type { I${m.kind} as T${i} } from 'kubernetes-models/${m.apiVersion}/${m.kind}';\nexport const m${i}: T${i} = ${JSON.stringify(m, null, 1)};`).join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (name) => name === file || fileExists(name);
  host.readFile = (name) => (name === file ? text : readFile(name));
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const { line } = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start) : { line: 0 };
    // Which manifest: the last `export const mN` at or above the problem's line.
    const index = text.split('\n').slice(0, line + 1).filter((l) => l.startsWith('export const m')).length - 1;
    const manifest = manifests[index];
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n').split('\n').at(-1);
    return `${manifest ? `${manifest.kind} ${manifest.metadata.name}` : 'manifests'}: ${message}`;
  });
}
