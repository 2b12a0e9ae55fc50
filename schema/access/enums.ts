import { registerEnumType } from 'type-graphql';

export enum AccessRequestStatus {
  PENDING = 'PENDING',
  APPROVED = 'APPROVED',
  DENIED = 'DENIED',
  CANCELLED = 'CANCELLED',
  EXPIRED = 'EXPIRED',
}

export enum ReviewDecision {
  APPROVE = 'APPROVE',
  DENY = 'DENY',
}

export enum GrantStatus {
  ACTIVE = 'ACTIVE',
  EXPIRED = 'EXPIRED',
  REVOKED = 'REVOKED',
}

registerEnumType(AccessRequestStatus, { name: 'AccessRequestStatus' });
registerEnumType(ReviewDecision, { name: 'ReviewDecision' });
registerEnumType(GrantStatus, { name: 'GrantStatus' });
