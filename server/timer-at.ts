import type { Clock } from './clock.js';

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a longer one fires at once. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** A cancellable, unref'd timer that fires at `at` on the clock, however far away that is. */
export function timerAt(clock: Clock, at: number, fire: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const delay = at - clock.now();
    timer = delay > MAX_DELAY_MS ? setTimeout(arm, MAX_DELAY_MS) : setTimeout(fire, Math.max(0, delay) + 1);
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
