import { randomBytes, timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';

/** The header the REST port's forwarder sets to the client address it saw, with the proof below. */
export const FORWARDED_CLIENT_HEADER = 'x-chatd-client-ip';
/** A per-process secret proving a request came through chatd's own REST-port forwarder. */
export const FORWARDED_PROOF_HEADER = 'x-chatd-forwarded';

/**
 * The address a hub connection counts against. Behind chatd's own REST-port forwarder every
 * connection comes from loopback, so the forwarder names the client, proven by a secret only this
 * process knows; behind a trusted reverse proxy (TRUST_PROXY) it is the last X-Forwarded-For entry.
 */
export class ClientAddress {
  /** Handed to the forwarder in the same process; never leaves it. */
  readonly proof = randomBytes(24).toString('hex');
  private readonly proofBytes = Buffer.from(this.proof);

  constructor(private readonly trustProxy: boolean) {}

  /** From a uWS request (inside its handler). */
  of(res: uWS.HttpResponse, req: uWS.HttpRequest): string {
    return this.resolve(Buffer.from(res.getRemoteAddressAsText()).toString(), (name) => req.getHeader(name));
  }

  /** From the socket address and a header reader. */
  resolve(remote: string, header: (name: string) => string | undefined): string {
    const proof = header(FORWARDED_PROOF_HEADER);
    if (proof && this.proven(proof)) return header(FORWARDED_CLIENT_HEADER) || remote;
    if (this.trustProxy) {
      const last = header('x-forwarded-for')?.split(',').pop()?.trim();
      if (last) return last;
    }
    return remote;
  }

  private proven(proof: string): boolean {
    const given = Buffer.from(proof);
    return given.length === this.proofBytes.length && timingSafeEqual(given, this.proofBytes);
  }
}
