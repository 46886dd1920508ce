/**
 * The stats the data path bumps, declared once per config object (HCM, cluster, listener) so
 * the per-request cost is an increment on a held object. Names and types follow Envoy
 * (`ALL_HTTP_CONN_MAN_STATS`, `ALL_ROUTER_STATS`, `ALL_CLUSTER_TRAFFIC_STATS`,
 * `ALL_LISTENER_STATS`), so dashboards built on `http.<stat_prefix>.*`, `cluster.<name>.*` and
 * `listener.<address>.*` work. Only the stats whose events denvoy has are declared: one that
 * could never move (TLS handshakes, HTTP/2 streams, overload rejections, ...) arrives with the
 * feature that makes it count.
 */
import { type Http2CodecStats, http2CodecStats } from "../http/http2/codec_stats.ts";
import type { Counter, Gauge, Histogram } from "./metrics.ts";
import type { Scope } from "./store.ts";
import type { ZoneStat } from "../upstream/lb_base.ts";

/** Zone aware routing's counters, as Envoy names them. */
const ZONE_STATS: readonly ZoneStat[] = [
  "lb_recalculate_zone_structures",
  "lb_local_cluster_not_ok",
  "lb_zone_number_differs",
  "lb_zone_cluster_too_small",
  "lb_zone_routing_all_directly",
  "lb_zone_routing_sampled",
  "lb_zone_routing_cross_zone",
  "lb_zone_no_capacity_left",
];

/** The counters a connection adds its bytes to as they move (Envoy's `ConnectionStats`). */
export interface ByteCounters {
  readonly rx: Counter;
  readonly tx: Counter;
}

/**
 * `http.<stat_prefix>.*` of the router filter (Envoy's `ALL_ROUTER_STATS`), on the scope of its
 * connection manager's prefix.
 */
export class RouterStats {
  readonly noRoute: Counter;
  readonly noCluster: Counter;
  readonly rqRedirect: Counter;
  readonly rqDirectResponse: Counter;
  readonly rqTotal: Counter;
  readonly rqResetAfterDownstreamResponseStarted: Counter;
  readonly passthroughInternalRedirectBadLocation: Counter;
  readonly passthroughInternalRedirectUnsafeScheme: Counter;
  readonly passthroughInternalRedirectTooManyRedirects: Counter;
  readonly passthroughInternalRedirectNoRoute: Counter;
  readonly passthroughInternalRedirectPredicate: Counter;

  constructor(s: Scope) {
    this.noRoute = s.counter("no_route");
    this.noCluster = s.counter("no_cluster");
    this.rqRedirect = s.counter("rq_redirect");
    this.rqDirectResponse = s.counter("rq_direct_response");
    this.rqTotal = s.counter("rq_total");
    this.rqResetAfterDownstreamResponseStarted = s.counter(
      "rq_reset_after_downstream_response_started",
    );
    this.passthroughInternalRedirectBadLocation = s.counter(
      "passthrough_internal_redirect_bad_location",
    );
    this.passthroughInternalRedirectUnsafeScheme = s.counter(
      "passthrough_internal_redirect_unsafe_scheme",
    );
    this.passthroughInternalRedirectTooManyRedirects = s.counter(
      "passthrough_internal_redirect_too_many_redirects",
    );
    this.passthroughInternalRedirectNoRoute = s.counter("passthrough_internal_redirect_no_route");
    this.passthroughInternalRedirectPredicate = s.counter(
      "passthrough_internal_redirect_predicate",
    );
  }
}

/** A downstream connection's codec, for the per-protocol stats; "none" while not chosen. */
export type DownstreamCodec = "http1" | "http2" | "none";

