import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What became of a revocation sent or received over Redis (src/cluster/revocation-fanout.ts). */
export type RevocationFanoutResult = 'published' | 'publish_failed' | 'applied' | 'known' | 'own' | 'malformed';

/**
 * A first join's placement decision (src/cluster/placement.ts): hosted here (`local`), sent to the
 * node holding or chosen for the room (`elsewhere`), taken over from a node whose presence expired
 * (`takeover`), or kept here because Redis did not answer in time (`redis_down`).
 */
export type PlacementResult = 'local' | 'elsewhere' | 'takeover' | 'redis_down';
/** What a lease renewal found: a room hosted here recorded for another live node (`conflict`), or one taken back (`takeover`), or a failed renewal (`failed`). */
export type LeaseResult = 'conflict' | 'takeover' | 'failed';
/**
 * A resume whose session is not on this node (docs/scaling.md, "Node loss"): restored here from its
 * records (`restored`), or refused: the room is on another node (`elsewhere`), no such session or past the window
 * (`none`), Redis or the store did not answer (`unavailable`), the records do not allow it (`refused`).
 */
export type RestoreResult = 'restored' | 'elsewhere' | 'none' | 'unavailable' | 'refused';

/**
 * Prometheus metrics behind verb functions (after LiveKit's telemetry package):
 * callers say what happened, never touch a metric object. Labels are low-cardinality:
 * never a room id, a participant or an identity.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #rooms = new Gauge({ name: 'sfu_rooms', help: 'Open rooms on this node', registers: [this.registry] });
  readonly #participants = new Gauge({ name: 'sfu_participants', help: 'Admitted participants by role', labelNames: ['role'], registers: [this.registry] });
  readonly #producers = new Gauge({ name: 'sfu_producers', help: 'Live producers by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly #consumers = new Gauge({ name: 'sfu_consumers', help: 'Live consumers by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly #workers = new Gauge({ name: 'sfu_workers', help: 'Live mediasoup workers', registers: [this.registry] });
  readonly #workerSlots = new Gauge({ name: 'sfu_worker_slots', help: 'Configured mediasoup worker slots (media.workers, or one per CPU): sfu_workers below it means a slot has no live worker', registers: [this.registry] });
  readonly #workerCpu = new Counter({ name: 'sfu_worker_cpu_seconds_total', help: 'CPU time used by mediasoup workers (user+system)', registers: [this.registry] });
  readonly #workerDeaths = new Counter({ name: 'sfu_worker_deaths_total', help: 'mediasoup workers that died unexpectedly', registers: [this.registry] });
  readonly #buildInfo = new Gauge({ name: 'sfu_build_info', help: 'Always 1; the labels name the mediasoup version this node runs (node lib and worker: they must match)', labelNames: ['mediasoup'], registers: [this.registry] });
  readonly #joinDuration = new Histogram({
    name: 'sfu_join_duration_seconds', help: 'Server-side time to admit a new participant (admission steps, room opening, admission)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [this.registry],
  });
  readonly #requests = new Counter({ name: 'sfu_signalling_requests_total', help: 'Signalling requests by method and result', labelNames: ['method', 'result'], registers: [this.registry] });
  readonly #linkChecks = new Counter({ name: 'sfu_link_checks_total', help: 'Link checks (POST /api/link-check) by result: ok or an error code', labelNames: ['result'], registers: [this.registry] });
  readonly #authFailures = new Counter({ name: 'sfu_auth_failures_total', help: 'Refused connections by coded reason', labelNames: ['reason'], registers: [this.registry] });
  readonly #admissions = new Counter({ name: 'sfu_admissions_total', help: 'Join admissions by result (admitted, or the refusal code)', labelNames: ['result'], registers: [this.registry] });
  readonly #withdrawals = new Counter({ name: 'sfu_consent_withdrawals_total', help: 'Consent withdrawals by scope', labelNames: ['scope'], registers: [this.registry] });
  readonly #grants = new Counter({ name: 'sfu_consent_grants_total', help: 'Consent given again within a session (grantConsent), by result (granted, or the refusal code)', labelNames: ['result'], registers: [this.registry] });
  readonly #e2eeRooms = new Gauge({ name: 'sfu_e2ee_rooms', help: 'Open rooms whose media is end-to-end encrypted', registers: [this.registry] });
  readonly #e2eeKeyMessages = new Counter({ name: 'sfu_e2ee_key_messages_total', help: 'Sender-key entries of e2eeKeys by result: delivered, or the refusal code', labelNames: ['result'], registers: [this.registry] });
  readonly #e2eeRekeys = new Counter({ name: 'sfu_e2ee_rekeys_total', help: 'e2eeRekey rounds (one per departure, not per recipient) by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly #storeWrites = new Histogram({
    name: 'sfu_store_write_duration_seconds', help: 'Durable record writes (committed and synced) by operation',
    labelNames: ['op'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [this.registry],
  });
  readonly #panicRaised = new Counter({ name: 'sfu_panic_raised_total', help: 'Panic alarms raised, by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly #panicDelivery = new Histogram({
    name: 'sfu_panic_delivery_seconds', help: 'From raise to the first responder receiving the alert',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [this.registry],
  });
  readonly #panicAck = new Histogram({
    name: 'sfu_panic_ack_seconds', help: 'From raise to the first acknowledgement',
    buckets: [1, 2, 5, 10, 15, 30, 60, 120, 300, 600], registers: [this.registry],
  });
  readonly #panicOpen = new Gauge({ name: 'sfu_panic_open', help: 'Open (unresolved) panic incidents', registers: [this.registry] });
  readonly #panicEscalations = new Counter({ name: 'sfu_panic_escalations_total', help: 'Escalation steps taken, by tier', labelNames: ['tier'], registers: [this.registry] });
  readonly #escalationTargets = new Counter({
    name: 'sfu_panic_escalation_targets_total', help: 'Targets of escalation tiers (after tier 0) as they ran, by what became of them (reached, no-connection, sending, not-configured, failed)',
    labelNames: ['status'], registers: [this.registry],
  });
  readonly #unconfiguredTargets = new Gauge({
    name: 'sfu_panic_tier_targets_unconfigured', help: 'Escalation tier targets (webhook:<name>) that name no configured webhook: an escalation to them reaches nobody',
    registers: [this.registry],
  });
  readonly #webhooks = new Counter({ name: 'sfu_webhook_deliveries_total', help: 'Webhook delivery attempts by result', labelNames: ['result'], registers: [this.registry] });
  readonly #panicSpooled = new Gauge({ name: 'sfu_panic_spooled', help: 'Panic raises and events in the local spool, not yet in the store', registers: [this.registry] });
  readonly #panicUnpersisted = new Gauge({
    name: 'sfu_panic_unpersisted', help: 'Panic raises and events held in memory only: neither the store nor the spool has taken them (a crash now loses them)',
    registers: [this.registry],
  });
  readonly #panicFallbacks = new Counter({
    name: 'sfu_panic_store_fallbacks_total', help: 'Panic writes the store did not take in time (timeout) or refused (error), spooled instead',
    labelNames: ['reason'], registers: [this.registry],
  });
  readonly #panicSpoolFailures = new Counter({ name: 'sfu_panic_spool_failures_total', help: 'Failed panic spool writes (disk full, I/O error)', registers: [this.registry] });
  #unacknowledgedSource: () => { readonly open: number; readonly pastLastTier: number } = () => ({ open: 0, pastLastTier: 0 });
  readonly #panicUnacknowledged = new Gauge({
    name: 'sfu_panic_unacknowledged', help: 'Open panic incidents held here that nobody has acknowledged yet',
    registers: [this.registry],
    collect: () => { this.#panicUnacknowledged.set(this.#unacknowledgedSource().open); },
  });
  readonly #panicPastLastTier = new Gauge({
    name: 'sfu_panic_unacknowledged_past_last_tier', help: 'Unacknowledged open panic incidents held here older than the last escalation tier (every tier has run, nobody has it)',
    registers: [this.registry],
    collect: () => { this.#panicPastLastTier.set(this.#unacknowledgedSource().pastLastTier); },
  });
  #storeWritableSource: () => Promise<boolean> = async () => true;
  readonly #storeWritable = new Gauge({
    name: 'sfu_store_writable', help: 'Whether the safety-records store took its write probe at scrape time (1) or not (0): the same probe as /readyz (at most one a second, bounded)',
    registers: [this.registry],
    collect: async () => { this.#storeWritable.set((await this.#storeWritableSource().catch(() => false)) ? 1 : 0); },
  });
  readonly #revocationSyncs = new Counter({
    name: 'sfu_revocation_syncs_total', help: 'Periodic re-reads of the revocations from the store (store.revocationSyncSeconds), by result (ok, failed)',
    labelNames: ['result'], registers: [this.registry],
  });
  readonly #layerSwitches = new Counter({ name: 'sfu_consumer_layer_switches_total', help: 'Simulcast/SVC layer changes of consumers', registers: [this.registry] });
  readonly #clientMediaProblems = new Counter({
    name: 'sfu_client_media_problems_total', help: 'Media problems browser clients reported (reportMediaProblem): ICE or DTLS failed, no media arriving; state reported or cleared',
    labelNames: ['code', 'state'], registers: [this.registry],
  });
  readonly #frameRateHolds = new Counter({
    name: 'sfu_consumer_bandwidth_holds_total', help: 'Simulcast consumers held below their tile\'s layer to keep at least half their frame rate on a congested downlink: hold, trial (the hold lifted to let the estimate grow), trial-failed, lift',
    labelNames: ['event'], registers: [this.registry],
  });
  #pausedSource: () => Record<string, number> = () => ({});
  readonly #paused = new Gauge({
    name: 'sfu_consumers_paused', help: 'Paused consumers by reason (hidden tile, client request, publisher paused)', labelNames: ['reason'],
    registers: [this.registry],
    collect: () => {
      this.#paused.reset();
      for (const [reason, n] of Object.entries(this.#pausedSource())) this.#paused.set({ reason }, n);
    },
  });
  readonly #bitrate = new Gauge({
    name: 'sfu_bitrate_bits',
    help: 'Bits per second through this node\'s WebRTC transports (in: from publishers, out: to subscribers), sampled every media.bitrateSampleSeconds',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  readonly #connections = new Gauge({ name: 'sfu_signalling_connections', help: 'Open signalling WebSocket connections', registers: [this.registry] });
  #auditHeadSource: () => number | undefined = () => undefined;
  readonly #auditHead = new Gauge({
    name: 'sfu_audit_head_position', help: 'Position (seq) of the audit trail\'s signed head checkpoint: read at start, then the highest this node wrote or read; lower after a restart on a truncated or rolled-back store',
    registers: [this.registry],
    collect: () => {
      const seq = this.#auditHeadSource();
      if (seq !== undefined) this.#auditHead.set(seq);
    },
  });
  readonly #rateLimited = new Counter({
    name: 'sfu_signalling_rate_limited_total', help: 'Signalling requests refused with RATE_LIMITED, by budget (requests, queue, audit)',
    labelNames: ['budget'], registers: [this.registry],
  });
  readonly #cut = new Counter({
    name: 'sfu_signalling_connections_cut_total', help: 'Signalling connections the server ended for a limit, by reason (RATE_LIMITED, TOO_MANY_REFUSED_JOINS, JOIN_TIMEOUT, SLOW_READER)',
    labelNames: ['reason'], registers: [this.registry],
  });
  #redisUp: Gauge | undefined;
  #fanout: Counter | undefined;
  #placements: Counter | undefined;
  #leases: Counter | undefined;
  #escalationTakeovers: Counter | undefined;
  #restores: Counter | undefined;
  #rosterWrites: Counter | undefined;
  #escalationLeasesLost: Counter | undefined;
  #escalationTakeoverAttempts: Counter | undefined;
  #clusterNodes: Gauge | undefined;
  #clusterNodesSource: () => { readonly live: number; readonly draining: number } = () => ({ live: 0, draining: 0 });
  readonly #safetyLimited = new Counter({
    name: 'sfu_safety_events_rate_limited_total', help: '/safety events refused with RATE_LIMITED, by event', labelNames: ['event'], registers: [this.registry],
  });

  /**
   * prom-client's process and Node.js metrics, in their own registry: they cost most of a scrape
   * (reading /proc/self/fd, walking active handles, event-loop delay percentiles) and change
   * slowly, so one rendering serves every scrape for `processMetricsMaxAgeMs`. The sfu_* metrics
   * above are rendered fresh on every scrape.
   */
  readonly #process: Registry | undefined;
  readonly #processMaxAgeMs: number;
  #processText: { text: Promise<string>; at: number } | undefined;

  constructor(opts: { defaultMetrics?: boolean; processMetricsMaxAgeMs?: number } = {}) {
    this.#processMaxAgeMs = opts.processMetricsMaxAgeMs ?? 1000;
    // Both results exist from the start, so that "failed and never ok" can be written in PromQL.
    for (const result of ['ok', 'failed']) this.#revocationSyncs.inc({ result }, 0);
    if (opts.defaultMetrics !== false) {
      this.#process = new Registry();
      collectDefaultMetrics({ register: this.#process });
    }
  }

  roomOpened(): void { this.#rooms.inc(); }
  roomClosed(): void { this.#rooms.dec(); }
  participantAdmitted(role: string): void { this.#participants.inc({ role }); }
  participantLeft(role: string): void { this.#participants.dec({ role }); }
  producerOpened(kind: string): void { this.#producers.inc({ kind }); }
  producerClosed(kind: string): void { this.#producers.dec({ kind }); }
  consumerOpened(kind: string): void { this.#consumers.inc({ kind }); }
  consumerClosed(kind: string): void { this.#consumers.dec({ kind }); }
  workerStarted(): void { this.#workers.inc(); }
  workerStopped(): void { this.#workers.dec(); }
  workerDied(): void { this.#workerDeaths.inc(); }
  /** How many worker slots the pool keeps filled (set once at start). */
  workerSlots(count: number): void { this.#workerSlots.set(count); }
  mediasoupLoaded(version: string): void { this.#buildInfo.reset(); this.#buildInfo.set({ mediasoup: version }, 1); }
  workerCpuUsed(seconds: number): void { if (seconds > 0) this.#workerCpu.inc(seconds); }
  recordJoinDuration(seconds: number): void { this.#joinDuration.observe(seconds); }
  signallingRequest(method: string, result: string): void { this.#requests.inc({ method, result }); }
  authFailed(reason: string): void { this.#authFailures.inc({ reason }); }
  /** A page checked its link before showing the join form: `ok`, or the error code it was answered. */
  linkChecked(result: string): void { this.#linkChecks.inc({ result }); }
  admission(result: string): void { this.#admissions.inc({ result }); }
  consentWithdrawn(scope: string): void { this.#withdrawals.inc({ scope }); }
  /** grantConsent: `granted`, or the refusal's code. */
  consentGranted(result: string): void { this.#grants.inc({ result }); }
  /** A room became end-to-end encrypted (its first participant brought a key); `e2eeRoomClosed` when it closes. */
  e2eeRoomOpened(): void { this.#e2eeRooms.inc(); }
  e2eeRoomClosed(): void { this.#e2eeRooms.dec(); }
  /** One entry of an e2eeKeys request: `delivered`, or the code it was refused with. */
  e2eeKeyMessage(result: string): void { this.#e2eeKeyMessages.inc({ result }); }
  /** The room told its participants to make new sender keys. */
  e2eeRekey(reason: string): void { this.#e2eeRekeys.inc({ reason }); }
  recordStoreWrite(op: string, seconds: number): void { this.#storeWrites.observe({ op }, seconds); }
  panicRaised(kind: string): void { this.#panicRaised.inc({ kind }); }
  panicDelivered(seconds: number): void { this.#panicDelivery.observe(seconds); }
  panicAcknowledged(seconds: number): void { this.#panicAck.observe(seconds); }
  panicOpen(count: number): void { this.#panicOpen.set(count); }
  panicEscalated(tier: number): void { this.#panicEscalations.inc({ tier: String(tier) }); }
  webhookDelivery(result: 'delivered' | 'failed'): void { this.#webhooks.inc({ result }); }
  /** One target of an escalation tier ran (tiers after tier 0), with what became of it. */
  escalationTarget(status: string): void { this.#escalationTargets.inc({ status }); }
  /** At start: how many tier targets name no configured webhook. */
  tierTargetsUnconfigured(count: number): void { this.#unconfiguredTargets.set(count); }
  /** The panic backlog now: entries in the spool, and entries held in memory only. */
  panicBacklog(spooled: number, unpersisted: number): void {
    this.#panicSpooled.set(spooled);
    this.#panicUnpersisted.set(unpersisted);
  }
  panicStoreFallback(reason: 'timeout' | 'error'): void { this.#panicFallbacks.inc({ reason }); }
  panicSpoolFailed(): void { this.#panicSpoolFailures.inc(); }
  /** Where the unacknowledged-incident counts come from at scrape time (PanicService.unacknowledged: no I/O). */
  countUnacknowledgedWith(source: () => { readonly open: number; readonly pastLastTier: number }): void { this.#unacknowledgedSource = source; }
  /** The store's write probe (Store.ping, shared with /readyz), run when /metrics is scraped. */
  storeWritableWith(probe: () => Promise<boolean>): void { this.#storeWritableSource = probe; }
  /** A periodic revocation re-read from the store finished: `ok`, or `failed` (the store did not answer or refused). */
  revocationSync(result: 'ok' | 'failed'): void { this.#revocationSyncs.inc({ result }); }
  consumerLayersChanged(): void { this.#layerSwitches.inc(); }
  clientMediaProblem(code: string, cleared: boolean): void { this.#clientMediaProblems.inc({ code, state: cleared ? 'cleared' : 'reported' }); }
  consumerBandwidthHold(event: 'hold' | 'trial' | 'trial-failed' | 'lift'): void { this.#frameRateHolds.inc({ event }); }
  /** Where the paused-consumer counts come from at scrape time. */
  countPausedConsumersWith(source: () => Record<string, number>): void { this.#pausedSource = source; }
  bitrateSampled(inBits: number, outBits: number): void {
    this.#bitrate.set({ direction: 'in' }, inBits);
    this.#bitrate.set({ direction: 'out' }, outBits);
  }
  connectionOpened(): void { this.#connections.inc(); }
  connectionClosed(): void { this.#connections.dec(); }
  /** Where the audit head position comes from at scrape time (Store.auditHeadPosition: no I/O). */
  auditHeadWith(source: () => number | undefined): void { this.#auditHeadSource = source; }
  /** A signalling request refused with RATE_LIMITED: over the request budget, the queue bound, or the audit budget. */
  requestRateLimited(budget: 'requests' | 'queue' | 'audit'): void { this.#rateLimited.inc({ budget }); }
  /** The server ended a signalling connection for a limit (the close reason, or SLOW_READER for a terminated one). */
  connectionCut(reason: 'RATE_LIMITED' | 'TOO_MANY_REFUSED_JOINS' | 'JOIN_TIMEOUT' | 'SLOW_READER'): void { this.#cut.inc({ reason }); }
  /** A /safety event refused with RATE_LIMITED (panic:raise never is). */
  safetyEventRateLimited(event: string): void { this.#safetyLimited.inc({ event }); }

  /**
   * The cluster's metrics, registered only on a node with Redis configured (a single node shows
   * none of them rather than a misleading `sfu_redis_up 0`). Idempotent.
   */
  clusterEnabled(): void {
    this.#redisUp ??= new Gauge({
      name: 'sfu_redis_up', help: '1 while both Redis connections (commands, subscriber) answer the liveness probe, else 0', registers: [this.registry],
    });
    this.#fanout ??= new Counter({
      name: 'sfu_revocation_fanout_total',
      help: 'Revocations over Redis pub/sub, by result (published, publish_failed; received: applied, known, own, malformed)',
      labelNames: ['result'], registers: [this.registry],
    });
  }
  redisLiveness(up: boolean): void { this.#redisUp?.set(up ? 1 : 0); }
  /**
   * Registers `sfu_cluster_nodes` (with Redis configured only): the nodes this node's presence view
   * holds at scrape time (itself included), live or draining. Idempotent.
   */
  clusterNodesWith(source: () => { readonly live: number; readonly draining: number }): void {
    this.#clusterNodesSource = source;
    this.#clusterNodes ??= new Gauge({
      name: 'sfu_cluster_nodes', help: 'Nodes in this node\'s presence view (itself included, records within cluster.presenceTtlMs), by state (live, draining)',
      labelNames: ['state'], registers: [this.registry],
      collect: () => {
        const n = this.#clusterNodesSource();
        this.#clusterNodes?.set({ state: 'live' }, n.live);
        this.#clusterNodes?.set({ state: 'draining' }, n.draining);
      },
    });
  }
  /** Registers the placement metrics (with Redis configured only). Idempotent. */
  placementEnabled(): void {
    this.#placements ??= new Counter({
      name: 'sfu_placements_total', help: 'First-join placement decisions on this node, by result (local, elsewhere, takeover, redis_down)',
      labelNames: ['result'], registers: [this.registry],
    });
    this.#leases ??= new Counter({
      name: 'sfu_placement_lease_events_total',
      help: 'Lease renewals of rooms hosted here that did not simply renew, by result (conflict: another live node holds the room; takeover; failed)',
      labelNames: ['result'], registers: [this.registry],
    });
  }
  /** Registers the escalation ownership metrics (with Redis configured only). Idempotent. */
  escalationOwnershipEnabled(): void {
    this.#escalationTakeovers ??= new Counter({
      name: 'sfu_escalation_takeovers_total',
      help: 'Open incidents whose escalation this node took over (their lease had run out: the owner died, restarted, or was cut off from Redis)',
      registers: [this.registry],
    });
    this.#escalationLeasesLost ??= new Counter({
      name: 'sfu_escalation_leases_lost_total',
      help: 'Open incidents held here whose escalation lease another node held at renewal (dropped here; that node escalates them)',
      registers: [this.registry],
    });
    this.#escalationTakeoverAttempts ??= new Counter({
      name: 'sfu_escalation_takeover_attempts_total',
      help: 'Open incidents found with no escalation lease whose lease this node tried to take, by where they were found (registry: the Redis registry of open incidents, every round; store: the store scan); 0 while every owner is alive',
      labelNames: ['found'], registers: [this.registry],
    });
  }
  /** Registers the session roster metrics (with Redis configured only). Idempotent. */
  rosterEnabled(): void {
    this.#restores ??= new Counter({
      name: 'sfu_session_restores_total',
      help: 'Resumes of sessions hosted by a lost node, by result (restored, elsewhere, none, unavailable, refused)',
      labelNames: ['result'], registers: [this.registry],
    });
    this.#rosterWrites ??= new Counter({
      name: 'sfu_session_roster_writes_total', help: 'Writes of this node\'s session roster to Redis, by result (ok, failed)',
      labelNames: ['result'], registers: [this.registry],
    });
  }
  sessionRestore(result: RestoreResult): void { this.#restores?.inc({ result }); }
  rosterWrite(result: 'ok' | 'failed'): void { this.#rosterWrites?.inc({ result }); }
  escalationTakeover(): void { this.#escalationTakeovers?.inc(); }
  escalationLeaseLost(): void { this.#escalationLeasesLost?.inc(); }
  escalationTakeoverAttempts(found: 'registry' | 'store', count: number): void { this.#escalationTakeoverAttempts?.inc({ found }, count); }
  placement(result: PlacementResult): void { this.#placements?.inc({ result }); }
  leaseEvent(result: LeaseResult): void { this.#leases?.inc({ result }); }
  revocationFanout(result: RevocationFanoutResult): void { this.#fanout?.inc({ result }); }

  async render(): Promise<string> {
    if (!this.#process) return this.registry.metrics();
    const now = performance.now();
    if (!this.#processText || now - this.#processText.at > this.#processMaxAgeMs) {
      this.#processText = { text: this.#process.metrics(), at: now };
    }
    const [own, proc] = await Promise.all([this.registry.metrics(), this.#processText.text]);
    return `${own}\n${proc}`;
  }
  get contentType(): string { return this.registry.contentType; }
}
