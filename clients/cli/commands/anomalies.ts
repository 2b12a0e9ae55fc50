import { Option } from 'commander';
import type { Command } from 'commander';
import { isRecord } from '../../../broker/core/json.js';
import {
  AcknowledgeAnomalyDocument,
  AnomaliesDocument,
  AnomalyDetailDocument,
  AnomalyDetectedDocument,
  AnomalySuppressionsDocument,
  RemoveSuppressionDocument,
  SuppressAnomaliesDocument,
} from '../../graphql/generated/graphql.js';
import type { AnomalyDetailQuery, AnomalyFieldsFragment, AnomalySeverity, AnomalyStatus, AnomalySuppressionFieldsFragment } from '../../graphql/generated/graphql.js';
import { CliError } from '../cli-error.js';
import { jsonLine } from '../../../server/text/json-line.js';
import { fields, oneLine, table, when } from '../output.js';
import { apiFor, clientCommand, collect, countOption, durationOption, emit } from './client-command.js';
import type { ClientOptions } from './client-command.js';

type Anomaly = AnomalyFieldsFragment;
type ListOptions = ClientOptions & { status?: 'open' | 'acknowledged'; user?: string; rule?: string; severity?: 'low' | 'medium' | 'high' | 'critical'; limit: number; follow?: boolean };

/** Lowest first, as the API ranks them. */
const SEVERITIES: readonly AnomalySeverity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
const HEADERS = ['ID', 'TIME', 'SEVERITY', 'RULE', 'USER', 'STATUS', 'SUMMARY'];

export function anomaliesCommand(): Command {
  const anomalies = clientCommand('anomalies', 'Outliers the detector raised (auditors only): list them, or follow new ones with --follow.')
    .addOption(new Option('--status <status>', 'only open or only acknowledged ones').choices(['open', 'acknowledged']))
    .option('--user <email>', 'only anomalies about this user')
    .option('--rule <id>', 'only this rule (rate_spike, probing, ...)')
    .addOption(new Option('--severity <level>', 'only this severity or above').choices(['low', 'medium', 'high', 'critical']))
    .option('--limit <n>', 'at most this many, newest first', countOption, 50)
    .option('--follow', 'after the list (oldest first), print new anomalies as they are raised, until interrupted (one JSON object a line with --json)')
    // The list's --user is not suppress's (the program enables positional options too).
    .enablePositionalOptions()
    .action(listAnomalies);
  anomalies.addCommand(
    clientCommand('show', 'One anomaly: what was observed beside its baseline, and the audit events that triggered it.')
      .argument('<id>', 'anomaly id')
      .action(async (id: string, options: ClientOptions) => {
        const { anomaly } = await apiFor(options).request(AnomalyDetailDocument, { id });
        if (!anomaly) throw new CliError('NOT_FOUND', 'anomaly not found');
        emit(options, anomaly, () => describeAnomaly(anomaly));
      }),
  );
  anomalies.addCommand(
    clientCommand('ack', 'Acknowledge an open anomaly (audited, with your note).')
      .argument('<id>', 'anomaly id')
      .option('--note <text>', 'what you found (the audit log keeps it)')
      .action(async (id: string, options: ClientOptions & { note?: string }) => {
        const { acknowledgeAnomaly } = await apiFor(options).request(AcknowledgeAnomalyDocument, { id, note: options.note ?? null });
        emit(options, acknowledgeAnomaly, () => `Acknowledged ${acknowledgeAnomaly.id} (${acknowledgeAnomaly.rule}, ${acknowledgeAnomaly.user}).`);
      }),
  );
  anomalies.addCommand(
    clientCommand('suppress', 'Silence a rule for a user for a while (a known cause: a migration, a pen test).')
      .requiredOption('--user <email>', 'the user')
      .requiredOption('--rule <id>', 'the rule id, as anomalies show it (rate_spike, probing, ...)')
      .requiredOption('--for <duration>', 'how long, like 8h or 7d (at most 90d)', durationOption)
      .requiredOption('--reason <text>', 'the known cause (the audit log keeps it)')
      .action(async (options: ClientOptions & { user: string; rule: string; for: number; reason: string }) => {
        const input = { user: options.user, rule: options.rule, durationSeconds: options.for, reason: options.reason };
        const { suppressAnomalies } = await apiFor(options).request(SuppressAnomaliesDocument, { input });
        emit(options, suppressAnomalies, () => `Suppressed ${suppressAnomalies.rule} for ${suppressAnomalies.user} until ${when(suppressAnomalies.expiresAt)} (${suppressAnomalies.id}).`);
      }),
  );
  anomalies.addCommand(
    clientCommand('suppressions', 'Live suppressions, soonest to expire first.').action(async (options: ClientOptions) => {
      const { anomalySuppressions } = await apiFor(options).request(AnomalySuppressionsDocument, {});
      emit(options, anomalySuppressions, () => (anomalySuppressions.length === 0 ? 'No live suppressions.' : suppressionTable(anomalySuppressions)));
    }),
  );
  anomalies.addCommand(
    clientCommand('unsuppress', 'End a suppression now.')
      .argument('<id>', 'suppression id (see `portcullis anomalies suppressions`)')
      .action(async (id: string, options: ClientOptions) => {
        const { removeSuppression } = await apiFor(options).request(RemoveSuppressionDocument, { id });
        emit(options, removeSuppression, () => `Removed ${removeSuppression.id}: ${removeSuppression.rule} is raised for ${removeSuppression.user} again.`);
      }),
  );
  return anomalies;
}

