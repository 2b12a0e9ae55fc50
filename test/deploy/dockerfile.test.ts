import { readFileSync } from 'node:fs';
import { DockerfileParser, ModifiableInstruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { readYamlDocuments } from '../support/deploy-artifacts.js';

const dockerfile = readFileSync('Dockerfile', 'utf8');

interface Instruction {
  keyword: string;
  /** The flags (`--from=build`) and arguments as written, continuation lines joined. */
  args: string;
}

interface Stage {
  name: string;
  instructions: Instruction[];
}

/** The build stages in order, each with its instructions (FROM first). */
function stages(text: string): Stage[] {
  const found: Stage[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    const keyword = instruction.getKeyword();
    const flags = instruction instanceof ModifiableInstruction ? instruction.getFlags().map((flag) => flag.toString()) : [];
    const args = [...flags, instruction.getArgumentsContent() ?? ''].join(' ');
    if (keyword === 'FROM') found.push({ name: / AS (\S+)$/i.exec(args)?.[1] ?? String(found.length), instructions: [] });
    found.at(-1)?.instructions.push({ keyword, args });
  }
  return found;
}

const all = stages(dockerfile);
const runtime = all.at(-1)!;
const argsOf = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const one = (stage: Stage, keyword: string) => {
  const found = argsOf(stage, keyword);
  expect(found, `one ${keyword} in stage ${stage.name}`).toHaveLength(1);
  return found[0]!;
};
const exposed = Number(one(runtime, 'EXPOSE'));

describe('the Dockerfile', () => {
  it("passes dockerfile-utils' checks (the ones Docker's builder makes, and its warnings)", () => {
    expect(validate(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
    // The checker is not a formality: a malformed duration is caught.
    expect(validate('FROM scratch\nHEALTHCHECK --interval=15x CMD true\n')).not.toEqual([]);
  });

  it('builds in one stage and runs in another that holds production dependencies and compiled output only', () => {
    expect(all.map((s) => s.name)).toEqual(['build', 'deps', 'runtime']);
    const [build, deps] = all;
    expect(argsOf(build!, 'RUN')).toEqual(['npm ci --ignore-scripts --no-audit --no-fund', 'npm run build']);
    expect(argsOf(deps!, 'RUN')).toEqual(['npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force']);
    expect(argsOf(runtime, 'COPY').filter((args) => args.startsWith('--from'))).toEqual(['--from=deps /app/node_modules ./node_modules', '--from=build /src/dist ./dist']);
    expect(argsOf(runtime, 'RUN').join('\n')).not.toMatch(/npm|yarn|pnpm/);
  });

  it('compiles every folder the build configuration includes', () => {
    const { include } = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as { include: string[] };
    const copied = argsOf(all[0]!, 'COPY').map((args) => args.split(/\s+/)[0]);
    expect(copied).toEqual(expect.arrayContaining([...include, 'console', 'bin']));
  });

  it('runs as a non-root user, by number', () => {
    const user = one(runtime, 'USER');
    expect(user).toMatch(/^\d+:\d+$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
  });

  it('checks /healthz on the port it exposes, and stops with SIGTERM (the signal the broker drains on)', () => {
    expect(one(runtime, 'HEALTHCHECK')).toContain(`http://127.0.0.1:${exposed}/healthz`);
    expect(one(runtime, 'STOPSIGNAL')).toBe('SIGTERM');
    expect(JSON.parse(one(runtime, 'ENTRYPOINT'))).toEqual(['/usr/bin/tini', '--', 'node', '/app/bin/portcullis.js']);
    expect(JSON.parse(one(runtime, 'CMD'))).toEqual(['serve']);
  });

  it('exposes the port and reads the configuration where compose and Kubernetes put them', () => {
    expect(one(runtime, 'ENV')).toContain('PORTCULLIS_CONFIG=/etc/portcullis/portcullis.yaml');
    const deployment = readYamlDocuments('infra/k8s/deployment.yaml')[0] as { spec: { template: { spec: { containers: { ports: { containerPort: number }[] }[] } } } };
    expect(deployment.spec.template.spec.containers[0]?.ports[0]?.containerPort).toBe(exposed);
  });

  it('bakes in no secret: no credential-named ARG or ENV, and a build context that holds only the sources', () => {
    const variables = all.flatMap((stage) => [...argsOf(stage, 'ARG'), ...argsOf(stage, 'ENV')]).flatMap((args) => args.split(/\s+/).map((pair) => pair.split('=')[0]!));
    expect(variables.filter((name) => /pass|secret|token|key|credential/i.test(name))).toEqual([]);
    // .dockerignore excludes everything, then lets in exactly what the Dockerfile copies from the context.
    const ignore = readFileSync('.dockerignore', 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const allowed = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1).replace(/\/$/, ''));
    const fromContext = all.flatMap((stage) => argsOf(stage, 'COPY').filter((args) => !args.startsWith('--from')).flatMap((args) => args.split(/\s+/).slice(0, -1)));
    expect(new Set(fromContext.map((path) => path.replace(/^\.\//, '')))).toEqual(new Set(allowed));
  });
});
