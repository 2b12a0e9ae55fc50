import type { DetectionConfig, Finding, RuleId } from '../types.js';

/** A finding with the rule's configured severity; the score rounded for people to read (two decimals). */
export function finding(config: DetectionConfig, rule: RuleId, fields: Omit<Finding, 'rule' | 'severity'>): Finding {
  return { rule, severity: config.rules[rule].severity, ...fields, score: Math.round(fields.score * 100) / 100 };
}

/** Bytes as a person reads them ("512 KiB"). */
export function sizeText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
