import type { Session } from './session.ts';
import type { Stage } from './stage.ts';
import { makeTile } from './tile.ts';
import { t } from './i18n/language.ts';
import { setText } from './i18n/localize.ts';
import type { PlainKey } from './i18n/catalogue.ts';

/** Known reasons sharing could not start (a DOMException name or a server code), in words. */
const SHARE_PROBLEMS: Readonly<Record<string, PlainKey>> = {
  NotAllowedError: 'screen.cancelled',
  PRODUCER_LIMIT: 'screen.already',
  PERMISSION_DENIED: 'screen.notAllowed',
};

/** What the page says when sharing could not start. */
function shareProblem(err: unknown): () => string {
  const code = err instanceof DOMException ? err.name : (err as { code?: unknown } | undefined)?.code;
  const key = typeof code === 'string' ? SHARE_PROBLEMS[code] : undefined;
  const reason = typeof code === 'string' ? code : err instanceof Error ? err.message : 'unknown error';
  return () => key ? t(key) : t('screen.failed', { reason });
}

/**
 * The Share screen / Stop sharing button (`#share-screen`), and our own shared screen as a small
 * tile in the filmstrip (what the others see; not on the stage unless pinned).
 */
export class ScreenControl {
  readonly #session: Session;
  readonly #button: HTMLButtonElement;
  readonly #preview = makeTile({ attrs: { id: 'local-screen' }, label: () => t('call.yourScreen'), pinnable: true });
  #busy = false;

  constructor(session: Session, stage: Stage, notice: (text: () => string) => void) {
    this.#session = session;
    const button = document.getElementById('share-screen');
    if (!(button instanceof HTMLButtonElement)) throw new Error('page is missing #share-screen');
    this.#button = button;
    this.#preview.root.classList.add('local', 'screen');
    button.addEventListener('click', () => void this.#toggle(notice));
    session.events.on('state', () => this.#update());
    session.events.on('localMedia', () => this.#update());
    session.events.on('localScreen', (stream) => {
      this.#preview.video.srcObject = stream ?? null;
      if (stream) stage.add({ key: 'local:screen', participantId: session.participantId ?? '', source: 'screen', local: true }, this.#preview);
      else stage.remove('local:screen');
      this.#update();
    });
  }

  async #toggle(notice: (text: () => string) => void): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    this.#update();
    try {
      if (this.#session.sharingScreen) await this.#session.stopScreenShare();
      else await this.#session.shareScreen();
    } catch (err) {
      notice(shareProblem(err));
    } finally {
      this.#busy = false;
      this.#update();
    }
  }

  #update(): void {
    const sharing = this.#session.sharingScreen;
    this.#button.hidden = !sharing && !this.#session.canShareScreen;
    this.#button.disabled = this.#busy;
    setText(this.#button, () => t(sharing ? 'screen.stop' : 'screen.share'));
    this.#button.setAttribute('aria-pressed', String(sharing));
  }
}
