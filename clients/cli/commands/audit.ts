import { join, dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { pagesOf, verifyChain } from '../../../server/audit/verify.js';
import type { VerifyReport } from '../../../server/audit/verify.js';
import { systemClock } from '../../../server/clock.js';
import { AuditLogCorruptError } from '../../../server/errors.js';
import { AUDIT_FILE_NAME, readAuditFile } from '../../../server/stores/embedded/file-audit-log.js';
import { createRedisStores } from '../../../server/stores/redis/index.js';
import { followAuditFeed } from '../../audit/tail.js';
import { resolveCredentials } from '../credentials.js';
import { EXIT } from '../exit-codes.js';
import { loadConfigOrExit } from './load-config.js';

export function auditCommand(): Command {
  const audit = new Command('audit').description('Check and export the audit log.');

  audit
    .command('verify')
    .description('Walk the hash chain of the audit log and report the first broken link (exit 0 intact, 1 broken).')
    .requiredOption('-c, --config <file>', 'the broker configuration (its store is read directly)', process.env.PORTCULLIS_CONFIG)
    .action(async (options: { config: string }) => {
      const { config, file } = loadConfigOrExit(options.config);
      const report = config.store.redis ? await verifyRedis(config.store.redis) : await verifyFile(join(resolve(dirname(file), config.store.dataDir), AUDIT_FILE_NAME));
      if (report.broken) {
        console.error(`audit log BROKEN at event ${report.broken.id} (#${report.broken.position}): ${report.broken.reason}`);
        process.exit(EXIT.failure);
      }
      console.log(`audit log intact: ${report.events} events${report.lastId ? `, last cursor ${report.lastId}` : ''}, head ${report.lastHash}`);
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
        report: (line) => console.error(line),
      });
    });

  return audit;
}

/** The embedded log, read without its lock: verifying never needs the broker stopped. */
async function verifyFile(path: string): Promise<VerifyReport> {
  try {
    const { events, start } = readAuditFile(path);
    return await verifyChain([events], start.prevHash);
  } catch (error) {
    if (!(error instanceof AuditLogCorruptError)) throw error;
    return { events: 0, lastId: null, lastHash: '', broken: { id: '?', position: 0, reason: error.message } };
  }
}

async function verifyRedis(redis: { url: string; keyPrefix: string; commandTimeoutMs: number; connectTimeoutMs: number }): Promise<VerifyReport> {
  const stores = createRedisStores({ ...redis, clock: systemClock });
  try {
    await stores.waitReady();
    const report = await verifyChain(pagesOf((after) => stores.audit.read({ after, limit: 1000 })), await stores.audit.chainStart());
    const head = await stores.audit.headHash();
    if (!report.broken && head !== report.lastHash) {
      return { ...report, broken: { id: report.lastId ?? '(start)', position: report.events, reason: 'the chain head names a later event: events were cut from the end of the log' } };
    }
    return report;
  } finally {
    await stores.close();
  }
}
