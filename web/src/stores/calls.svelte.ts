import { api } from '../lib/api';
import type { Hub } from '../lib/hub';
import { HubError } from '../lib/hub';
import { chat } from './chat.svelte';
import { session } from './session.svelte';
import { endingInWords } from '../lib/call-words';

/** How long after reconnecting this device waits for `call_resumed` before it takes the call as ended. */
const RESUME_WAIT_MS = 3000;

/**
 * A soft two-tone ring while a call rings in, made by the browser (nothing to download). A page the
 * person has not touched yet may not play sound: then it rings silently, as the browser decides.
 */
class Ringer {
  private context: AudioContext | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;

  start(): void {
    if (this.timer || typeof AudioContext === 'undefined') return;
    this.context ??= new AudioContext();
    const ring = () => {
      const context = this.context!;
      for (const [frequency, at] of [[880, 0], [660, 0.35]] as const) {
        const tone = context.createOscillator();
        const gain = context.createGain();
        tone.frequency.value = frequency;
        gain.gain.setValueAtTime(0.08, context.currentTime + at);
        gain.gain.exponentialRampToValueAtTime(0.0001, context.currentTime + at + 0.3);
        tone.connect(gain).connect(context.destination);
        tone.start(context.currentTime + at);
        tone.stop(context.currentTime + at + 0.3);
      }
    };
    ring();
    this.timer = setInterval(ring, 2500);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

export type CallType = 'audio' | 'video';

/**
 * What this device shows of a call: nothing, ringing out, ringing in, connecting media, talking,
 * or the ending in words (until the person closes it).
 */
export type CallPhase = 'idle' | 'outgoing' | 'incoming' | 'connecting' | 'active' | 'ended';

/** A call in the history (GET /api/calls). */
export interface CallRecord {
  _id: string;
  roomId: string;
  callerId: string;
  calleeId: string;
  direction: 'outgoing' | 'incoming';
  callType: CallType;
  status: 'ringing' | 'active' | 'ended' | 'missed' | 'rejected' | 'busy';
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  endReason: string | null;
  duration: number | null;
}

interface Ended {
  callId: string;
  status: string;
  reason: string;
  endedBy: string | null;
  duration: number;
}

/**
 * One-to-one calls from this device: ringing out and in, the RTCPeerConnection with its media,
 * and what the server says about the call (docs/calls.md). The server decides: ringing every
 * device of the callee, which one carries an answered call, busy and timeouts, the grace period
 * after a drop. The media flows browser to browser (or through TURN), never through chatd.
 */
class Calls {
  phase = $state<CallPhase>('idle');
  callId = $state<string | null>(null);
  callType = $state<CallType>('video');
  peerId = $state<string | null>(null);
  peerName = $state('');
  outgoing = $state(false);
  /** The ending, in words, once phase is `ended`; an error while placing the call too. */
  endedText = $state('');
  /** Seconds: running while active, the server's figure once ended. */
  duration = $state(0);
  answered = $state(false);
  connectionState = $state<RTCPeerConnectionState>('new');
  muted = $state(false);
  cameraOff = $state(false);
  localStream = $state.raw<MediaStream | null>(null);
  remoteStream = $state.raw<MediaStream | null>(null);

  private hub: Hub | undefined;
  private pc: RTCPeerConnection | undefined;
  private roomId = '';
  private answeredAt = 0;
  private ticker: ReturnType<typeof setInterval> | undefined;
  private pendingCandidates: RTCIceCandidateInit[] = [];
  private iceServers: RTCIceServer[] = [];
  /** Which call of this device the async work belongs to: a late failure of an earlier call must not end the next one. */
  private generation = 0;
  private readonly ringer = new Ringer();
  private resumeWait: ReturnType<typeof setTimeout> | undefined;
  private notification: Notification | undefined;

  /** Listens to the chat's hub connection: called when it starts; the returned function when it stops. */
  attach(hub: Hub): () => void {
    this.hub = hub;
    const off = [
      hub.on('incoming_call', (data) => this.incoming(data)),
      hub.on('call_accepted', (data) => this.ifCurrent(data, () => this.acceptedByPeer())),
      hub.on('call_answered_elsewhere', (data) => this.ifCurrent(data, () => this.finish({ reason: 'answered_elsewhere', endedByMe: false, duration: 0 }))),
      hub.on('call_rejected', (data) => this.ifCurrent(data, () => this.finish({ reason: 'rejected', endedByMe: false, duration: 0 }))),
      hub.on('call_ended', (data: Ended) => this.ifCurrent(data, () => this.finish({ reason: data.reason, endedByMe: data.endedBy === chat.me, duration: data.duration }))),
      hub.on('call_resumed', (data) => this.ifCurrent(data, () => void this.resumed())),
      hub.on('webrtc_offer', (data) => this.ifCurrent(data, () => this.guard(this.offered(data.offer)))),
      hub.on('webrtc_answer', (data) => this.ifCurrent(data, () => this.guard(this.answeredBy(data.answer)))),
      hub.on('ice_candidate', (data) => this.ifCurrent(data, () => void this.candidate(data.candidate))),
      hub.onReady(() => this.reconnected()),
    ];
    return () => {
      for (const stop of off) stop();
      this.release();
      this.hub = undefined;
      this.phase = 'idle';
    };
  }

  get busy(): boolean {
    return this.phase !== 'idle' && this.phase !== 'ended';
  }

  /** Places a call to a member of the room. */
  async call(peerId: string, roomId: string, callType: CallType): Promise<void> {
    if (this.busy || !this.hub) return;
    this.reset({ peerId, roomId, callType, outgoing: true });
    this.phase = 'outgoing';
    const generation = this.generation;
    try {
      await this.prepareMedia();
      const { event, data } = await this.hub.send('call_user', { targetUserId: peerId, roomId, callType });
      if (event === 'call_ringing') {
        // The callee may already have answered (call_accepted) or declined while this reply travelled.
        if (this.phase === 'outgoing') this.callId = data.callId;
        return;
      }
      if (generation === this.generation) this.finish({ reason: event === 'call_busy' ? 'busy' : 'unavailable', endedByMe: false, duration: 0 });
    } catch (error) {
      this.failed(error, generation);
    }
  }

  /** Answers the ringing call on this device; the callee's other devices stop ringing. */
  async accept(): Promise<void> {
    if (this.phase !== 'incoming' || !this.hub) return;
    this.phase = 'connecting';
    this.quiet();
    const generation = this.generation;
    try {
      await this.prepareMedia();
      await this.hub.send('accept_call', { callId: this.callId });
      this.startClock();
    } catch (error) {
      if (error instanceof HubError && error.code === 'CONFLICT' && /another device/.test(error.message)) {
        if (generation === this.generation) this.finish({ reason: 'answered_elsewhere', endedByMe: false, duration: 0 });
        return;
      }
      this.failed(error, generation);
    }
  }

  async reject(): Promise<void> {
    if (this.phase !== 'incoming' || !this.hub) return;
    const callId = this.callId;
    this.finish({ reason: 'rejected', endedByMe: true, duration: 0 });
    await this.hub.send('reject_call', { callId }).catch(() => undefined);
  }

  /** Hangs up an answered call or cancels a ringing one. */
  async hangUp(): Promise<void> {
    if (!this.busy || !this.hub) return;
    const callId = this.callId;
    if (!callId) {
      this.finish({ reason: 'cancelled', endedByMe: true, duration: 0 });
      return;
    }
    try {
      const { event, data } = await this.hub.send('end_call', { callId });
      if (event === 'call_ended') this.finish({ reason: data.reason, endedByMe: true, duration: data.duration });
      else this.finish({ reason: 'rejected', endedByMe: true, duration: 0 });
    } catch {
      // Already over on the server (its call_ended may be on its way): end it here as well.
      this.finish({ reason: this.answered ? 'hangup' : 'cancelled', endedByMe: true, duration: this.duration });
    }
  }

  toggleMute(): void {
    this.muted = !this.muted;
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.muted;
  }

  toggleCamera(): void {
    this.cameraOff = !this.cameraOff;
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.cameraOff;
  }

  /** Closes the "call ended" screen. */
  dismiss(): void {
    if (this.phase === 'ended') this.phase = 'idle';
  }

  /** The user's own calls, newest first. */
  async history(page = 1): Promise<{ calls: CallRecord[]; hasMore: boolean }> {
    return api(`/api/calls?page=${page}&limit=20`);
  }

  private reset(call: { peerId: string; roomId: string; callType: CallType; outgoing: boolean; callId?: string; peerName?: string }): void {
    this.release();
    this.generation += 1;
    this.callId = call.callId ?? null;
    this.peerId = call.peerId;
    this.peerName = call.peerName ?? chat.users[call.peerId]?.username ?? 'Someone';
    this.roomId = call.roomId;
    this.callType = call.callType;
    this.outgoing = call.outgoing;
    this.endedText = '';
    this.duration = 0;
    this.answered = false;
    this.connectionState = 'new';
    this.muted = false;
    this.cameraOff = false;
  }

  private ifCurrent(data: { callId?: string }, handle: () => void): void {
    // A caller learns the id from call_ringing; an answer can arrive before that reply.
    if (this.busy && this.outgoing && this.callId === null && data.callId) this.callId = data.callId;
    if (data.callId && data.callId === this.callId && this.busy) handle();
  }

  private incoming(data: { callId: string; callerId: string; callerName: string; callType: CallType; roomId: string }): void {
    // Busy here (another call on this device): the server already answers call_busy to callers
    // who reach a user in a call, so this is a second ring of the same call, or nothing to show.
    if (this.busy) return;
    this.reset({ peerId: data.callerId, roomId: data.roomId, callType: data.callType, outgoing: false, callId: data.callId, peerName: data.callerName });
    this.phase = 'incoming';
    chat.ensureUser(data.callerId);
    this.announce();
  }

  /** Rings and, when the page is hidden, notifies, as the user's settings ask. */
  private announce(): void {
    const settings = session.user?.settings;
    if (settings && (!settings.notifications || !settings.notifyCalls)) return;
    if (settings?.notifySound !== false) this.ringer.start();
    if (document.visibilityState === 'visible' || !('Notification' in window) || Notification.permission !== 'granted') return;
    const notification = (this.notification = new Notification(`Incoming ${this.callType} call`, { body: `${this.peerName} is calling you`, tag: this.callId ?? undefined, requireInteraction: true }));
    notification.onclick = () => {
      window.focus();
      notification.close();
    };
  }

  private acceptedByPeer(): void {
    this.phase = 'connecting';
    this.startClock();
    this.guard(this.offer());
  }

  private startClock(): void {
    this.answered = true;
    this.answeredAt = Date.now();
    clearInterval(this.ticker);
    this.ticker = setInterval(() => (this.duration = Math.round((Date.now() - this.answeredAt) / 1000)), 1000);
  }

  private async prepareMedia(): Promise<void> {
    const ice = api<{ iceServers: RTCIceServer[] }>('/api/calls/ice-servers').catch(() => ({ iceServers: [] }));
    const stream = await navigator.mediaDevices.getUserMedia(this.callType === 'video' ? { audio: true, video: { width: 640, height: 480 } } : { audio: true });
    this.iceServers = (await ice).iceServers;
    if (!this.busy) {
      // Ended (rejected, cancelled) while the camera started.
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    this.localStream = stream;
    this.createPeer();
  }

  private createPeer(): void {
    const pc = (this.pc = new RTCPeerConnection({ iceServers: this.iceServers }));
    for (const track of this.localStream?.getTracks() ?? []) pc.addTrack(track, this.localStream!);
    pc.onicecandidate = (event) => {
      if (event.candidate && this.peerId) this.hub?.notify('ice_candidate', { targetUserId: this.peerId, callId: this.callId, candidate: event.candidate.toJSON() });
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      this.connectionState = pc.connectionState;
      if (pc.connectionState === 'connected') this.phase = 'active';
    };
    pc.ontrack = (event) => {
      this.remoteStream = event.streams[0] ?? new MediaStream([event.track]);
    };
  }

  private async offer(restartIce = false): Promise<void> {
    if (!this.pc || !this.peerId) return;
    const description = await this.pc.createOffer(restartIce ? { iceRestart: true } : undefined);
    await this.pc.setLocalDescription(description);
    // Signaling is relayed, never answered (docs/calls.md): sent without waiting for a reply.
    this.hub?.notify('webrtc_offer', { targetUserId: this.peerId, callId: this.callId, offer: { type: description.type, sdp: description.sdp } });
  }

  private async offered(offer: RTCSessionDescriptionInit): Promise<void> {
    if (!this.pc || !this.peerId) return;
    await this.pc.setRemoteDescription(offer);
    await this.flushCandidates();
    const description = await this.pc.createAnswer();
    await this.pc.setLocalDescription(description);
    this.hub?.notify('webrtc_answer', { targetUserId: this.peerId, callId: this.callId, answer: { type: description.type, sdp: description.sdp } });
  }

  private async answeredBy(answer: RTCSessionDescriptionInit): Promise<void> {
    if (!this.pc) return;
    await this.pc.setRemoteDescription(answer);
    await this.flushCandidates();
  }

  private async candidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (!this.pc || !this.pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    await this.pc.addIceCandidate(candidate).catch(() => undefined);
  }

  private async flushCandidates(): Promise<void> {
    while (this.pc && this.pendingCandidates.length > 0) await this.pc.addIceCandidate(this.pendingCandidates.shift()!).catch(() => undefined);
  }

  /**
   * The hub connection is back. Within the grace period the server says `call_resumed` right after
   * authenticating; without it, the call ended while this device was away (and the news of it was
   * lost with the connection).
   */
  private reconnected(): void {
    if (!this.busy || this.phase === 'incoming') return;
    const generation = this.generation;
    clearTimeout(this.resumeWait);
    this.resumeWait = setTimeout(() => {
      if (generation === this.generation && this.busy) this.finish({ reason: 'disconnected', endedByMe: true, duration: this.duration });
    }, RESUME_WAIT_MS);
  }

  /** This device's hub connection came back within the grace period: the call goes on, with fresh ICE. */
  private async resumed(): Promise<void> {
    clearTimeout(this.resumeWait);
    if (this.pc) {
      this.guard(this.offer(true));
      return;
    }
    // This page was reloaded: its media is gone, so the call cannot go on from here.
    await this.hangUp();
  }

  /** Ends the call this work belongs to when it fails, and only that one. */
  private guard(work: Promise<void>): void {
    const generation = this.generation;
    work.catch((error: unknown) => this.failed(error, generation));
  }

  private failed(error: unknown, generation: number): void {
    if (generation !== this.generation || !this.busy) return;
    const message =
      error instanceof DOMException && (error.name === 'NotAllowedError' || error.name === 'NotFoundError')
        ? `Could not use the ${this.callType === 'video' ? 'camera or microphone' : 'microphone'}: ${error.message}`
        : error instanceof Error
          ? error.message
          : 'The call failed';
    const callId = this.callId;
    this.finish({ reason: 'error', endedByMe: true, duration: this.duration });
    this.endedText = `Call failed: ${message}`;
    if (callId) void this.hub?.send('end_call', { callId }).catch(() => undefined);
  }

  private finish({ reason, endedByMe, duration }: { reason: string; endedByMe: boolean; duration: number }): void {
    this.release();
    this.endedText = endingInWords(reason, this.outgoing, this.peerName, endedByMe);
    this.duration = this.answered ? duration : 0;
    this.phase = 'ended';
  }

  /** Stops ringing and takes the notification away. */
  private quiet(): void {
    this.ringer.stop();
    this.notification?.close();
    this.notification = undefined;
  }

  private release(): void {
    this.quiet();
    clearTimeout(this.resumeWait);
    clearInterval(this.ticker);
    this.ticker = undefined;
    this.pc?.close();
    this.pc = undefined;
    this.pendingCandidates = [];
    for (const track of this.localStream?.getTracks() ?? []) track.stop();
    this.localStream = null;
    this.remoteStream = null;
  }
}

export const calls = new Calls();
chat.use((hub) => calls.attach(hub));
