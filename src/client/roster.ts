import type { Emitter } from './emitter.ts';
import type { ParticipantInfo } from './protocol.ts';
import type { RemoteParticipant, SessionEvents } from './session-types.ts';

export type Speaker = { readonly participantId: string; readonly producerId: string };

export interface RosterHooks {
  /** Our own participant id: never a remote. */
  self(): string | undefined;
  /** A participant is going: its consumers and its join-response entry go first. */
  leaving(participantId: string): void;
  /** A participant has gone (after participantLeft was emitted): its E2EE keys go. */
  left(participantId: string): void;
}

/**
 * The session's remote participants (their role, safety facts, consent, connection) and the room's
 * dominant speaker, each change emitted as a session event.
 */
export class Roster {
  readonly #remotes = new Map<string, RemoteParticipant>();
  #speaker: Speaker | undefined;

  readonly #events: Emitter<SessionEvents>;
  readonly #hooks: RosterHooks;

  constructor(events: Emitter<SessionEvents>, hooks: RosterHooks) {
    this.#events = events;
    this.#hooks = hooks;
  }

  list(): RemoteParticipant[] { return [...this.#remotes.values()]; }
  ids(): string[] { return [...this.#remotes.keys()]; }
  get(participantId: string): RemoteParticipant | undefined { return this.#remotes.get(participantId); }
  get speaker(): Speaker | undefined { return this.#speaker; }

  add(p: ParticipantInfo): void {
    if (p.participantId === this.#hooks.self() || this.#remotes.has(p.participantId)) return;
    const withdrawn = p.safety !== undefined && !p.safety.consentScopes.includes('telehealth');
    const remote: RemoteParticipant = { participantId: p.participantId, role: p.role, safety: p.safety, consentWithdrawn: withdrawn, reconnecting: p.reconnecting === true };
    this.#remotes.set(p.participantId, remote);
    this.#events.emit('participantJoined', remote);
  }

  update(remote: RemoteParticipant): void {
    this.#remotes.set(remote.participantId, remote);
    this.#events.emit('participantUpdated', remote);
  }

  remove(participantId: string): void {
    this.#hooks.leaving(participantId);
    if (this.#remotes.delete(participantId)) this.#events.emit('participantLeft', participantId);
    if (participantId === this.#speaker?.participantId) this.setSpeaker(undefined);
    this.#hooks.left(participantId);
  }

  /** The attempt ended: everyone goes, and the speaker is forgotten. */
  clear(): void {
    for (const id of this.ids()) this.remove(id);
    this.#speaker = undefined;
  }

  /**
   * A join response says who is in the room now (a resume; notificationsDropped): those not in it
   * leave, new ones join, known ones take its connection state and safety facts. Returns those gone.
   */
  reconcile(participants: readonly ParticipantInfo[]): string[] {
    const present = new Set(participants.map((p) => p.participantId));
    const away = this.ids().filter((id) => !present.has(id));
    for (const id of away) this.remove(id);
    for (const p of participants) {
      const known = this.#remotes.get(p.participantId);
      if (!known) this.add(p);
      else this.update({ ...known, reconnecting: p.reconnecting === true, ...(p.safety ? { safety: p.safety, consentWithdrawn: !p.safety.consentScopes.includes('telehealth') } : {}) });
    }
    return away;
  }

  /** The server named the room's dominant speaker (a join response, or activeSpeaker); undefined: it left, or closed that microphone. */
  setSpeaker(speaker: Speaker | undefined): void {
    const before = this.#speaker?.participantId;
    this.#speaker = speaker ? { participantId: speaker.participantId, producerId: speaker.producerId } : undefined;
    if (speaker?.participantId !== before) this.#events.emit('activeSpeaker', speaker?.participantId);
  }
}
