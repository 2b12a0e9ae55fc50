import type { AnomalySeverity, AnomalyStatus } from '../gql/graphql';

const SEVERITY_LABELS: Record<AnomalySeverity, string> = { LOW: 'Low', MEDIUM: 'Medium', HIGH: 'High', CRITICAL: 'Critical' };
const STATUS_LABELS: Record<AnomalyStatus, string> = { OPEN: 'Open', ACKNOWLEDGED: 'Acknowledged' };

/** A severity as a word and a colour (never colour alone). */
export function SeverityBadge({ severity }: { severity: AnomalySeverity }) {
  return <span class={`status status-${severity.toLowerCase()}`}>{SEVERITY_LABELS[severity]}</span>;
}

export function AnomalyStatusBadge({ status }: { status: AnomalyStatus }) {
  return <span class={`status status-${status.toLowerCase()}`}>{STATUS_LABELS[status]}</span>;
}

/** `rate_spike` → `rate spike`: the rule id as the audit log and config spell it, readable. */
export function ruleLabel(rule: string): string {
  return rule.replace(/_/g, ' ');
}
