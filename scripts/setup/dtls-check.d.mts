// Types of dtls-check.mjs for the TypeScript tests (the set-up itself is plain JavaScript).
export interface DtlsCheckOptions {
  /** The mediasoup-worker binary; default: mediasoup's own choice ($MEDIASOUP_WORKER_BIN, else its build). */
  workerBin?: string;
  /** Deadline for ICE + DTLS, from the first STUN request (default 10 000 ms). */
  timeoutMs?: number;
  /** Give transport.connect() a fingerprint that is not the client certificate's (DTLS must fail). */
  wrongFingerprint?: boolean;
  /** The openssl CLI (default `openssl` from PATH). */
  openssl?: string;
}

export interface DtlsCheckResult {
  /** dtlsState reached 'connected' and the worker is alive and answering afterwards. */
  ok: boolean;
  /** Why not ok ('' when ok). */
  reason: string;
  dtlsState: string;
  iceState: string;
  workerAlive: boolean;
  /** mediasoup's 'died' error message ("[pid:…, code:…, signal:SIGSEGV]"), when the worker died. */
  workerDied: string | undefined;
  workerPid: number;
  mediasoupVersion: string;
  iceCandidates: number;
  /** From the first STUN request to the outcome. */
  handshakeMs: number;
  /** From the call to the outcome (certificate, worker start, handshake). */
  totalMs: number;
  /** The tail of openssl s_client's output. */
  opensslLog: string;
}

export function checkDtlsHandshake(options?: DtlsCheckOptions): Promise<DtlsCheckResult>;
export function describe(result: DtlsCheckResult): string;
export function stunBindingRequest(args: { remoteUfrag: string; remotePassword: string; localUfrag: string; transactionId: Buffer }): Buffer;
export function stunAnswer(message: Buffer, transactionId: Buffer): string | undefined;