/** `http.<stat_prefix>.*` of one connection manager. */
export class HttpConnManagerStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxHttp1Total: Counter;
  readonly cxHttp1Active: Gauge;
  /** Connections over TLS (`downstream_cx_ssl_total`, `_active`). */
  readonly cxSslTotal: Counter;
  readonly cxSslActive: Gauge;
  readonly cxHttp2Total: Counter;
  readonly cxHttp2Active: Gauge;
  readonly cxDestroy: Counter;
  readonly cxDestroyLocal: Counter;
  readonly cxDestroyRemote: Counter;
  readonly cxDestroyActiveRq: Counter;
  readonly cxDestroyLocalActiveRq: Counter;
  readonly cxDestroyRemoteActiveRq: Counter;
  readonly cxBytes: ByteCounters;
  readonly cxLength: Histogram;
  readonly cxIdleTimeout: Counter;
  readonly cxMaxDurationReached: Counter;
  readonly cxMaxRequestsReached: Counter;
  readonly cxProtocolError: Counter;
  readonly cxDrainClose: Counter;
  /** Connections closed by their delayed_close_timeout (network/connection.ts). */
  readonly cxDelayedCloseTimeout: Counter;
  /** Responses that closed their connection for `disable_http_keepalive`. */
  readonly cxOverloadDisableKeepalive: Counter;
  readonly cxUpgradesTotal: Counter;
  readonly cxUpgradesActive: Gauge;
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqHttp1Total: Counter;
  readonly rqHttp2Total: Counter;
  /** downstream_rq_1xx .. downstream_rq_5xx, indexed by status / 100 - 1. */
  readonly rqClass: Counter[];
  readonly rqCompleted: Counter;
  readonly rqTime: Histogram;
  readonly rqNonRelativePath: Counter;
  readonly rqFailedPathNormalization: Counter;
  readonly rqRedirectedWithNormalizedPath: Counter;
  readonly rqTimeout: Counter;
  readonly rqIdleTimeout: Counter;
  readonly rqHeaderTimeout: Counter;
  readonly rqResponseBeforeRqComplete: Counter;
  readonly rqRxReset: Counter;
  readonly rqTxReset: Counter;
  readonly rqTooManyPrematureResets: Counter;
  readonly rqMaxDurationReached: Counter;
  /** Requests answered 503 by `stop_accepting_requests`. */
  readonly rqOverloadClose: Counter;

  constructor(store: Scope, statPrefix: string) {
    const s = store.scope(`http.${statPrefix}`);
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxActive = s.gauge("downstream_cx_active", "Accumulate");
    this.cxHttp1Total = s.counter("downstream_cx_http1_total");
    this.cxHttp1Active = s.gauge("downstream_cx_http1_active", "Accumulate");
    this.cxSslTotal = s.counter("downstream_cx_ssl_total");
    this.cxSslActive = s.gauge("downstream_cx_ssl_active", "Accumulate");
    this.cxHttp2Total = s.counter("downstream_cx_http2_total");
    this.cxHttp2Active = s.gauge("downstream_cx_http2_active", "Accumulate");
    this.cxDestroy = s.counter("downstream_cx_destroy");
    this.cxDestroyLocal = s.counter("downstream_cx_destroy_local");
    this.cxDestroyRemote = s.counter("downstream_cx_destroy_remote");
    this.cxDestroyActiveRq = s.counter("downstream_cx_destroy_active_rq");
    this.cxDestroyLocalActiveRq = s.counter("downstream_cx_destroy_local_active_rq");
    this.cxDestroyRemoteActiveRq = s.counter("downstream_cx_destroy_remote_active_rq");
    this.cxBytes = {
      rx: s.counter("downstream_cx_rx_bytes_total"),
      tx: s.counter("downstream_cx_tx_bytes_total"),
    };
    this.cxLength = s.histogram("downstream_cx_length_ms", "Milliseconds");
    this.cxIdleTimeout = s.counter("downstream_cx_idle_timeout");
    this.cxMaxDurationReached = s.counter("downstream_cx_max_duration_reached");
    this.cxMaxRequestsReached = s.counter("downstream_cx_max_requests_reached");
    this.cxProtocolError = s.counter("downstream_cx_protocol_error");
    this.cxDrainClose = s.counter("downstream_cx_drain_close");
    this.cxDelayedCloseTimeout = s.counter("downstream_cx_delayed_close_timeout");
    this.cxOverloadDisableKeepalive = s.counter("downstream_cx_overload_disable_keepalive");
    this.cxUpgradesTotal = s.counter("downstream_cx_upgrades_total");
    this.cxUpgradesActive = s.gauge("downstream_cx_upgrades_active", "Accumulate");
    this.rqTotal = s.counter("downstream_rq_total");
    this.rqActive = s.gauge("downstream_rq_active", "Accumulate");
    this.rqHttp1Total = s.counter("downstream_rq_http1_total");
    this.rqHttp2Total = s.counter("downstream_rq_http2_total");
    this.rqClass = [1, 2, 3, 4, 5].map((c) => s.counter(`downstream_rq_${c}xx`));
    this.rqCompleted = s.counter("downstream_rq_completed");
    this.rqTime = s.histogram("downstream_rq_time", "Milliseconds");
    this.rqNonRelativePath = s.counter("downstream_rq_non_relative_path");
    this.rqFailedPathNormalization = s.counter("downstream_rq_failed_path_normalization");
    this.rqRedirectedWithNormalizedPath = s.counter(
      "downstream_rq_redirected_with_normalized_path",
    );
    this.rqTimeout = s.counter("downstream_rq_timeout");
    this.rqIdleTimeout = s.counter("downstream_rq_idle_timeout");
    this.rqHeaderTimeout = s.counter("downstream_rq_header_timeout");
    this.rqResponseBeforeRqComplete = s.counter("downstream_rq_response_before_rq_complete");
    this.rqRxReset = s.counter("downstream_rq_rx_reset");
    this.rqTxReset = s.counter("downstream_rq_tx_reset");
    this.rqTooManyPrematureResets = s.counter("downstream_rq_too_many_premature_resets");
    this.rqMaxDurationReached = s.counter("downstream_rq_max_duration_reached");
    this.rqOverloadClose = s.counter("downstream_rq_overload_close");
  }

  /**
   * Counts a finished request with its status and duration. A status outside 1xx..5xx (a
   * stream reset before any response) completes nothing, as Envoy charges these stats only
   * when response headers go out.
   */
  requestDone(status: number | undefined, ms: number): void {
    if (status) this.chargeCode(status);
    this.rqTime.record(ms);
  }

  /**
   * Envoy's chargeStats for response headers sent downstream: downstream_rq_completed and the
   * class. A 100 Continue is charged too (then again its final response).
   */
  chargeCode(status: number): void {
    const c = Math.floor(status / 100);
    if (c >= 1 && c <= 5) {
      this.rqClass[c - 1].inc();
      this.rqCompleted.inc();
    }
  }

  /**
   * Counts a new connection, and its codec unless that is chosen later (`codec_type: AUTO`
   * decides by the first bytes, see codecOpened).
   */
  connectionOpened(codec: DownstreamCodec = "http1"): void {
    this.cxTotal.inc();
    this.cxActive.inc();
    if (codec !== "none") this.codecOpened(codec);
  }

  /** Counts a connection's codec (downstream_cx_http1_* or _http2_*), as Envoy's createCodec. */
  codecOpened(codec: "http1" | "http2"): void {
    if (codec === "http1") {
      this.cxHttp1Total.inc();
      this.cxHttp1Active.inc();
    } else {
      this.cxHttp2Total.inc();
      this.cxHttp2Active.inc();
    }
  }

  /**
   * Counts a closed connection: Envoy's destroy counters say who closed it (`remote` when the
   * peer did, by FIN, reset or error) and whether a request was still in flight.
   */
  connectionClosed(
    remote: boolean,
    activeRequest: boolean,
    lengthMs: number,
    codec: DownstreamCodec = "http1",
  ): void {
    this.cxActive.dec();
    if (codec === "http1") this.cxHttp1Active.dec();
    else if (codec === "http2") this.cxHttp2Active.dec();
    this.cxDestroy.inc();
    (remote ? this.cxDestroyRemote : this.cxDestroyLocal).inc();
    if (activeRequest) {
      this.cxDestroyActiveRq.inc();
      (remote ? this.cxDestroyRemoteActiveRq : this.cxDestroyLocalActiveRq).inc();
    }
    this.cxLength.record(lengthMs);
  }
}

