import { performance } from 'node:perf_hooks';
import type { BrokerCluster } from './broker-cluster.js';
import { createApiToken, postGraphQL } from './test-server.js';
import type { GraphQLBody } from './test-server.js';
import { signIn } from './test-idp.js';

/** Whose engineer's grant it is about, and the answer's place among all answers (one engineer's come one after another). */
interface Answer {
  user: string;
  order: number;
}

/** What the broker acknowledged to the soak's people: each must be in the audit log once, each engineer's in order. */
export interface Acknowledged {
  /** createAccessRequest answers: the request, and its grant when auto-approved. */
  requests: (Answer & { requestId: string; grantId: string | null })[];
  /** reviewAccessRequest answers (APPROVE): the request and the grant it issued. */
  reviews: (Answer & { requestId: string; grantId: string })[];
  /** revokeGrant answers, with when the answer arrived (performance.now()). */
  revocations: (Answer & { grantId: string; at: number })[];
}

export interface Engineer {
  email: string;
  cookie: string;
  /** An `mcp` token, for every session this engineer opens. */
  token: string;
}

const CREATE = 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id grant { id } } }';
const REVIEW = 'mutation($input: ReviewAccessRequestInput!) { reviewAccessRequest(input: $input) { id grant { id } } }';
const REVOKE = 'mutation($id: ID!) { revokeGrant(id: $id, reason: "soak") { id } }';
const ACTIVE = '{ grants(active: true, first: 100) { items { id server } } }';

/**
 * The soak's engineers and their reviewer, acting through the load balancer: any
 * instance answers, and one may be dead. A mutation whose answer did not arrive is tried
 * again (what a console user would do); only answers that arrived count as acknowledged.
 */
export class SoakPeople {
  readonly acknowledged: Acknowledged = { requests: [], reviews: [], revocations: [] };
  private answers = 0;

  private constructor(
    private readonly cluster: BrokerCluster,
    readonly engineers: Engineer[],
    private readonly lead: string,
  ) {}

  static async signIn(cluster: BrokerCluster, users: number): Promise<SoakPeople> {
    const person = async (email: string, groups: string[]) => signIn(cluster.url, cluster.idp, { nameId: email, attributes: { email, groups } });
    const lead = await person('soak-lead@example.com', ['sre']);
    const engineers = await Promise.all(
      Array.from({ length: users }, async (_, i) => {
        const email = `soak-${i}@example.com`;
        const cookie = await person(email, ['engineering']);
        return { email, cookie, token: await createApiToken(cluster.url, cookie, ['mcp']) };
      }),
    );
    const people = new SoakPeople(cluster, engineers, lead);
    await Promise.all(engineers.map((engineer, i) => people.issue(engineer, i)));
    return people;
  }

  /** Ends every active grant of `engineer` (the sessions on them close), then issues a new one. */
  async regrant(engineer: Engineer, cycle: number): Promise<void> {
    const { grants } = await this.gql<{ grants: { items: { id: string }[] } }>(engineer.cookie, ACTIVE, {});
    for (const { id } of grants.items) {
      const revoked = await this.gql<{ revokeGrant: { id: string } } | null>(engineer.cookie, REVOKE, { id }, 'GRANT_NOT_ACTIVE');
      // Already ended: an earlier try went through, its answer lost on the way; not acknowledged.
      if (revoked) this.acknowledged.revocations.push({ grantId: id, user: engineer.email, order: this.answers++, at: performance.now() });
    }
    await this.issue(engineer, cycle);
  }

  /** A new grant: `echo` alone is auto-approved; every other cycle asks for more, which the lead approves. */
  private async issue(engineer: Engineer, cycle: number): Promise<void> {
    const reviewed = cycle % 2 === 1;
    const input = { server: 'everything', tools: reviewed ? ['echo', 'get-sum'] : ['echo'], reason: 'soak', durationSeconds: 3600 };
    const { createAccessRequest: created } = await this.gql<{ createAccessRequest: { id: string; grant: { id: string } | null } }>(engineer.cookie, CREATE, { input });
    this.acknowledged.requests.push({ requestId: created.id, grantId: created.grant?.id ?? null, user: engineer.email, order: this.answers++ });
    if (!reviewed) return;
    const { reviewAccessRequest: review } = await this.gql<{ reviewAccessRequest: { id: string; grant: { id: string } | null } }>(this.lead, REVIEW, { input: { requestId: created.id, decision: 'APPROVE' } });
    if (!review.grant) throw new Error(`approving ${created.id} issued no grant`);
    this.acknowledged.reviews.push({ requestId: review.id, grantId: review.grant.id, user: engineer.email, order: this.answers++ });
  }

  /**
   * One GraphQL operation, tried until an answer arrives (a dead instance, or the proxy
   * finding out, is a transport error or a 5xx). An error with code `settled` means an
   * earlier try already did it: null.
   */
  private async gql<T>(cookie: string, query: string, variables: Record<string, unknown>, settled?: string): Promise<T> {
    let last = '';
    for (let attempt = 0; attempt < 50; attempt++) {
      let answer: { status: number; body: GraphQLBody } | undefined;
      try {
        answer = await postGraphQL(this.cluster.url, { query, variables }, { cookie });
      } catch (error) {
        last = String(error);
      }
      if (answer && answer.status < 500) {
        const code = answer.body.errors?.[0]?.extensions?.code;
        if (settled !== undefined && code === settled) return null as T;
        if (answer.body.errors || !answer.body.data) throw new Error(`GraphQL failed: ${JSON.stringify(answer.body)}`);
        return answer.body.data as T;
      }
      last ||= `HTTP ${answer?.status}`;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`GraphQL never answered: ${last}`);
  }
}
