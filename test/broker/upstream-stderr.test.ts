import { describe, expect, it } from 'vitest';
import { MAX_STDERR_LINE, StderrLog } from '../../broker/upstreams/stderr-log.js';
import { StdioUpstream } from '../../broker/upstreams/stdio.js';
import { captureLogs } from '../support/log-capture.js';
import type { CapturedLogs } from '../support/log-capture.js';

const SECRET = 'sk-"child"-secret-0123456789abcdef';
/** Any 8 characters of the secret in a row would be a leak. */
const pieces = Array.from({ length: SECRET.length - 7 }, (_, i) => SECRET.slice(i, i + 8));

function stderrLines(logs: CapturedLogs): { stderr: string; truncated?: boolean }[] {
  return logs.lines.map((line) => JSON.parse(line) as { msg: string; stderr: string; truncated?: boolean }).filter((entry) => entry.msg === 'upstream stderr');
}

function expectNoPieceOfTheSecret(logs: CapturedLogs): void {
  const out = logs.lines.join('');
  for (const piece of [...pieces, JSON.stringify(SECRET).slice(1, 9)]) expect(out).not.toContain(piece);
}

describe('upstream stderr in the log', () => {
  const setup = () => {
    const logs = captureLogs({ secrets: [SECRET] });
    return { logs, stderr: new StderrLog(logs.logger, logs.scrubber) };
  };

  it('scrubs a secret split across two writes', () => {
    const { logs, stderr } = setup();
    stderr.write(`key=${SECRET.slice(0, 12)}`);
    stderr.write(`${SECRET.slice(12)} ok\nnext`);
    stderr.end();
    expect(stderrLines(logs).map((l) => l.stderr)).toEqual(['key=[REDACTED] ok', 'next']);
    expectNoPieceOfTheSecret(logs);
  });

  it(`scrubs before cutting at ${MAX_STDERR_LINE} characters: a secret across the cut leaves nothing behind`, () => {
    for (const at of [MAX_STDERR_LINE - 20, MAX_STDERR_LINE - 1, MAX_STDERR_LINE]) {
      const { logs, stderr } = setup();
      stderr.write(`${'x'.repeat(at)}${SECRET}tail\n`);
      const [line] = stderrLines(logs);
      expect(line?.truncated).toBe(true);
      expect(line?.stderr.startsWith('x'.repeat(Math.min(at, MAX_STDERR_LINE)))).toBe(true);
      expectNoPieceOfTheSecret(logs);
    }
  });

  it('cuts a very long line, drops the rest of it up to its newline, and goes on with the next line', () => {
    const { logs, stderr } = setup();
    stderr.write(`${SECRET} ${'y'.repeat(50_000)}`);
    for (let i = 0; i < 20; i++) stderr.write(`${'z'.repeat(10_000)}${SECRET}`);
    stderr.write('end of the long line\nthe next line\n');
    const lines = stderrLines(logs);
    expect(lines.map((l) => [l.stderr.length, l.truncated])).toEqual([
      [`[REDACTED] `.length + MAX_STDERR_LINE - SECRET.length - 1, true],
      ['the next line'.length, undefined],
    ]);
    expect(logs.lines.join('')).not.toContain('z');
    expectNoPieceOfTheSecret(logs);
  });

  it('scrubs the JSON-escaped form of a secret (a child logging JSON)', () => {
    const { logs, stderr } = setup();
    stderr.write(`${JSON.stringify({ level: 'info', apiKey: SECRET })}\n`);
    expect(stderrLines(logs).map((l) => l.stderr)).toEqual(['{"level":"info","apiKey":"[REDACTED]"}']);
    expectNoPieceOfTheSecret(logs);
  });

  it('holds for a real stdio child writing its secret to stderr in pieces, long lines and JSON', async () => {
    const logs = captureLogs({ secrets: [SECRET] });
    const script = [
      'const k = process.env.API_KEY;',
      'process.stderr.write("starting with " + k.slice(0, 9));',
      'setTimeout(() => {',
      '  process.stderr.write(k.slice(9) + "\\n" + "x".repeat(4090) + k + "y".repeat(100000) + "\\n");',
      '  process.stderr.write(JSON.stringify({ key: k }) + "\\ndone\\n");',
      '}, 50);',
    ].join('\n');
    const upstream = new StdioUpstream(
      { name: 'chatty', transport: 'stdio', command: process.execPath, args: ['-e', script], env: { API_KEY: SECRET }, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' },
      { baseDir: process.cwd(), logger: logs.logger, scrubber: logs.scrubber },
    );
    await upstream.start();
    try {
      await expect.poll(() => stderrLines(logs).at(-1)?.stderr, { timeout: 10_000 }).toBe('done');
      const lines = stderrLines(logs);
      expect(lines.map((l) => l.stderr.slice(0, 20))).toEqual(['starting with [REDAC', 'x'.repeat(20), '{"key":"[REDACTED]"}', 'done']);
      expectNoPieceOfTheSecret(logs);
    } finally {
      await upstream.close();
    }
  });
});
