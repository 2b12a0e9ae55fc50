/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string; }
  String: { input: string; output: string; }
  Boolean: { input: boolean; output: boolean; }
  Int: { input: number; output: number; }
  Float: { input: number; output: number; }
  /** A date-time string at UTC, such as 2007-12-03T10:15:30Z, compliant with the `date-time` format outlined in section 5.6 of the RFC 3339 profile of the ISO 8601 standard for representation of dates and times using the Gregorian calendar.This scalar is serialized to a string in ISO 8601 format and parsed from a string in ISO 8601 format. */
  DateTimeISO: { input: string; output: string; }
  /** The `JSON` scalar type represents JSON values as specified by [ECMA-404](http://www.ecma-international.org/publications/files/ECMA-ST/ECMA-404.pdf). */
  JSON: { input: unknown; output: unknown; }
};

/** A request for time-boxed access to an MCP server (or some of its tools). */
export type AccessRequest = {
  __typename?: 'AccessRequest';
  createdAt: Scalars['DateTimeISO']['output'];
  /** Patterns the granting rule excludes; carried into the grant. */
  deniedTools: Array<Scalars['String']['output']>;
  durationSeconds: Scalars['Int']['output'];
  /** When a request that nobody reviewed lapses to EXPIRED. */
  expiresAt: Scalars['DateTimeISO']['output'];
  grant: Maybe<Grant>;
  id: Scalars['ID']['output'];
  reason: Scalars['String']['output'];
  requester: User;
  reviews: Array<Review>;
  server: Scalars['String']['output'];
  status: AccessRequestStatus;
  /** Tool name patterns requested. */
  tools: Array<Scalars['String']['output']>;
};

export type AccessRequestPage = {
  __typename?: 'AccessRequestPage';
  items: Array<AccessRequest>;
  pageInfo: PageInfo;
};

export type AccessRequestStatus =
  | 'APPROVED'
  | 'CANCELLED'
  | 'DENIED'
  | 'EXPIRED'
  | 'PENDING';

/** An API token (never its secret). */
export type ApiToken = {
  __typename?: 'ApiToken';
  createdAt: Scalars['DateTimeISO']['output'];
  expiresAt: Scalars['DateTimeISO']['output'];
  id: Scalars['ID']['output'];
  name: Scalars['String']['output'];
  /** api, mcp and/or audit:read. */
  scopes: Array<Scalars['String']['output']>;
};

/** One entry of the tamper-evident audit log. */
export type AuditEvent = {
  __typename?: 'AuditEvent';
  /** The acting user's email (a token acts as its owner); null for the system itself. */
  actor: Maybe<Scalars['String']['output']>;
  data: Scalars['JSON']['output'];
  /** Hash chaining this event to the previous one (tamper evidence). */
  hash: Scalars['String']['output'];
  /** Stream cursor: strictly increasing, usable as `after`. */
  id: Scalars['ID']['output'];
  outcome: AuditOutcome;
  /** The previous event's hash, which this event's hash covers. */
  prevHash: Scalars['String']['output'];
  server: Maybe<Scalars['String']['output']>;
  sessionId: Maybe<Scalars['String']['output']>;
  time: Scalars['DateTimeISO']['output'];
  tool: Maybe<Scalars['String']['output']>;
  type: Scalars['String']['output'];
};

export type AuditEventPage = {
  __typename?: 'AuditEventPage';
  items: Array<AuditEvent>;
  pageInfo: PageInfo;
};

export type AuditFilter = {
  actor: InputMaybe<Scalars['String']['input']>;
  outcome: InputMaybe<AuditOutcome>;
  server: InputMaybe<Scalars['String']['input']>;
  since: InputMaybe<Scalars['DateTimeISO']['input']>;
  types: InputMaybe<Array<Scalars['String']['input']>>;
  until: InputMaybe<Scalars['DateTimeISO']['input']>;
};

export type AuditOutcome =
  | 'DENIED'
  | 'ERROR'
  | 'SUCCESS';

