import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { finished, waitForStderr } from '../support/cli.js';

describe('README quick start', () => {
  it('`npm start` builds, serves the demo config on the embedded store, and says where it listens', async () => {
    // `-- --port 0` only moves it off 8080 so the test cannot collide with a running demo.
    const child = spawn('npm', ['start', '--', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const done = finished(child);
    const [line, url] = await waitForStderr(child, /listening on (http:\/\/127\.0\.0\.1:\d+).*/, 120_000);
    expect(line).toMatch(/embedded store/);
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', store: 'embedded' });
    process.kill(-child.pid!, 'SIGTERM');
    await done;
  }, 150_000);
});