async function listAnomalies(options: ListOptions): Promise<void> {
  const api = apiFor(options);
  const status: AnomalyStatus | null = options.status === 'open' ? 'OPEN' : options.status === 'acknowledged' ? 'ACKNOWLEDGED' : null;
  const severityAtLeast = (options.severity?.toUpperCase() ?? null) as AnomalySeverity | null;
  const filter = { status, user: options.user ?? null, rule: options.rule ?? null, severityAtLeast };
  const items = await collect(options.limit, async (after, first) => (await api.request(AnomaliesDocument, { filter, first, after })).anomalies);
  if (!options.follow) {
    emit(options, items, () => (items.length === 0 ? 'No anomalies.' : table(HEADERS, items.map(row))));
    return;
  }
  // Following prints one line per anomaly (JSON lines with --json), oldest first, so new ones go at the bottom.
  const print = (anomaly: Anomaly) => console.log(options.json ? jsonLine(anomaly) : oneLine(row(anomaly).join('  ')));
  const shown = new Set<string>();
  for (const anomaly of items.toReversed()) {
    shown.add(anomaly.id);
    print(anomaly);
  }
  const least = severityAtLeast ? SEVERITIES.indexOf(severityAtLeast) : 0;
  const matches = (a: Anomaly) => (!status || a.status === status) && (!options.user || a.user === options.user) && (!options.rule || a.rule === options.rule) && SEVERITIES.indexOf(a.severity) >= least;
  await followNew(options, items[0]?.auditEventId ?? null, (anomaly) => {
    // A reconnect replays from the same cursor: what was printed once is not printed again.
    if (shown.has(anomaly.id) || !matches(anomaly)) return;
    shown.add(anomaly.id);
    print(anomaly);
  });
}

/** Replays anomalies raised after `after` (the newest listed one's event), then live ones, until interrupted or refused. */
async function followNew(options: ClientOptions, after: string | null, onAnomaly: (anomaly: Anomaly) => void): Promise<void> {
  const api = apiFor(options);
  await new Promise<void>((_resolve, reject) => {
    const subscription = api.subscribe(AnomalyDetectedDocument, { after }, { onData: ({ anomalyDetected }) => onAnomaly(anomalyDetected), onError: reject });
    subscription.connected.catch(reject);
  });
}

function row(a: Anomaly): string[] {
  return [a.id, when(a.at), a.severity, a.rule, a.user, a.status, a.summary];
}

function describeAnomaly(anomaly: NonNullable<AnomalyDetailQuery['anomaly']>): string {
  const header = fields([
    ['Anomaly', anomaly.id],
    ['Rule', anomaly.rule],
    ['Severity', `${anomaly.severity} (score ${anomaly.score})`],
    ['User', anomaly.user],
    ['Where', [anomaly.server, anomaly.tool].filter(Boolean).join('/')],
    ['Session', anomaly.sessionId ?? ''],
    ['At', when(anomaly.at)],
    ['Status', anomaly.acknowledgedBy ? `${anomaly.status} by ${anomaly.acknowledgedBy} ${when(anomaly.acknowledgedAt)}` : anomaly.status],
    ['Note', anomaly.note ?? ''],
    ['Responses', anomaly.responses.map((r) => `${r.action} (${r.outcome}${r.detail ? `: ${r.detail}` : ''})`).join('; ')],
    ['Summary', anomaly.summary],
  ]);
  // JSON objects, as the detector records them; the JSON scalar is only typed `unknown`.
  const observed = isRecord(anomaly.observed) ? anomaly.observed : {};
  const baseline = isRecord(anomaly.baseline) ? anomaly.baseline : {};
  const keys = [...new Set([...Object.keys(observed), ...Object.keys(baseline)])];
  const comparison = table(['MEASURE', 'OBSERVED', 'BASELINE'], keys.map((key) => [key, shown(observed[key]), shown(baseline[key])]));
  const events = table(
    ['EVENT', 'TIME', 'TYPE', 'OUTCOME', 'SERVER', 'TOOL', 'SESSION'],
    anomaly.triggeringEvents.map((e) => [e.id, when(e.time), e.type, e.outcome, e.server ?? '', e.tool ?? '', e.sessionId ?? '']),
  );
  return `${header}\n\n${comparison}\n\nTriggering events (see \`portcullis audit tail --after\` or the console's audit view):\n${events}`;
}

function suppressionTable(suppressions: readonly AnomalySuppressionFieldsFragment[]): string {
  return table(['ID', 'USER', 'RULE', 'EXPIRES', 'BY', 'REASON'], suppressions.map((s) => [s.id, s.user, s.rule, when(s.expiresAt), s.createdBy, s.reason]));
}

function shown(value: unknown): string {
  return value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
}