/**
 * The downstream HTTP/1 codec's stats (Envoy's `ALL_HTTP1_CODEC_STATS`), rooted at `http1.` and
 * shared by every connection manager, as in Envoy.
 */
export class Http1CodecStats {
  readonly droppedHeadersWithUnderscores: Counter;
  readonly requestsRejectedWithUnderscoresInHeaders: Counter;
  /** Metadata maps HTTP/1 could not carry (dropped). */
  readonly metadataNotSupportedError: Counter;

  constructor(store: Scope) {
    const s = store.scope("http1");
    this.droppedHeadersWithUnderscores = s.counter("dropped_headers_with_underscores");
    this.metadataNotSupportedError = s.counter("metadata_not_supported_error");
    this.requestsRejectedWithUnderscoresInHeaders = s.counter(
      "requests_rejected_with_underscores_in_headers",
    );
  }
}

/**
 * The response code stats Envoy charges per upstream response (`CodeStatsImpl`): completed,
 * the class, the exact code and the time, under a prefix ("", "internal." or "external.").
 */
export class UpstreamCodeStats {
  readonly completed: Counter;
  readonly rqClass: Counter[];
  readonly time: Histogram;
  readonly #scope: Scope;
  readonly #prefix: string;
  /** upstream_rq_<code>, created on the first response with that code. */
  readonly #codes: (Counter | undefined)[] = [];

