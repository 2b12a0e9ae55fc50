import type { BenchEnvironment } from './deployment.js';
import type { BrokerProcess } from './processes.js';
import type { Figure } from './report.js';

export interface ScenarioContext {
  env: BenchEnvironment;
  quick: boolean;
  /** `n`, or a tenth of it under --quick. */
  size(n: number): number;
  /** A broker process on `config` (the bench config with a fresh key prefix by default), stopped when the scenario ends. */
  startBroker(config?: Record<string, unknown>): Promise<BrokerProcess>;
  /** With `--base=<checkout>`: a broker run from that checkout instead (the relay scenario measures both, interleaved). */
  startBaseBroker?(config?: Record<string, unknown>): Promise<BrokerProcess>;
  /** Progress, on stderr: the table on stdout stays clean. */
  progress(message: string): void;
}

export interface Scenario {
  name: string;
  run(context: ScenarioContext): Promise<Figure[]>;
}
