import { describe, expect, it } from 'vitest';
import { literalCredentials, redactConfig } from '../../server/config/redact.js';
import { configSchema } from '../../server/config/schema.js';
import { testConfig } from '../support/test-server.js';

const KEY = 'Bearer otlp-secret-3b8e1f0a';

describe('observability.tracing config', () => {
  it('is off by default', () => {
    expect(testConfig().observability.tracing).toMatchObject({ enabled: false, samplingRatio: 1, serviceName: 'portcullis' });
  });

  it('requires an endpoint when enabled, and a sampling ratio between 0 and 1', () => {
    const base = testConfig();
    const problems = (tracing: Record<string, unknown>) => {
      const parsed = configSchema.safeParse({ ...base, observability: { tracing } });
      return parsed.success ? [] : parsed.error.issues.map((issue) => issue.path.join('.'));
    };
    expect(problems({ enabled: true })).toEqual(['observability.tracing.endpoint']);
    expect(problems({ enabled: true, endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 1.5 })).toEqual(['observability.tracing.samplingRatio']);
    expect(problems({ enabled: true, endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 0.1 })).toEqual([]);
  });

  it('never shows the exporter headers in the logged config, and scrubs a literal credential among them from logs', () => {
    const config = testConfig({ observability: { tracing: { enabled: true, endpoint: 'https://collector.example/v1/traces', headers: { authorization: KEY } } } });
    expect(JSON.stringify(redactConfig(config))).not.toContain('otlp-secret');
    expect(literalCredentials(config)).toEqual(expect.arrayContaining([KEY, 'otlp-secret-3b8e1f0a']));
  });
});
