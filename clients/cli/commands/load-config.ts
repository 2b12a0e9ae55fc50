import { ConfigError, loadConfig } from '../../../server/config/load.js';
import type { LoadedConfig } from '../../../server/config/load.js';
import { EXIT } from '../exit-codes.js';

/** Loads a config file, or prints every problem and exits 2: nothing starts on a bad config. */
export function loadConfigOrExit(file: string): LoadedConfig {
  try {
    return loadConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`portcullis: invalid configuration (${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}):`);
    console.error(error.message);
    process.exit(EXIT.invalidConfig);
  }
}
