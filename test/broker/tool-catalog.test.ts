import { afterEach, describe, expect, it } from 'vitest';
import { ToolCatalog } from '../../broker/tool-catalog.js';
import type { McpServerConfig } from '../../server/config/schema.js';
import { captureLogs } from '../support/log-capture.js';

/**
 * Issue 14, item 2: which tools a read-only grant covers is read from the server itself
 * when the grant is made (its annotations) plus the operator's list, and a server that
 * cannot be read leaves only the operator's list (fewer tools, never more).
 */

const stdio = (name: string, args: string[], readOnlyTools: string[] = []): McpServerConfig => ({ name, transport: 'stdio', command: process.execPath, args, env: {}, readOnlyTools, allowMethods: [], toolPinning: 'pin' }) as McpServerConfig;

describe('the tool catalog', () => {
  let catalog: ToolCatalog | undefined;
  const open = (servers: McpServerConfig[]) => {
    const logs = captureLogs({ level: 'warn' });
    // Every listing believed: holding the catalog to the pins is catalog-pins.test.ts's subject.
    catalog = new ToolCatalog({ servers, baseDir: process.cwd(), logger: logs.logger, scrubber: logs.scrubber, now: Date.now, screen: (_server, tools) => Promise.resolve(tools) });
    return { catalog, logs };
  };
  afterEach(async () => {
    await catalog?.close();
  });

  it("takes the tools the reference server annotates read-only, and the operator's list on top", async () => {
    const { catalog } = open([stdio('everything', ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'], ['toggle-simulated-logging'])]);
    const readOnly = await catalog.readOnlyTools('everything');
    expect(readOnly).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-env', 'get-tiny-image', 'trigger-long-running-operation', 'toggle-simulated-logging']));
    for (const tool of ['toggle-subscriber-updates', 'gzip-file-as-resource', 'trigger-sampling-request']) expect(readOnly).not.toContain(tool);
    expect(readOnly).toEqual([...readOnly].sort());
  });

  it("falls back to the operator's list when the server's answer nests too deep to write out again (it ended the process)", async () => {
    const { catalog } = open([stdio('deep', ['--import', 'tsx', 'test/fixtures/rogue-upstream.ts', '--deep-list'], ['fast'])]);
    expect(await catalog.readOnlyTools('deep')).toEqual(['fast']);
  });

  it('reads every page of a server that pages its tools', async () => {
    const { catalog } = open([stdio('paged', ['--import', 'tsx', 'test/fixtures/paged-upstream.ts'])]);
    expect((await catalog.tools('paged')).map((t) => t.name)).toEqual(['echo', 'paged-a', 'paged-b', 'paged-c', 'paged-d']);
    expect(await catalog.readOnlyTools('paged')).toEqual(['echo', 'paged-d']);
  });

  it("falls back to the operator's list alone, and says so, when the server cannot be read", async () => {
    const { catalog, logs } = open([{ name: 'broken', transport: 'stdio', command: 'false', args: [], env: {}, readOnlyTools: ['list-files'], allowMethods: [], toolPinning: 'pin' } as McpServerConfig]);
    expect(await catalog.readOnlyTools('broken')).toEqual(['list-files']);
    expect(logs.lines.join('')).toMatch(/could not read the tools of a server/);
    await expect(catalog.tools('nowhere')).rejects.toThrow(/unknown server nowhere/);
  });
});
