import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { BrokerCluster } from './broker-cluster.js';
import { callOnce, HUNG, reasonOf, sessionClient, withDeadline } from './mcp-session-client.js';
import type { Transport } from './mcp-session-client.js';
import { SoakPeople } from './soak-people.js';
import type { Acknowledged } from './soak-people.js';

/**
 * A bounded soak through a broker cluster: workers open MCP sessions (WebSocket and
 * Streamable HTTP, through the load balancer) and make sequential `echo` calls, each with
 * a client-side deadline, while grants are revoked and issued again (some auto-approved,
 * some approved by a reviewer) and one instance is killed with SIGKILL and restarted.
 * Everything is paced by progress (calls made), never by the clock, so a slow machine
 * runs the same scenario, only slower.
 */
export interface SoakPlan {
  /** Calls in all, shared evenly by the workers. */
  calls: number;
  /** Calls one session makes before it closes and its worker opens the next. */
  callsPerSession: number;
  /** Sessions open at once. */
  workers: number;
  /** Engineers the workers act as (worker w is engineer w mod users). */
  users: number;
  /** Grant revocations (each followed by a new grant for that engineer), spread over the run. */
  revocations: number;
  /** The instance killed with SIGKILL, and when (a fraction of the calls made), then when it starts again. */
  fault: { instance: number; killAt: number; restartAt: number };
  /** A call or a session opening not settled within this is a hang, which fails the run. */
  deadlineMs: number;
  /** Told what happens as it happens: the fault, revocations, every tenth of the calls, each hang. */
  log?: (line: string) => void;
}

/** One call as its client saw it; `token` is the echoed message that names it in the audit log. */
export interface CallRecord {
  worker: number;
  user: string;
  transport: Transport;
  token: string;
  sentAt: number;
  settledAt: number;
  /** answered: a tool result; refused: a JSON-RPC error, a closed session or an HTTP refusal, with its reason; hung: the deadline passed. */
  outcome: 'answered' | 'refused' | 'hung';
  reason: string;
}

export interface SessionOpening {
  worker: number;
  transport: Transport;
  /** hung: the deadline passed, or the cluster refused every try for as long. */
  outcome: 'opened' | 'refused' | 'hung';
  reason: string;
}

export interface SoakRun {
  calls: CallRecord[];
  openings: SessionOpening[];
  acknowledged: Acknowledged;
  /** performance.now() when the killed instance answered ready again. */
  restartedAt: number;
}

/** Counts progress and wakes whoever waits for a number of calls; once the workers are done, nobody waits. */
class Progress {
  private made = 0;
  private done = false;
  private waiters: { at: number; wake: () => void }[] = [];

  step(): void {
    this.made++;
    for (const waiter of this.waiters.filter((w) => w.at <= this.made)) waiter.wake();
    this.waiters = this.waiters.filter((w) => w.at > this.made);
  }

  reach(at: number): Promise<void> {
    if (this.done || at <= this.made) return Promise.resolve();
    return new Promise((wake) => this.waiters.push({ at, wake }));
  }

  finish(): void {
    this.done = true;
    for (const waiter of this.waiters) waiter.wake();
    this.waiters = [];
  }
}

export async function runSoak(cluster: BrokerCluster, plan: SoakPlan): Promise<SoakRun> {
  const people = await SoakPeople.signIn(cluster, plan.users);
  const progress = new Progress();
  const calls: CallRecord[] = [];
  const openings: SessionOpening[] = [];
  const run = randomUUID().slice(0, 8);
  const log = plan.log ?? (() => {});
  let restartedAt = 0;
  // Half the calls after the restart point run while the instance starts again, the rest
  // wait for it to be ready: a run always has calls after the recovery, however slow it is.
  let ready = () => {};
  const restarted = new Promise<void>((resolve) => (ready = resolve));
  const afterRestart = Math.floor((plan.calls * (1 + plan.fault.restartAt)) / 2);

  const open = async (worker: number, transport: Transport, token: string) => {
    const session = sessionClient(cluster.url, transport, token);
    const opened = await withDeadline(
      session.connect(plan.deadlineMs * 2).then(
        () => null,
        (error: unknown) => reasonOf(error, session),
      ),
      plan.deadlineMs,
    );
    if (opened === null) {
      openings.push({ worker, transport, outcome: 'opened', reason: '' });
      return session;
    }
    openings.push({ worker, transport, outcome: opened === HUNG ? 'hung' : 'refused', reason: opened === HUNG ? 'deadline' : opened });
    if (opened === HUNG) log(`opening a ${transport} session for worker ${worker} hung`);
    await session.client.close().catch(() => {});
    return null;
  };

  const work = async (worker: number, quota: number) => {
    const user = people.engineers[worker % plan.users]!;
    let sessions = 0;
    let made = 0;
    let refusals = 0;
    while (made < quota) {
      const transport: Transport = (worker + sessions++) % 2 === 0 ? 'websocket' : 'streamable-http';
      const session = await open(worker, transport, user.token);
      if (!session) {
        if (openings.at(-1)?.outcome === 'hung') return;
        // Refused (no grant between a revocation and the next, an instance going down): try
        // again shortly, but a cluster that keeps refusing for a whole deadline never recovered.
        if (++refusals * 100 > plan.deadlineMs) {
          openings.push({ worker, transport, outcome: 'hung', reason: `refused ${refusals} times in a row` });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      refusals = 0;
      for (let i = 0; i < plan.callsPerSession && made < quota; i++) {
        if (calls.length >= afterRestart) await restarted;
        made++;
        const token = `soak-${run}-${worker}-${made}`;
        const sentAt = performance.now();
        const { outcome, reason } = await callOnce(session, 'echo', { message: token }, token, plan.deadlineMs);
        calls.push({ worker, user: user.email, transport, token, sentAt, settledAt: performance.now(), outcome, reason });
        if (outcome === 'hung') log(`call ${token} (${transport}) hung`);
        if (calls.length % Math.ceil(plan.calls / 10) === 0) log(`${calls.length} calls made`);
        progress.step();
        if (outcome !== 'answered') break;
      }
      await session.client.close().catch(() => {});
      if (calls.at(-1)?.outcome === 'hung') return;
    }
  };

  const fault = async () => {
    const instance = cluster.instances[plan.fault.instance]!;
    await progress.reach(Math.floor(plan.calls * plan.fault.killAt));
    await instance.kill();
    log(`${instance.name} killed (SIGKILL)`);
    await progress.reach(Math.floor(plan.calls * plan.fault.restartAt));
    await instance.restart().finally(() => {
      restartedAt = performance.now();
      ready();
    });
    log(`${instance.name} restarted and ready`);
  };

  const churn = async () => {
    for (let i = 0; i < plan.revocations; i++) {
      await progress.reach(Math.floor(((i + 1) * plan.calls) / (plan.revocations + 1)));
      const engineer = people.engineers[i % plan.users]!;
      await people.regrant(engineer, i);
      log(`${engineer.email}: grants revoked, a new one ${i % 2 === 1 ? 'approved by the lead' : 'auto-approved'}`);
    }
  };

  const perWorker = Math.ceil(plan.calls / plan.workers);
  const workers = Promise.all(Array.from({ length: plan.workers }, (_, w) => work(w, perWorker))).finally(() => progress.finish());
  await Promise.all([workers, fault(), churn()]);
  return { calls, openings, acknowledged: people.acknowledged, restartedAt };
}
