import { Emitter } from './emitter.ts';
import type { E2ee } from './e2ee.ts';
import type { JoinResult } from './protocol.ts';
import { Roster } from './roster.ts';
import { SessionMedia } from './session-media.ts';
import type { SignallingClient } from './signalling.ts';
import { Superseded, type JoinOptions, type SessionEvents, type SessionState } from './session-types.ts';

/**
 * The state one `Session` shares with its parts (joining, notifications, resume, media, roster):
 * the current attempt's signalling and join response, the state, and the generation that tells
 * an older attempt's callbacks to stop.
 */
export class SessionCore {
  readonly events = new Emitter<SessionEvents>();
  readonly e2ee: E2ee;
  readonly roster: Roster;
  readonly media: SessionMedia;
  state: SessionState = 'idle';
  opts: JoinOptions | undefined;
  sig: SignallingClient | undefined;
  joined: JoinResult | undefined;
  nodeOrigin: string | undefined;
  /** Bumped on every teardown: callbacks of an older attempt see a different number and stop. */
  generation = 0;
  /** suspendNow() ran: the page is going away to come back (a reload). */
  suspended = false;

  constructor(e2ee: E2ee) {
    this.e2ee = e2ee;
    this.media = new SessionMedia(this);
    this.roster = new Roster(this.events, {
      self: () => this.joined?.participantId,
      leaving: (participantId) => {
        this.media.link?.closeConsumersOf(participantId);
        // Their safety facts (location, emergency contact) are not kept once they are gone: not even in the join response.
        const joined = this.joined;
        if (joined?.participants.some((p) => p.participantId === participantId)) {
          this.joined = { ...joined, participants: joined.participants.filter((p) => p.participantId !== participantId) };
        }
      },
      left: (participantId) => this.e2ee.peerLeft(participantId),
    });
  }

  /** Throws Superseded when a newer attempt (or leave) replaced attempt `gen`. */
  check(gen: number): void {
    if (gen !== this.generation) throw new Superseded('superseded');
  }

  setState(state: SessionState, detail?: string): void {
    this.state = state;
    this.events.emit('state', state, detail);
  }

  fail(code: string, detail?: string): void {
    this.teardown(true);
    this.setState(`error:${code}`, detail);
  }

  /** Ends the current attempt: signalling, media link, participants; camera and mic too if `releaseLocal`. */
  teardown(releaseLocal: boolean): void {
    this.generation++;
    // The peers go with the attempt (a re-join gets them again), without "the code changed" for each.
    this.e2ee.clearPeers();
    const sig = this.sig;
    this.sig = undefined;
    sig?.close();
    this.media.close();
    this.roster.clear();
    this.joined = undefined;
    if (releaseLocal) {
      this.media.release();
      // Suspended for a reload: the identity kept for the next page stays (e2ee-identity-store.ts).
      this.e2ee.stop({ keepIdentity: this.suspended });
    }
  }

  /** A withdrawn scope is never sent again by itself (say, when a session has to be re-joined). */
  forgetConsent(scopes: readonly string[]): void {
    const opts = this.opts;
    if (!opts?.consent) return;
    const kept = opts.consent.scopes.filter((s) => !scopes.includes(s));
    this.opts = { ...opts, consent: kept.includes('telehealth') ? { ...opts.consent, scopes: kept } : undefined };
  }
}