export type CreateAccessRequestInput = {
  durationSeconds: Scalars['Int']['input'];
  reason: Scalars['String']['input'];
  server: Scalars['String']['input'];
  /** Tool name patterns; omitted: every tool the requester may request on the server. */
  tools: InputMaybe<Array<Scalars['String']['input']>>;
};

export type CreatedApiToken = {
  __typename?: 'CreatedApiToken';
  apiToken: ApiToken;
  /** Shown once; only a hash is stored. */
  token: Scalars['String']['output'];
};

/** Time-boxed access to an MCP server, issued from an approved request. */
export type Grant = {
  __typename?: 'Grant';
  /** Tool name patterns excluded even where `tools` match. */
  deniedTools: Array<Scalars['String']['output']>;
  expiresAt: Scalars['DateTimeISO']['output'];
  id: Scalars['ID']['output'];
  issuedAt: Scalars['DateTimeISO']['output'];
  /** The request that issued it, when the caller may see that request. */
  request: Maybe<AccessRequest>;
  /** Why it was revoked, when it was. */
  revokeReason: Maybe<Scalars['String']['output']>;
  revokedAt: Maybe<Scalars['DateTimeISO']['output']>;
  server: Scalars['String']['output'];
  status: GrantStatus;
  /** Tool name patterns this grant allows on the server. */
  tools: Array<Scalars['String']['output']>;
  user: User;
};

export type GrantPage = {
  __typename?: 'GrantPage';
  items: Array<Grant>;
  pageInfo: PageInfo;
};

export type GrantStatus =
  | 'ACTIVE'
  | 'EXPIRED'
  | 'REVOKED';

/** A configured SAML identity provider people can sign in with. */
export type IdentityProvider = {
  __typename?: 'IdentityProvider';
  /** Name to show on a sign-in page. */
  displayName: Scalars['String']['output'];
  /** The IdP id used in /auth/saml/:idp/... URLs. */
  id: Scalars['ID']['output'];
};

/** An upstream MCP server as the caller may see it. */
export type McpServer = {
  __typename?: 'McpServer';
  description: Maybe<Scalars['String']['output']>;
  name: Scalars['String']['output'];
  /** Tool patterns the caller may request on this server (empty: not requestable). */
  requestableTools: Array<Scalars['String']['output']>;
  /** Tool patterns the caller may review requests for (empty: not a reviewer here). */
  reviewableTools: Array<Scalars['String']['output']>;
  /** stdio or streamable-http. */
  transport: Scalars['String']['output'];
};

export type Mutation = {
  __typename?: 'Mutation';
  cancelAccessRequest: AccessRequest;
  createAccessRequest: AccessRequest;
  /** Scopes: api (this GraphQL API as the user), mcp (broker connections), audit:read (audit query and subscription). */
  createApiToken: CreatedApiToken;
  reviewAccessRequest: AccessRequest;
  /** Revokes one of the caller's tokens at once. */
  revokeApiToken: ApiToken;
  /** Ends a grant at once, on every broker instance. By its owner, a reviewer who could have approved it, or an auditor. */
  revokeGrant: Grant;
};


export type MutationCancelAccessRequestArgs = {
  id: Scalars['ID']['input'];
};


export type MutationCreateAccessRequestArgs = {
  input: CreateAccessRequestInput;
};


export type MutationCreateApiTokenArgs = {
  name: Scalars['String']['input'];
  scopes: Array<Scalars['String']['input']>;
  ttlSeconds: Scalars['Int']['input'];
};


export type MutationReviewAccessRequestArgs = {
  input: ReviewAccessRequestInput;
};


export type MutationRevokeApiTokenArgs = {
  id: Scalars['ID']['input'];
};


export type MutationRevokeGrantArgs = {
  id: Scalars['ID']['input'];
  reason: Scalars['String']['input'];
};

/** Cursor pagination: pass endCursor as `after` for the next page. */
export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
};

