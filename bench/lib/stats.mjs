// Small helpers shared by the runner and the report.

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** {median, min, max, n} of the finite values, or undefined when there are none. */
export function spread(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length === 0) return undefined;
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length };
}

export const sameWorkload = (a, b) => a.rooms === b.rooms && a.members === b.members && a.payload === b.payload;

export const workloadLabel = (w) => `${w.rooms}×${w.members} ${w.payload === 1024 ? '1 KB' : `${w.payload} B`}`;

/** The step that delivered the most: the peer's peak throughput in that run, whatever the latency. */
export const bestStep = (steps) => steps.reduce((best, s) => (s.deliveredRate > (best?.deliveredRate ?? -1) ? s : best), undefined);

/** The best step that kept up with p99 under the bound and lost nothing: sustained throughput. */
export const bestCleanStep = (steps) => bestStep(steps.filter((s) => !s.saturated));
