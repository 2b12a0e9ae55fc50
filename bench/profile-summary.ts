/**
 * `node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP]`: the functions with the
 * most self time in a V8 CPU profile (from `npm run bench -- --cpu-prof`), and self time
 * summed per package (or per top-level folder of this repository), so a profile can be read
 * without a browser. With --calls=N (the calls the profiled window relayed), also the busy
 * time per call by kind: our code, libraries, Node's own JavaScript, system calls made from
 * JavaScript (writes: reads happen in libuv before any JavaScript runs and show as idle or
 * program time), garbage collection, and the rest of native code; idle time and the
 * profiler's own start-up (`dispatch` under node:inspector) are left out.
 */
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from './processes.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const calls = Number(args.find((a) => a.startsWith('--calls='))?.slice('--calls='.length) ?? 0);
const [file, top = '25'] = args.filter((a) => !a.startsWith('--'));
if (!file || Number.isNaN(calls)) {
  console.error('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [TOP] [--calls=N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));

// Self time per node from the sample stream: each sample's delta belongs to the node it hit.
const selfMicros = new Map<number, number>();
profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...selfMicros.values()].reduce((a, b) => a + b, 0);

const functions = new Map<string, number>();
const places = new Map<string, number>();
for (const [id, micros] of selfMicros) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = url.replace(`file://${REPO_ROOT}`, '');
  add(functions, `${functionName || '(anonymous)'} ${where ? `${where}:${lineNumber + 1}` : ''}`, micros);
  add(places, placeOf(where, functionName), micros);
}

function add(totals: Map<string, number>, key: string, micros: number): void {
  totals.set(key, (totals.get(key) ?? 0) + micros);
}

function placeOf(where: string, functionName: string): string {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(where)?.[1];
  if (pkg) return pkg;
  if (where.startsWith('node:')) return 'node: (core)';
  if (where === '') return functionName.startsWith('(') ? functionName : '(native)';
  return where.split('/').filter(Boolean)[0] ?? where;
}

const print = (title: string, entries: Map<string, number>, count: number) => {
  process.stdout.write(`${title}\n`);
  for (const [name, micros] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    process.stdout.write(`${((micros / total) * 100).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(7)} ms  ${name}\n`);
  }
};
/** Native functions that are (mostly) one system call: the writes on sockets and pipes. */
const SYSCALLS = new Set(['writev', 'writeUtf8String', 'writeBuffer', 'writeLatin1String', 'writeAsciiString', 'writeUcs2String', 'fstat', 'fdatasync', 'close', 'open']);

function kindOf(id: number): string | null {
  const { functionName, url } = byId.get(id)!.callFrame;
  if (functionName === '(idle)' || (functionName === 'dispatch' && url === '')) return null;
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (url.includes('/node_modules/')) return 'libraries';
  if (url.startsWith(`file://${REPO_ROOT}`)) return 'our code';
  if (url.startsWith('node:')) return "Node's JavaScript";
  if (SYSCALLS.has(functionName)) return 'system calls (writes)';
  return 'other native code (V8, libuv, crypto, JSON)';
}

process.stdout.write(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n`);
if (calls > 0) {
  const kinds = new Map<string, number>();
  for (const [id, micros] of selfMicros) {
    const kind = kindOf(id);
    if (kind) add(kinds, kind, micros);
  }
  const busy = [...kinds.values()].reduce((a, b) => a + b, 0);
  process.stdout.write(`busy time per call (${calls} calls): ${(busy / calls).toFixed(1)} µs\n`);
  for (const [kind, micros] of [...kinds].sort((a, b) => b[1] - a[1])) {
    process.stdout.write(`${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${(micros / calls).toFixed(1).padStart(7)} µs  ${kind}\n`);
  }
}
print('self time by package / folder', places, 15);
print('self time by function', functions, Number(top));
