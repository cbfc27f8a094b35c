const byteUnits = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** `12.3 MB`: powers of 1000, as disks and file managers count. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < byteUnits.length - 1) {
    value /= 1000;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return new Intl.NumberFormat('en', { style: 'unit', unit: byteUnits[unit], unitDisplay: 'short', maximumFractionDigits: 1 }).format(value);
}

const ageUnits: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
];

/** `3 hours ago`, in the largest whole unit. */
export function formatAge(since: Date, now = new Date()): string {
  const elapsed = Math.max(0, now.getTime() - since.getTime());
  const [unit, size] = ageUnits.find(([, ms]) => elapsed >= ms) ?? ['second', 1000];
  return new Intl.RelativeTimeFormat('en', { numeric: 'auto' }).format(-Math.floor(elapsed / size), unit);
}

export function formatCount(value: number): string {
  return new Intl.NumberFormat('en').format(value);
}

const durationUnits: [Intl.NumberFormatOptions['unit'] & string, number][] = [
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
  ['second', 1],
];

/**
 * `15 minutes`: a span of whole seconds in the largest unit that still reads as a whole number
 * (rounded up, so a wait is never understated) once the span is at least two of that unit.
 */
export function formatDuration(seconds: number): string {
  const whole = Math.max(1, Math.ceil(seconds));
  const [unit, size] = durationUnits.find(([, unitSeconds]) => whole % unitSeconds === 0 || whole >= 2 * unitSeconds) ?? ['second', 1];
  return new Intl.NumberFormat('en', { style: 'unit', unit, unitDisplay: 'long' }).format(Math.ceil(whole / size));
}
