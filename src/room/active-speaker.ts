import type { types } from 'mediasoup';

/**
 * The room's dominant speaker (mediasoup's ActiveSpeakerObserver over every audio producer),
 * created on the first audio producer. `onSpeaker` gets the producer id of each new speaker;
 * `current` is the last one named (its producer may have closed since: the room checks).
 */
export class ActiveSpeaker {
  readonly #router: types.Router;
  readonly #onSpeaker: (producerId: string) => void;
  #observer: Promise<types.ActiveSpeakerObserver> | undefined;
  #current: string | undefined;

  constructor(router: types.Router, onSpeaker: (producerId: string) => void) {
    this.#router = router;
    this.#onSpeaker = onSpeaker;
  }

  /** The producer id of the last dominant speaker named (undefined until one is). */
  get current(): string | undefined { return this.#current; }

  async add(producer: types.Producer): Promise<void> {
    if (producer.kind !== 'audio') return;
    this.#observer ??= this.#router.createActiveSpeakerObserver({ interval: 300 }).then((o) => {
      o.on('dominantspeaker', ({ producer: p }) => {
        this.#current = p.id;
        this.#onSpeaker(p.id);
      });
      return o;
    });
    const observer = await this.#observer;
    if (!producer.closed && !observer.closed) await observer.addProducer({ producerId: producer.id });
  }
}
