// How calls are put into words and numbers on screen; kept apart from the calls store, which
// holds browser state, so tests/unit can check every wording without a browser.

/** What recordInWords reads of a call in the history (GET /api/calls). */
export interface CallOutcome {
  direction: 'outgoing' | 'incoming';
  status: string;
  endReason: string | null;
}

/** m:ss, or h:mm:ss for long calls. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const rest = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${rest}` : `${minutes}:${rest}`;
}

/** How a call ended, in words, from this side of it (docs/calls.md lists the reasons). */
export function endingInWords(reason: string, outgoing: boolean, peer: string, endedByMe: boolean): string {
  switch (reason) {
    case 'busy':
      return `${peer} is busy on another call`;
    case 'unavailable':
      return `${peer} is unavailable: not connected right now`;
    case 'rejected':
      return outgoing ? `${peer} rejected the call` : 'You rejected the call';
    case 'timeout':
      return outgoing ? `No answer: ${peer} did not pick up in time` : `Missed call from ${peer}`;
    case 'cancelled':
      return outgoing ? 'Call cancelled' : `Missed call from ${peer}: they hung up`;
    case 'hangup':
      return endedByMe ? 'You ended the call' : `${peer} ended the call`;
    case 'disconnected':
      return `Call ended: the connection ${endedByMe ? 'here' : `to ${peer}`} was lost`;
    case 'answered_elsewhere':
      return 'Answered on another device';
    case 'server_shutdown':
    case 'server_restart':
      return 'Call ended: the server restarted';
    default:
      return 'Call ended';
  }
}

/** One call in the history, in words. */
export function recordInWords(call: CallOutcome): string {
  if (call.status === 'ended') return call.endReason === 'disconnected' ? 'Ended: connection lost' : 'Ended';
  if (call.status === 'rejected') return 'Rejected';
  if (call.status === 'busy') return 'Busy';
  if (call.status === 'missed') {
    if (call.endReason === 'unavailable') return 'Unavailable';
    if (call.endReason === 'timeout') return call.direction === 'outgoing' ? 'No answer (timed out)' : 'Missed (timed out)';
    if (call.endReason === 'cancelled') return call.direction === 'outgoing' ? 'Cancelled' : 'Missed';
    return 'Missed';
  }
  return call.status === 'active' ? 'In progress' : 'Ringing';
}