  constructor(s: Scope, prefix: string) {
    this.#scope = s;
    this.#prefix = prefix;
    this.completed = s.counter(`${prefix}upstream_rq_completed`);
    this.rqClass = [1, 2, 3, 4, 5].map((c) => s.counter(`${prefix}upstream_rq_${c}xx`));
    this.time = s.histogram(`${prefix}upstream_rq_time`, "Milliseconds");
  }

  /** Counts a response code (a real one, or one the router answered for the upstream). */
  charge(status: number): void {
    this.completed.inc();
    const c = Math.floor(status / 100);
    if (c >= 1 && c <= 5) this.rqClass[c - 1].inc();
    if (status >= 100 && status < 600) {
      (this.#codes[status] ??= this.#scope.counter(`${this.#prefix}upstream_rq_${status}`)).inc();
    }
  }
}

/**
 * Envoy's basic response stats under `retry.`, charged for each response the router retried:
 * `retry.upstream_rq_completed`, `retry.upstream_rq_<class>xx`, `retry.upstream_rq_<code>`.
 */
export class RetryCodeStats {
  readonly #scope: Scope;
  readonly #counters = new Map<string, Counter>();

  constructor(s: Scope) {
    this.#scope = s;
  }

  #inc(name: string): void {
    let c = this.#counters.get(name);
    if (!c) {
      c = this.#scope.counter(name);
      this.#counters.set(name, c);
    }
    c.inc();
  }

  /** Counts a retried response's status. */
  charge(status: number): void {
    this.#inc("retry.upstream_rq_completed");
    this.#inc(`retry.upstream_rq_${Math.floor(status / 100)}xx`);
    this.#inc(`retry.upstream_rq_${status}`);
  }
}

/**
 * The code stats a request with `x-envoy-upstream-alt-stat-name: <alt>` charges besides the
 * cluster's own: `cluster.<name>.<alt>.upstream_rq_*`, with the internal/external split.
 */
export class AltCodeStats {
  readonly codes: UpstreamCodeStats;
  readonly internalCodes: UpstreamCodeStats;
  readonly externalCodes: UpstreamCodeStats;

  constructor(s: Scope, alt: string) {
    this.codes = new UpstreamCodeStats(s, `${alt}.`);
    this.internalCodes = new UpstreamCodeStats(s, `${alt}.internal.`);
    this.externalCodes = new UpstreamCodeStats(s, `${alt}.external.`);
  }

  /** As ClusterStats.chargeCode. */
  chargeCode(status: number, internal: boolean): void {
    this.codes.charge(status);
    (internal ? this.internalCodes : this.externalCodes).charge(status);
  }

  /** As ClusterStats.responseTime. */
  responseTime(ms: number, internal: boolean): void {
    this.codes.time.record(ms);
    (internal ? this.internalCodes : this.externalCodes).time.record(ms);
  }
}