export type Query = {
  __typename?: 'Query';
  accessRequest: Maybe<AccessRequest>;
  /** mine: only the caller's own; otherwise those the caller may see (own + reviewable). */
  accessRequests: AccessRequestPage;
  /** The caller's live API tokens. */
  apiTokens: Array<ApiToken>;
  /** The audit log in event order. Auditors (with audit:read) see every event; others only their own. */
  auditEvents: AuditEventPage;
  /** The caller's grants (auditors: everyone's). */
  grants: GrantPage;
  /** The identity providers this broker accepts sign-ins from. */
  identityProviders: Array<IdentityProvider>;
  /** The configured MCP servers, with what the caller may request and review on each. */
  mcpServers: Array<McpServer>;
  /** The signed-in caller (a token acts as its owner). */
  me: User;
};


export type QueryAccessRequestArgs = {
  id: Scalars['ID']['input'];
};


export type QueryAccessRequestsArgs = {
  after: InputMaybe<Scalars['String']['input']>;
  first: InputMaybe<Scalars['Int']['input']>;
  mine: InputMaybe<Scalars['Boolean']['input']>;
  status: InputMaybe<AccessRequestStatus>;
};


export type QueryAuditEventsArgs = {
  after: InputMaybe<Scalars['String']['input']>;
  filter: InputMaybe<AuditFilter>;
  first: InputMaybe<Scalars['Int']['input']>;
};


export type QueryGrantsArgs = {
  active: InputMaybe<Scalars['Boolean']['input']>;
  after: InputMaybe<Scalars['String']['input']>;
  first: InputMaybe<Scalars['Int']['input']>;
};

export type Review = {
  __typename?: 'Review';
  createdAt: Scalars['DateTimeISO']['output'];
  decision: ReviewDecision;
  /** The shorter duration this approver allowed, if any. */
  durationSeconds: Maybe<Scalars['Int']['output']>;
  reason: Maybe<Scalars['String']['output']>;
  reviewer: User;
};

export type ReviewAccessRequestInput = {
  decision: ReviewDecision;
  /** Approvers may shorten, never lengthen, the requested duration. */
  durationSeconds: InputMaybe<Scalars['Int']['input']>;
  reason: InputMaybe<Scalars['String']['input']>;
  requestId: Scalars['ID']['input'];
};

export type ReviewDecision =
  | 'APPROVE'
  | 'DENY';

export type Subscription = {
  __typename?: 'Subscription';
  /** Requests the caller may see, as they are created and change state. */
  accessRequestChanged: AccessRequest;
  /** Live audit feed. With `after`, first replays every event after that cursor, then goes live: no gap, no duplicate. */
  auditEvents: AuditEvent;
};


export type SubscriptionAuditEventsArgs = {
  after: InputMaybe<Scalars['String']['input']>;
  filter: InputMaybe<AuditFilter>;
};

/** A person, as their identity provider described them at sign-in. */
export type User = {
  __typename?: 'User';
  displayName: Maybe<Scalars['String']['output']>;
  email: Scalars['String']['output'];
  /** Groups asserted by the identity provider. */
  groups: Array<Scalars['String']['output']>;
  /** Stable id: `<idp>:<NameID>`. */
  id: Scalars['ID']['output'];
  /** The identity provider the user signed in with. */
  idp: Scalars['String']['output'];
  /** Portcullis roles these groups and this email map to. */
  roles: Array<Scalars['String']['output']>;
};

export type IdentityProvidersQueryVariables = Exact<{ [key: string]: never; }>;


export type IdentityProvidersQuery = { identityProviders: Array<{ id: string, displayName: string }> };


export const IdentityProvidersDocument = {"kind":"Document","definitions":[{"kind":"OperationDefinition","operation":"query","name":{"kind":"Name","value":"IdentityProviders"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"identityProviders"},"selectionSet":{"kind":"SelectionSet","selections":[{"kind":"Field","name":{"kind":"Name","value":"id"}},{"kind":"Field","name":{"kind":"Name","value":"displayName"}}]}}]}}]} as unknown as DocumentNode<IdentityProvidersQuery, IdentityProvidersQueryVariables>;