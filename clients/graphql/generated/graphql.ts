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
};

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

export type CreatedApiToken = {
  __typename?: 'CreatedApiToken';
  apiToken: ApiToken;
  /** Shown once; only a hash is stored. */
  token: Scalars['String']['output'];
};

/** A configured SAML identity provider people can sign in with. */
export type IdentityProvider = {
  __typename?: 'IdentityProvider';
  /** Name to show on a sign-in page. */
  displayName: Scalars['String']['output'];
  /** The IdP id used in /auth/saml/:idp/... URLs. */
  id: Scalars['ID']['output'];
};

export type Mutation = {
  __typename?: 'Mutation';
  /** Scopes: api (this GraphQL API as the user), mcp (broker connections), audit:read (audit query and subscription). */
  createApiToken: CreatedApiToken;
  /** Revokes one of the caller's tokens at once. */
  revokeApiToken: ApiToken;
};


export type MutationCreateApiTokenArgs = {
  name: Scalars['String']['input'];
  scopes: Array<Scalars['String']['input']>;
  ttlSeconds: Scalars['Int']['input'];
};


export type MutationRevokeApiTokenArgs = {
  id: Scalars['ID']['input'];
};

export type Query = {
  __typename?: 'Query';
  /** The caller's live API tokens. */
  apiTokens: Array<ApiToken>;
  /** The identity providers this broker accepts sign-ins from. */
  identityProviders: Array<IdentityProvider>;
  /** The signed-in caller (a token acts as its owner). */
  me: User;
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