/** `cluster.<stat name>.*` traffic of one cluster, per isolate (Envoy's cluster traffic stats). */
export class ClusterStats {
  readonly rqTotal: Counter;
  readonly rqActive: Gauge;
  readonly rqPendingTotal: Counter;
  readonly rqPendingActive: Gauge;
  readonly rqCancelled: Counter;
  readonly rqTimeout: Counter;
  readonly rqPerTryTimeout: Counter;
  readonly rqRxReset: Counter;
  readonly rqTxReset: Counter;
  /** upstream_rq_completed, _<class>xx, _<code> and upstream_rq_time. */
  readonly codes: UpstreamCodeStats;
  /** The same for requests the connection manager marked internal (`x-envoy-internal`). */
  readonly internalCodes: UpstreamCodeStats;
  readonly externalCodes: UpstreamCodeStats;
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxHttp1Total: Counter;
  readonly cxHttp2Total: Counter;
  readonly rqPendingFailureEject: Counter;
  readonly cxConnectFail: Counter;
  readonly cxConnectTimeout: Counter;
  readonly cxConnectAttemptsExceeded: Counter;
  readonly cxConnectMs: Histogram;
  readonly cxLength: Histogram;
  readonly cxDestroy: Counter;
  readonly cxDestroyLocal: Counter;
  readonly cxDestroyRemote: Counter;
  readonly cxDestroyWithActiveRq: Counter;
  readonly cxDestroyLocalWithActiveRq: Counter;
  readonly cxDestroyRemoteWithActiveRq: Counter;
  readonly cxBytes: ByteCounters;
  readonly cxMaxRequests: Counter;
  readonly cxIdleTimeout: Counter;
  readonly cxCloseNotify: Counter;
  readonly cxProtocolError: Counter;
  readonly cxNoneHealthy: Counter;
  /** `max_connection_pools` refused a new connection pool. */
  readonly cxPoolOverflow: Counter;
  readonly lbHealthyPanic: Counter;
  readonly lbSubsetsSelected: Counter;
  readonly lbSubsetsFallback: Counter;
  readonly lbSubsetsCreated: Counter;
  readonly lbSubsetsRemoved: Counter;
  readonly lbSubsetsActive: Gauge;
  /** Zone aware routing's counters, by stat name (`lb_zone_routing_sampled`, ...). */
  readonly lbZone: Readonly<Record<ZoneStat, Counter>>;
  readonly upstreamInternalRedirectSucceeded: Counter;
  readonly upstreamInternalRedirectFailed: Counter;
  readonly retryOrShadowAbandoned: Counter;
  /** ORIGINAL_DST: an override header that is not an `ip:port`. */
  readonly originalDstHostInvalid: Counter;
  readonly rqMaxDurationReached: Counter;
  readonly cxOverflow: Counter;
  readonly rqPendingOverflow: Counter;
  readonly rqPerTryIdleTimeout: Counter;
  readonly rqRetry: Counter;
  readonly rqRetrySuccess: Counter;
  readonly rqRetryOverflow: Counter;
  readonly rqRetryLimitExceeded: Counter;
  readonly rqRetryBackoffExponential: Counter;
  readonly rqRetryBackoffRatelimited: Counter;
  /** `retry.upstream_rq_<code>` and friends: responses that were retried (chargeBasicResponseStat). */
  readonly retryCodes: RetryCodeStats;

  readonly #scope: Scope;
  readonly #alt = new Map<string, AltCodeStats>();
  /** `cluster.<name>`, for the stats of its transport sockets (`ssl.*`). */
  get scope(): Scope {
    return this.#scope;
  }

