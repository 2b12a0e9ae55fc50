import { useEffect, useState } from 'preact/hooks';
import { formatAge, formatLocalTime, formatTimeLeft, formatUtcTime } from '../format/time-format';

/** An instant in the viewer's time zone; the exact UTC time on hover and in `datetime`. */
export function Time({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={formatUtcTime(iso)}>
      {formatLocalTime(iso)}
    </time>
  );
}

/** The current time, re-read every `intervalMs` (for countdowns and ages). */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** "12 min 30 s left", ticking; the end time on hover. */
export function TimeLeft({ expiresAt }: { expiresAt: string }) {
  const now = useNow();
  return (
    <time dateTime={expiresAt} title={`Ends ${formatUtcTime(expiresAt)}`}>
      {formatTimeLeft(expiresAt, now)}
    </time>
  );
}

/** "5 min ago", refreshed every few seconds; the instant on hover. */
export function Age({ since }: { since: string }) {
  const now = useNow(5000);
  return (
    <time dateTime={since} title={formatUtcTime(since)}>
      {formatAge(since, now)}
    </time>
  );
}
