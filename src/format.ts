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