  /** `statName` is the cluster's `alt_stat_name`, else its name. */
  constructor(store: Scope, statName: string) {
    const s = store.scope(`cluster.${statName}`);
    this.#scope = s;
    this.rqTotal = s.counter("upstream_rq_total");
    this.rqActive = s.gauge("upstream_rq_active", "Accumulate");
    this.rqPendingTotal = s.counter("upstream_rq_pending_total");
    this.rqPendingActive = s.gauge("upstream_rq_pending_active", "Accumulate");
    this.rqCancelled = s.counter("upstream_rq_cancelled");
    this.rqTimeout = s.counter("upstream_rq_timeout");
    this.rqPerTryTimeout = s.counter("upstream_rq_per_try_timeout");
    this.rqRxReset = s.counter("upstream_rq_rx_reset");
    this.rqTxReset = s.counter("upstream_rq_tx_reset");
    this.codes = new UpstreamCodeStats(s, "");
    this.internalCodes = new UpstreamCodeStats(s, "internal.");
    this.externalCodes = new UpstreamCodeStats(s, "external.");
    this.cxTotal = s.counter("upstream_cx_total");
    this.cxActive = s.gauge("upstream_cx_active", "Accumulate");
    this.cxHttp1Total = s.counter("upstream_cx_http1_total");
    this.cxHttp2Total = s.counter("upstream_cx_http2_total");
    this.rqPendingFailureEject = s.counter("upstream_rq_pending_failure_eject");
    this.cxConnectFail = s.counter("upstream_cx_connect_fail");
    this.cxConnectTimeout = s.counter("upstream_cx_connect_timeout");
    this.cxConnectAttemptsExceeded = s.counter("upstream_cx_connect_attempts_exceeded");
    this.cxConnectMs = s.histogram("upstream_cx_connect_ms", "Milliseconds");
    this.cxLength = s.histogram("upstream_cx_length_ms", "Milliseconds");
    this.cxDestroy = s.counter("upstream_cx_destroy");
    this.cxDestroyLocal = s.counter("upstream_cx_destroy_local");
    this.cxDestroyRemote = s.counter("upstream_cx_destroy_remote");
    this.cxDestroyWithActiveRq = s.counter("upstream_cx_destroy_with_active_rq");
    this.cxDestroyLocalWithActiveRq = s.counter("upstream_cx_destroy_local_with_active_rq");
    this.cxDestroyRemoteWithActiveRq = s.counter("upstream_cx_destroy_remote_with_active_rq");
    this.cxBytes = {
      rx: s.counter("upstream_cx_rx_bytes_total"),
      tx: s.counter("upstream_cx_tx_bytes_total"),
    };
    this.cxMaxRequests = s.counter("upstream_cx_max_requests");
    this.cxIdleTimeout = s.counter("upstream_cx_idle_timeout");
    this.cxCloseNotify = s.counter("upstream_cx_close_notify");
    this.cxProtocolError = s.counter("upstream_cx_protocol_error");
    this.cxNoneHealthy = s.counter("upstream_cx_none_healthy");
    this.cxPoolOverflow = s.counter("upstream_cx_pool_overflow");
    this.lbHealthyPanic = s.counter("lb_healthy_panic");
    this.lbSubsetsSelected = s.counter("lb_subsets_selected");
    this.lbSubsetsFallback = s.counter("lb_subsets_fallback");
    this.lbSubsetsCreated = s.counter("lb_subsets_created");
    this.lbSubsetsRemoved = s.counter("lb_subsets_removed");
    this.lbSubsetsActive = s.gauge("lb_subsets_active", "Accumulate");
    // Envoy declares these for every cluster; panic_mode_any and single_host_per_subset are
    // refused at validate, so they stay zero.
    s.counter("lb_subsets_fallback_panic");
    s.counter("lb_subsets_single_host_per_subset_duplicate");
    this.lbZone = Object.fromEntries(
      ZONE_STATS.map((n) => [n, s.counter(n)]),
    ) as Record<ZoneStat, Counter>;
    this.upstreamInternalRedirectSucceeded = s.counter(
      "upstream_internal_redirect_succeeded_total",
    );
    this.upstreamInternalRedirectFailed = s.counter("upstream_internal_redirect_failed_total");
    this.retryOrShadowAbandoned = s.counter("retry_or_shadow_abandoned");
    this.originalDstHostInvalid = s.counter("original_dst_host_invalid");
    this.rqMaxDurationReached = s.counter("upstream_rq_max_duration_reached");
    this.cxOverflow = s.counter("upstream_cx_overflow");
    this.rqPendingOverflow = s.counter("upstream_rq_pending_overflow");
    this.rqPerTryIdleTimeout = s.counter("upstream_rq_per_try_idle_timeout");
    this.rqRetry = s.counter("upstream_rq_retry");
    this.rqRetrySuccess = s.counter("upstream_rq_retry_success");
    this.rqRetryOverflow = s.counter("upstream_rq_retry_overflow");
    this.rqRetryLimitExceeded = s.counter("upstream_rq_retry_limit_exceeded");
    this.rqRetryBackoffExponential = s.counter("upstream_rq_retry_backoff_exponential");
    this.rqRetryBackoffRatelimited = s.counter("upstream_rq_retry_backoff_ratelimited");
    this.retryCodes = new RetryCodeStats(s);
  }

  /** `cluster.<name>.http2.*`, created with the cluster's first HTTP/2 connection (as Envoy). */
  http2(): Http2CodecStats {
    return this.#http2 ??= http2CodecStats(this.#scope);
  }
  #http2: Http2CodecStats | undefined;

  /**
   * Charges a response code as Envoy's router does (`chargeUpstreamCode`): the plain stats and
   * the internal or external ones. Also for codes the router answered in the upstream's place
   * (503 on a connect failure, 504 on a timeout).
   */
  chargeCode(status: number, internal: boolean): void {
    this.codes.charge(status);
    (internal ? this.internalCodes : this.externalCodes).charge(status);
  }

  /** Records the time to an upstream response. */
  responseTime(ms: number, internal: boolean): void {
    this.codes.time.record(ms);
    (internal ? this.internalCodes : this.externalCodes).time.record(ms);
  }

