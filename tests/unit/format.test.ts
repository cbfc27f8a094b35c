import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../src/format.js';

describe('formatDuration (windows and waits in 429 answers)', () => {
  it.each([
    [0.2, '1 second'],
    [1, '1 second'],
    [45, '45 seconds'],
    [60, '1 minute'],
    [61, '61 seconds'],
    [119, '119 seconds'],
    [120, '2 minutes'],
    [840, '14 minutes'],
    [899.2, '15 minutes'],
    [3599, '60 minutes'],
    [3600, '1 hour'],
    [5400, '90 minutes'],
    [7201, '3 hours'],
    [86_400, '1 day'],
    [21 * 86_400, '21 days'],
  ])('%d seconds read "%s", never less than the span', (seconds, expected) => {
    expect(formatDuration(seconds)).toBe(expected);
  });
});
