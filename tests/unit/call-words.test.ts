import { describe, expect, it } from 'vitest';
import { endingInWords, formatDuration, recordInWords } from '../../web/src/lib/call-words.js';

describe('call durations', () => {
  it('read as m:ss, and h:mm:ss from an hour', () => {
    expect([0, 7, 59, 60, 61, 599.6, 3599, 3600, 3661, -3].map(formatDuration)).toEqual(['0:00', '0:07', '0:59', '1:00', '1:01', '10:00', '59:59', '1:00:00', '1:01:01', '0:00']);
  });
});

describe('how a call ended, in words', () => {
  it('depends on the side: the caller hears who did what, the callee what it missed', () => {
    const both = (reason: string) => [endingInWords(reason, true, 'bob', false), endingInWords(reason, false, 'alice', false)];
    expect(both('rejected')).toEqual(['bob rejected the call', 'You rejected the call']);
    expect(both('timeout')).toEqual(['No answer: bob did not pick up in time', 'Missed call from alice']);
    expect(both('cancelled')).toEqual(['Call cancelled', 'Missed call from alice: they hung up']);
    expect(endingInWords('busy', true, 'bob', false)).toBe('bob is busy on another call');
    expect(endingInWords('unavailable', true, 'bob', false)).toBe('bob is unavailable: not connected right now');
    expect(endingInWords('answered_elsewhere', false, 'alice', false)).toBe('Answered on another device');
    expect([endingInWords('hangup', true, 'bob', true), endingInWords('hangup', true, 'bob', false)]).toEqual(['You ended the call', 'bob ended the call']);
    expect(endingInWords('disconnected', true, 'bob', false)).toBe('Call ended: the connection to bob was lost');
    expect(endingInWords('server_shutdown', true, 'bob', false)).toBe('Call ended: the server restarted');
  });

  it('in the history, from the stored status and reason', () => {
    const row = (status: string, endReason: string | null, direction: 'outgoing' | 'incoming' = 'outgoing') => recordInWords({ status, endReason, direction });
    expect(row('ended', 'hangup')).toBe('Ended');
    expect(row('ended', 'disconnected')).toBe('Ended: connection lost');
    expect(row('rejected', 'rejected')).toBe('Rejected');
    expect(row('busy', 'busy')).toBe('Busy');
    expect(row('missed', 'unavailable')).toBe('Unavailable');
    expect([row('missed', 'timeout'), row('missed', 'timeout', 'incoming')]).toEqual(['No answer (timed out)', 'Missed (timed out)']);
    expect([row('missed', 'cancelled'), row('missed', 'cancelled', 'incoming')]).toEqual(['Cancelled', 'Missed']);
    expect(row('active', null)).toBe('In progress');
  });
});
