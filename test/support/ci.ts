/**
 * Whether this run is CI: there a missing tool (redis-server, Chromium) fails the run
 * instead of skipping the tests that need it. CI services set CI to "true" (some to "1");
 * anything but empty, "0" or "false" counts.
 */
export function isCi(): boolean {
  const ci = process.env.CI?.trim().toLowerCase();
  return ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false';
}