  /** The code stats under an `x-envoy-upstream-alt-stat-name`, created on first use. */
  alt(name: string): AltCodeStats {
    let a = this.#alt.get(name);
    if (!a) {
      a = new AltCodeStats(this.#scope, name);
      this.#alt.set(name, a);
    }
    return a;
  }

  /**
   * Counts an upstream connection (or connection attempt) that ended: Envoy's destroy counters
   * (`remote` when the upstream closed it or refused it), whether a request was still on it,
   * and its length from the connect attempt.
   */
  connectionClosed(remote: boolean, activeRequest: boolean, lengthMs: number): void {
    this.cxActive.dec();
    this.cxDestroy.inc();
    (remote ? this.cxDestroyRemote : this.cxDestroyLocal).inc();
    if (activeRequest) {
      this.cxDestroyWithActiveRq.inc();
      (remote ? this.cxDestroyRemoteWithActiveRq : this.cxDestroyLocalWithActiveRq).inc();
    }
    this.cxLength.record(lengthMs);
  }
}

/**
 * Envoy's listener stat name for an address or `stat_prefix`: `listener.<name>`, with every
 * `:` turned into `_` (`127.0.0.1_10000`, `[__1]_10000`).
 */
export function listenerStatName(addressOrPrefix: string): string {
  return addressOrPrefix.replaceAll(":", "_");
}

/**
 * `listener.<name>.*` of one listener, and its per-handler stats
 * `listener.<name>.<handler>.*` (`worker_<id>`, or `main_thread` for the admin listener).
 */
export class ListenerStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly cxDestroy: Counter;
  readonly cxLength: Histogram;
  readonly noFilterChainMatch: Counter;
  /** Turned away by `reject_incoming_connections` or the `tcp_listener_accept` shed point. */
  readonly cxOverloadReject: Counter;
  /** Turned away by the global downstream connection limit. */
  readonly globalCxOverflow: Counter;
  /** Turned away by the listener's connection limit. */
  readonly cxOverflow: Counter;
  readonly handlerCxTotal: Counter;
  readonly handlerCxActive: Gauge;
  /** `listener.<name>`, for the stats of its transport sockets (`ssl.*`). */
  readonly scope: Scope;

  /** `name` is already a stat name (see `listenerStatName`). */
  constructor(store: Scope, name: string, handler: string) {
    const s = this.scope = store.scope(`listener.${name}`);
    this.cxTotal = s.counter("downstream_cx_total");
    this.cxActive = s.gauge("downstream_cx_active", "Accumulate");
    this.cxDestroy = s.counter("downstream_cx_destroy");
    this.cxLength = s.histogram("downstream_cx_length_ms", "Milliseconds");
    this.noFilterChainMatch = s.counter("no_filter_chain_match");
    this.cxOverloadReject = s.counter("downstream_cx_overload_reject");
    this.globalCxOverflow = s.counter("downstream_global_cx_overflow");
    this.cxOverflow = s.counter("downstream_cx_overflow");
    this.handlerCxTotal = s.counter(`${handler}.downstream_cx_total`);
    this.handlerCxActive = s.gauge(`${handler}.downstream_cx_active`, "Accumulate");
  }

  /** A connection was accepted and handed to a filter chain. */
  connectionOpened(): void {
    this.cxTotal.inc();
    this.cxActive.inc();
    this.handlerCxTotal.inc();
    this.handlerCxActive.inc();
  }

  /** An accepted connection is gone, after `lengthMs`. */
  connectionClosed(lengthMs: number): void {
    this.cxActive.dec();
    this.handlerCxActive.dec();
    this.cxDestroy.inc();
    this.cxLength.record(lengthMs);
  }

  /** A connection was closed as soon as accepted: overload, or a connection limit. */
  rejected(why: "overload" | "global_limit" | "listener_limit"): void {
    (why === "overload"
      ? this.cxOverloadReject
      : why === "global_limit"
      ? this.globalCxOverflow
      : this.cxOverflow).inc();
  }
}

/**
 * Per-isolate cluster traffic stats by the cluster's stat name, created on first use (the
 * main thread lists the stats no isolate made yet as zeros: `cluster_stats_template.ts`).
 */
export class ClusterStatsCache {
  readonly #byName = new Map<string, ClusterStats>();
  constructor(readonly store: Scope) {}

  /** The stats of the cluster whose stat name (`alt_stat_name`, else name) is `statName`. */
  get(statName: string): ClusterStats {
    let s = this.#byName.get(statName);
    if (!s) {
      s = new ClusterStats(this.store, statName);
      this.#byName.set(statName, s);
    }
    return s;
  }
}
