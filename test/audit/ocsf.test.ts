import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderOcsfExamples } from '../../clients/audit/ocsf-examples.js';
import { toOcsf } from '../../clients/audit/ocsf.js';
import type { WireAuditEvent } from '../../clients/audit/ocsf.js';
import { AUDIT_EVENT_TYPES } from '../../server/audit/event-types.js';

describe('OCSF mapping documentation', () => {
  it('docs/ocsf-examples.md shows every event type and is current', () => {
    const doc = readFileSync('docs/ocsf-examples.md', 'utf8');
    expect(doc, 'stale: run `npm run docs`').toBe(renderOcsfExamples());
    for (const type of AUDIT_EVENT_TYPES) expect(doc).toContain(`## \`${type}\``);
  });
});

describe('anomalies as OCSF 1.1.0 Detection Findings', () => {
  const detected = (severity: string, rule = 'rate_spike'): WireAuditEvent => ({
    id: '1732442409000-0',
    type: 'anomaly.detected',
    time: '2026-11-24T10:00:00.000Z',
    outcome: 'SUCCESS',
    actor: null,
    server: 'everything',
    tool: 'read_file',
    sessionId: 's-1',
    data: { anomalyId: 'an_9f', rule, severity, score: 2.5, user: 'alice@example.com', summary: 'alice@example.com made 180 calls in 10 minutes; her usual is 12', observed: { calls: 180 }, baseline: { median: 12 }, eventIds: ['1732442400000-0', '1732442408000-0'], grantId: 'g-1' },
    hash: '4be0',
  });

  it('maps anomaly.detected to class 2004 (Findings, Create) with the anomaly as finding_info and its triggering events as related_events', () => {
    const event = detected('high');
    expect(toOcsf(event)).toEqual({
      class_uid: 2004,
      class_name: 'Detection Finding',
      category_uid: 2,
      category_name: 'Findings',
      activity_id: 1,
      activity_name: 'Create',
      type_uid: 200401,
      type_name: 'Detection Finding: Create',
      time: Date.parse(event.time),
      severity_id: 4,
      severity: 'High',
      status_id: 1,
      status: 'New',
      status_code: 'SUCCESS',
      message: event.data.summary,
      metadata: { version: '1.1.0', uid: event.id, original_time: event.time, product: { name: 'Portcullis', vendor_name: 'Portcullis' } },
      finding_info: {
        uid: 'an_9f',
        title: 'rate_spike anomaly: alice@example.com',
        desc: event.data.summary,
        types: ['rate_spike'],
        created_time: Date.parse(event.time),
        analytic: { uid: 'rate_spike', name: 'rate_spike', type_id: 3, type: 'Statistical' },
        related_events: [{ uid: '1732442400000-0' }, { uid: '1732442408000-0' }],
      },
      resources: [
        { type: 'mcp_server', name: 'everything' },
        { type: 'mcp_tool', name: 'read_file' },
      ],
      evidences: [{ actor: { user: { email_addr: 'alice@example.com', name: 'alice@example.com' }, session: { uid: 's-1' } }, data: { score: 2.5, observed: { calls: 180 }, baseline: { median: 12 } } }],
      unmapped: { portcullis: event },
    });
  });

  it('gives each severity its OCSF severity_id (low 2, medium 3, high 4, critical 5)', () => {
    expect(['low', 'medium', 'high', 'critical'].map((s) => toOcsf(detected(s)).severity_id)).toEqual([2, 3, 4, 5]);
  });

  it('keeps the other anomaly events as API Activity', () => {
    const response: WireAuditEvent = { ...detected('high'), type: 'anomaly.response', data: { anomalyId: 'an_9f', action: 'suspend_session' } };
    expect(toOcsf(response)).toMatchObject({ class_uid: 6003, type_uid: 600399, unmapped: { portcullis: response } });
  });
});
