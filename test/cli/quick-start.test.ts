import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { finished, waitForStderr } from '../support/cli.js';

describe('README quick start', () => {
  it('`npm start` builds, serves the demo config on the embedded store, and says where it listens', async () => {
    // The extra flags only move it off 8080 and infra/demo/data, so the test cannot collide
    // with a demo someone is running.
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-quick-start-'));
    const child = spawn('npm', ['start', '--', '--port', '0', '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const done = finished(child);
    const [line, url] = await waitForStderr(child, /listening on (http:\/\/127\.0\.0\.1:\d+).*/, 120_000);
    expect(line).toMatch(/embedded store/);
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', store: 'embedded' });
    process.kill(-child.pid!, 'SIGTERM');
    await done;
    expect(readFileSync(join(dataDir, 'audit.jsonl'), 'utf8')).toBe('');
  }, 150_000);
});
