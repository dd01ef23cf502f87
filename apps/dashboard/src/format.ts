// Text for numbers, ages and countdowns; times are server timestamps rendered against the local clock.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 2 });
const clock = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit' });

export const formatCount = (value: number): string => integer.format(value);

export const formatPercent = (value: number): string => `${decimal.format(value)} %`;

const upto2 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** An uptime: `100 %`, `99.95 %` (short enough for a phone's table). */
export const formatUptime = (value: number): string => `${upto2.format(value)} %`;

export const formatClock = (ms: number): string => clock.format(ms);

/** A duration as the largest sensible unit: `4 s`, `3 min`, `2 h`, `5 d`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/** `4 s ago`, `just now` under a second; `never` for 0 (no time known). */
export function formatAgo(at: number, now: number): string {
  if (at <= 0) return 'never';
  if (now - at < 1000) return 'just now';
  return `${formatDuration(now - at)} ago`;
}

/** `in 3 s`, `now`, or `2 s late`; `–` when nothing is planned. */
export function formatCountdown(at: number | null, now: number): string {
  if (at === null) return '–';
  const ms = at - now;
  if (Math.abs(ms) < 500) return 'now';
  return ms > 0 ? `in ${formatDuration(ms)}` : `${formatDuration(-ms)} late`;
}
