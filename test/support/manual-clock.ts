import type { Clock } from '../../server/clock.js';

/** A clock the test moves by hand: expiry is tested by advancing it, never by sleeping. */
export class ManualClock implements Clock {
  constructor(private current = Date.now()) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}
