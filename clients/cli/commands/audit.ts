import { readFileSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { defaultMaxGapSeconds } from '../../../server/audit/checkpoints.js';
import { AuditKeyRing, ed25519Key } from '../../../server/audit/seal.js';
import { refusedAsBroken, verifyLog } from '../../../server/audit/verify.js';
import type { VerifyOptions, VerifyReport } from '../../../server/audit/verify.js';
import { systemClock } from '../../../server/clock.js';
import { AUDIT_FILE_NAME, auditFileSnapshot } from '../../../server/stores/embedded/file-audit-log.js';
import { createRedisStores } from '../../../server/stores/redis/index.js';
import { followAuditFeed } from '../../audit/tail.js';
import { resolveCredentials } from '../credentials.js';
import { formatDuration } from '../../../server/text/durations.js';
import { EXIT } from '../exit-codes.js';
import { errorLine, oneLine } from '../output.js';
import { durationOption } from './client-command.js';
import { loadConfigOrExit } from './load-config.js';
import type { PortcullisConfig } from '../../../server/config/schema.js';

interface VerifyFlags {
  config: string;
  publicKey: string[];
  maxGap?: number;
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('Check and export the audit log.');

  audit
    .command('verify')
    .description('Walk the hash chain of the audit log and report the first broken link (exit 0 intact, 1 broken). With --public-key, every signed checkpoint must verify and checkpoints must cover the log.')
    .requiredOption('-c, --config <file>', 'the broker configuration (its store is read directly)', process.env.PORTCULLIS_CONFIG)
    .option('--public-key <file>', 'PEM Ed25519 public key checkpoints are signed with (repeat it across a key rotation)', publicKeyOption, [])
    .option('--max-gap <duration>', 'longest time between checkpoints with events between them (default: 3 x audit.checkpoints.intervalSeconds)', durationOption)
    .action(async (options: VerifyFlags) => {
      const { config, file } = loadConfigOrExit(options.config);
      const maxGapSeconds = options.maxGap ?? defaultMaxGapSeconds(config.audit.checkpoints?.intervalSeconds);
      const verify: VerifyOptions = {
        keys: options.publicKey.length > 0 ? new AuditKeyRing(options.publicKey) : undefined,
        maxGapMs: maxGapSeconds * 1000,
        now: Date.now(),
      };
      const retention = config.audit.retention !== undefined;
      const report = await refusedAsBroken(() =>
        config.store.redis ? verifyRedis(config.store.redis, retention, verify) : verifyFile(join(resolve(dirname(file), config.store.dataDir), AUDIT_FILE_NAME), retention, verify),
      );
      if (report.broken) {
        // The id and reason come from the log under suspicion: its escape sequences must not redraw this line.
        errorLine(`audit log BROKEN at event ${report.broken.id} (#${report.broken.position}): ${report.broken.reason}`);
        process.exit(EXIT.failure);
      }
      console.log(oneLine(`audit log intact: ${report.events} events${report.lastId ? `, last cursor ${report.lastId}` : ''}, head ${report.lastHash}`));
      console.log(checkpointLine(report.checkpoints, maxGapSeconds));
    });

  audit
    .command('tail')
    .description('Stream audit events as JSON lines to stdout (replay from a cursor, then live), for a SIEM or a file.')
    .option('-b, --broker <url>', 'broker base URL (default: $PORTCULLIS_BROKER, else the one you logged in to)')
    .option('--after <cursor>', 'start after this cursor (default: the cursor file, else only new events)')
    .option('--cursor-file <file>', 'read the cursor to resume from, and record each delivered cursor here')
    .addOption(new Option('--format <format>', 'json: Portcullis events; ocsf: OCSF 1.1 events').choices(['json', 'ocsf']).default('json'))
    .action(async (options: { broker?: string; after?: string; cursorFile?: string; format: 'json' | 'ocsf' }) => {
      const { broker, token } = resolveCredentials(options);
      await followAuditFeed({
        broker,
        token,
        after: options.after,
        cursorFile: options.cursorFile,
        format: options.format,
        write: (line) => process.stdout.write(`${line}\n`),
        report: errorLine,
      });
    });

  return audit;
}

/** commander parser for `--public-key FILE`: read and checked at once, so a wrong file is a clear usage error. */
function publicKeyOption(file: string, previous: string[]): string[] {
  try {
    const pem = readFileSync(file, 'utf8');
    ed25519Key(pem, 'public');
    return [...previous, pem];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function checkpointLine(checkpoints: VerifyReport['checkpoints'], maxGapSeconds: number): string {
  if (checkpoints.count === 0) return `no checkpoints${checkpoints.verified ? '' : ' (unsigned log: whoever can write the store can rewrite it)'}`;
  const what = checkpoints.verified ? `verified (max gap ${formatDuration(maxGapSeconds)})` : 'found, signatures not checked (pass --public-key)';
  return `${checkpoints.count} checkpoints ${what}; last at ${checkpoints.lastTime}, ${checkpoints.eventsAfter} events after it not yet covered`;
}

/** The embedded log, read without its lock: verifying never needs the broker stopped. */
async function verifyFile(path: string, retention: boolean, options: VerifyOptions): Promise<VerifyReport> {
  return verifyLog(auditFileSnapshot(path, { retention }), options);
}

async function verifyRedis(redis: NonNullable<PortcullisConfig['store']['redis']>, retention: boolean, options: VerifyOptions): Promise<VerifyReport> {
  const stores = createRedisStores({ ...redis, clock: systemClock, audit: { retention } });
  try {
    await stores.waitReady();
    return await verifyLog(stores.audit, options);
  } finally {
    await stores.close();
  }
}
