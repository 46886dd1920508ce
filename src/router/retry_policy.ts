/**
 * Retries (`RouteAction.retry_policy`, `VirtualHost.retry_policy`): the compiled policy, the
 * `retry_on` conditions and Envoy's decisions for a response or a reset (`RetryStateImpl`), the
 * jittered exponential back-off and the rate-limited back-off. The router owns the timers and
 * the upstream attempts; this module only decides.
 *
 * @module
 */
import type {
  HedgePolicy,
  RetryPolicy,
  RetryPolicy_RetryHostPredicate,
  RetryPolicy_RetryPriority,
} from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { OmitHostMetadataConfig } from "../../proto/gen/envoy/extensions/retry/host/omit_host_metadata/v3/omit_host_metadata_config_pb.ts";
import type { PreviousPrioritiesConfig } from "../../proto/gen/envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config_pb.ts";
import { PREVIOUS_PRIORITIES } from "../extensions/retry/priority/previous_priorities/config.ts";
import { unpackAny } from "../config/any.ts";
import type { HeaderMap } from "../http/header_map.ts";
import type { HostDescription } from "../upstream/host.ts";
import { compileHeaderMatcher, type HeaderPredicate } from "./matchers.ts";
import { durationMs } from "../common/duration.ts";

/** `retry_on` conditions (`x-envoy-retry-on`, `x-envoy-retry-grpc-on`) as bits. */
export const RETRY_ON_5XX = 1 << 0;
export const RETRY_ON_GATEWAY_ERROR = 1 << 1;
export const RETRY_ON_CONNECT_FAILURE = 1 << 2;
export const RETRY_ON_RETRIABLE_4XX = 1 << 3;
export const RETRY_ON_REFUSED_STREAM = 1 << 4;
export const RETRY_ON_RETRIABLE_STATUS_CODES = 1 << 5;
export const RETRY_ON_GRPC_CANCELLED = 1 << 6;
export const RETRY_ON_GRPC_DEADLINE_EXCEEDED = 1 << 7;
export const RETRY_ON_GRPC_RESOURCE_EXHAUSTED = 1 << 8;
export const RETRY_ON_GRPC_UNAVAILABLE = 1 << 9;
export const RETRY_ON_GRPC_INTERNAL = 1 << 10;
export const RETRY_ON_RETRIABLE_HEADERS = 1 << 11;
export const RETRY_ON_ENVOY_RATE_LIMITED = 1 << 12;
export const RETRY_ON_RESET = 1 << 13;
export const RETRY_ON_RESET_BEFORE_REQUEST = 1 << 14;
/** Accepted (Envoy knows it) but without HTTP/3 upstreams it never applies. */
export const RETRY_ON_HTTP3_POST_CONNECT_FAILURE = 1 << 15;

const RETRY_ON: Readonly<Record<string, number>> = {
  "5xx": RETRY_ON_5XX,
  "gateway-error": RETRY_ON_GATEWAY_ERROR,
  "connect-failure": RETRY_ON_CONNECT_FAILURE,
  "envoy-ratelimited": RETRY_ON_ENVOY_RATE_LIMITED,
  "retriable-4xx": RETRY_ON_RETRIABLE_4XX,
  "refused-stream": RETRY_ON_REFUSED_STREAM,
  "retriable-status-codes": RETRY_ON_RETRIABLE_STATUS_CODES,
  "retriable-headers": RETRY_ON_RETRIABLE_HEADERS,
  "reset": RETRY_ON_RESET,
  "reset-before-request": RETRY_ON_RESET_BEFORE_REQUEST,
  "http3-post-connect-failure": RETRY_ON_HTTP3_POST_CONNECT_FAILURE,
};

const RETRY_GRPC_ON: Readonly<Record<string, number>> = {
  "cancelled": RETRY_ON_GRPC_CANCELLED,
  "deadline-exceeded": RETRY_ON_GRPC_DEADLINE_EXCEEDED,
  "resource-exhausted": RETRY_ON_GRPC_RESOURCE_EXHAUSTED,
  "unavailable": RETRY_ON_GRPC_UNAVAILABLE,
  "internal": RETRY_ON_GRPC_INTERNAL,
};

/** gRPC status codes of the gRPC conditions. */
const GRPC_CONDITIONS: readonly (readonly [number, number])[] = [
  [1, RETRY_ON_GRPC_CANCELLED],
  [4, RETRY_ON_GRPC_DEADLINE_EXCEEDED],
  [8, RETRY_ON_GRPC_RESOURCE_EXHAUSTED],
  [14, RETRY_ON_GRPC_UNAVAILABLE],
  [13, RETRY_ON_GRPC_INTERNAL],
];
const ANY_GRPC = RETRY_ON_GRPC_CANCELLED | RETRY_ON_GRPC_DEADLINE_EXCEEDED |
  RETRY_ON_GRPC_RESOURCE_EXHAUSTED | RETRY_ON_GRPC_UNAVAILABLE | RETRY_ON_GRPC_INTERNAL;

/** Envoy's parseRetryOn: comma separated, blanks trimmed, unknown names ignored. */
export function parseRetryOn(value: string): number {
  return parseTokens(value, RETRY_ON);
}

/** Envoy's parseRetryGrpcOn. */
export function parseRetryGrpcOn(value: string): number {
  return parseTokens(value, RETRY_GRPC_ON);
}

function parseTokens(value: string, names: Readonly<Record<string, number>>): number {
  let bits = 0;
  for (const t of value.split(",")) {
    const b = names[t.trim()];
    if (b !== undefined) bits |= b;
  }
  return bits;
}

/** Whether the host may take the next attempt (a `retry_host_predicate`). */
export type RetryHostPredicate = (
  host: HostDescription,
  attempted: readonly HostDescription[],
) => boolean;

/** Reset headers of `rate_limited_retry_back_off`. */
export interface ResetHeader {
  /** Lower case. */
  readonly name: string;
  /** SECONDS (0) or UNIX_TIMESTAMP (1). */
  readonly unixTimestamp: boolean;
}

/** A compiled retry policy. */
export interface CompiledRetryPolicy {
  readonly retryOn: number;
  /** `num_retries` (1 by default). */
  readonly numRetries: number;
  /** 0 = none. */
  readonly perTryTimeoutMs: number;
  readonly perTryIdleTimeoutMs: number;
  /** `retry_back_off.base_interval`; the runtime's 25 ms when unset. */
  readonly baseIntervalMs?: number;
  readonly maxIntervalMs?: number;
  readonly retriableStatusCodes: readonly number[];
  readonly retriableHeaders: readonly HeaderPredicate[];
  readonly retriableRequestHeaders: readonly HeaderPredicate[];
  readonly resetHeaders: readonly ResetHeader[];
  /** `rate_limited_retry_back_off.max_interval` (300 s by default). */
  readonly resetMaxIntervalMs: number;
  /** Hosts a retry must not go to, by the predicates' verdict (any refusing is enough). */
  readonly hostPredicates: readonly RetryHostPredicate[];
  /** `host_selection_retry_max_attempts` (1 by default). */
  readonly hostSelectionMaxAttempts: number;
  /** `retry_priority` `previous_priorities`: its `update_frequency`. */
  readonly previousPrioritiesUpdateFrequency?: number;
}

/** The policy a route without one uses (Envoy's default RetryPolicyImpl). */
export const DEFAULT_RETRY_POLICY: CompiledRetryPolicy = {
  retryOn: 0,
  numRetries: 1,
  perTryTimeoutMs: 0,
  perTryIdleTimeoutMs: 0,
  retriableStatusCodes: [],
  retriableHeaders: [],
  retriableRequestHeaders: [],
  resetHeaders: [],
  resetMaxIntervalMs: 300_000,
  hostPredicates: [],
  hostSelectionMaxAttempts: 1,
};

const PREVIOUS_HOSTS = "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate";
const OMIT_CANARY = "envoy.extensions.retry.host.omit_canary_hosts.v3.OmitCanaryHostsPredicate";
const OMIT_METADATA = "envoy.extensions.retry.host.omit_host_metadata.v3.OmitHostMetadataConfig";

/**
 * Compiles a `RetryPolicy`.
 *
 * @throws {Error} naming the field, for what Envoy rejects or denvoy does not implement.
 */
export function compileRetryPolicy(p: RetryPolicy, field: string): CompiledRetryPolicy {
  if (p.retryOptionsPredicates.length > 0) {
    throw new Error(
      `${field}.retry_options_predicates: retry options predicates are not supported`,
    );
  }
  const backOff = p.retryBackOff;
  let baseIntervalMs: number | undefined;
  let maxIntervalMs: number | undefined;
  if (backOff) {
    baseIntervalMs = Math.max(1, durationMs(backOff.baseInterval, 0));
    const max = durationMs(backOff.maxInterval, undefined);
    if (max !== undefined) {
      maxIntervalMs = Math.max(1, max);
      if (maxIntervalMs < baseIntervalMs) {
        throw new Error(
          `${field}.retry_back_off: retry_policy.max_interval must greater than or equal to the base_interval`,
        );
      }
    }
  }
  const rl = p.rateLimitedRetryBackOff;
  const resetMax = durationMs(rl?.maxInterval, undefined);
  return {
    retryOn: parseRetryOn(p.retryOn) | parseRetryGrpcOn(p.retryOn),
    numRetries: p.numRetries ?? 1,
    perTryTimeoutMs: durationMs(p.perTryTimeout, 0),
    perTryIdleTimeoutMs: durationMs(p.perTryIdleTimeout, 0),
    baseIntervalMs,
    maxIntervalMs,
    retriableStatusCodes: p.retriableStatusCodes,
    retriableHeaders: p.retriableHeaders.map((h, i) =>
      compileHeaderMatcher(h, `${field}.retriable_headers[${i}]`)
    ),
    retriableRequestHeaders: p.retriableRequestHeaders.map((h, i) =>
      compileHeaderMatcher(h, `${field}.retriable_request_headers[${i}]`)
    ),
    resetHeaders: (rl?.resetHeaders ?? []).map((h) => ({
      name: h.name.toLowerCase(),
      unixTimestamp: h.format === 1,
    })),
    resetMaxIntervalMs: resetMax === undefined ? 300_000 : Math.max(1, resetMax),
    hostPredicates: p.retryHostPredicate.map((hp, i) =>
      hostPredicate(hp, `${field}.retry_host_predicate[${i}]`)
    ),
    hostSelectionMaxAttempts: Number(p.hostSelectionRetryMaxAttempts) || 1,
    ...(p.retryPriority
      ? { previousPrioritiesUpdateFrequency: retryPriority(p.retryPriority, field) }
      : {}),
  };
}

/** `retry_priority`: only `previous_priorities`; its `update_frequency`. */
function retryPriority(rp: RetryPolicy_RetryPriority, field: string): number {
  const any = rp.configType.case === "typedConfig" ? rp.configType.value : undefined;
  const type = any?.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  if (type !== PREVIOUS_PRIORITIES) {
    throw new Error(
      `${field}.retry_priority: retry priority '${rp.name}'${
        type ? ` (${type})` : ""
      } is not supported`,
    );
  }
  // update_frequency > 0 is a validation rule of the message, checked with the others.
  return unpackAny<PreviousPrioritiesConfig>(any!)?.updateFrequency ?? 1;
}

/** A canary host: `envoy.lb` metadata `canary: true`, as Envoy reads it. */
function isCanary(h: HostDescription): boolean {
  return h.metadata?.["envoy.lb"]?.canary === true;
}

function hostPredicate(hp: RetryHostPredicate_, field: string): RetryHostPredicate {
  const any = hp.configType.case === "typedConfig" ? hp.configType.value : undefined;
  const type = any?.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  switch (type) {
    case PREVIOUS_HOSTS:
      return (host, attempted) =>
        !attempted.some((a) => a.address === host.address && a.port === host.port);
    case OMIT_CANARY:
      return (host) => !isCanary(host);
    case OMIT_METADATA: {
      const match = unpackAny<OmitHostMetadataConfig>(any!)?.metadataMatch?.filterMetadata ?? {};
      const wanted = Object.entries(match["envoy.lb"] ?? {});
      // An empty metadata_match omits nothing.
      if (wanted.length === 0) return () => true;
      return (host) => {
        const md = host.metadata?.["envoy.lb"];
        return !md || !wanted.every(([k, v]) => JSON.stringify(md[k]) === JSON.stringify(v));
      };
    }
    default:
      throw new Error(
        `${field}: retry host predicate '${hp.name}'${type ? ` (${type})` : ""} is not supported`,
      );
  }
}
type RetryHostPredicate_ = RetryPolicy_RetryHostPredicate;

/**
 * `hedge_policy`: only `hedge_on_per_try_timeout` is implemented.
 *
 * @throws {Error} for `initial_requests` above 1 and `additional_request_chance`.
 */
export function compileHedgePolicy(p: HedgePolicy, field: string): boolean {
  if (p.initialRequests !== undefined && p.initialRequests !== 1) {
    throw new Error(`${field}.initial_requests: only 1 initial request is supported`);
  }
  if (p.additionalRequestChance) {
    throw new Error(`${field}.additional_request_chance is not supported`);
  }
  return p.hedgeOnPerTryTimeout;
}

/** Why an attempt ended without a response, in the terms retries care about. */
export type ResetKind =
  | "overflow"
  | "connect_failure"
  | "connection_termination"
  | "protocol_error"
  | "local_reset"
  | "refused_stream";

/** What a retry decision says. */
export type RetryStatus = "yes" | "no" | "no_overflow" | "no_retry_limit_exceeded";

/** Envoy's JitteredExponentialBackOffStrategy: full jitter over base, 2·base, 4·base ... max. */
export class JitteredBackOff {
  #next: number;

  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
    readonly random: () => number = Math.random,
  ) {
    this.#next = baseMs;
  }

  /** The next back-off: uniform in [0, interval), the interval doubling up to the max. */
  nextBackOffMs(): number {
    const backoff = this.#next;
    this.#next = this.#next < this.maxMs / 2 ? this.#next * 2 : this.maxMs;
    return Math.floor(this.random() * backoff);
  }
}

/** Envoy's JitteredLowerBoundBackOffStrategy: [min, 1.5·min). */
export function lowerBoundBackOffMs(minMs: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.floor(minMs / 2)) + minMs;
}

/**
 * The rate-limited back-off a response asks for (`Retry-After` in seconds,
 * `X-RateLimit-Reset` as a Unix time), the first reset header that parses and is within
 * `max`; undefined when none does.
 */
export function resetIntervalMs(
  headers: readonly ResetHeader[],
  response: HeaderMap,
  maxMs: number,
  nowMs: number = Date.now(),
): number | undefined {
  for (const h of headers) {
    const v = response.get(h.name)?.trim();
    if (v === undefined || !/^\d+$/.test(v)) continue;
    const n = Number(v);
    const interval = h.unixTimestamp ? n * 1000 - nowMs : n * 1000;
    if (interval > 0 && interval <= maxMs) return interval;
  }
  return undefined;
}

/** The response's gRPC status (`grpc-status` of a trailers-only or HTTP/1 gRPC response). */
export function grpcStatus(headers: HeaderMap): number | undefined {
  const v = headers.get("grpc-status");
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * One request's retry state (Envoy's RetryStateImpl): the policy merged with the request's
 * `x-envoy-retry-*` headers, the retries left, and the decisions.
 */
export class RetryState {
  retryOn: number;
  retriesRemaining: number;
  readonly retriableStatusCodes: number[];
  readonly retriableHeaders: HeaderPredicate[];
  readonly backOff: JitteredBackOff;
  /** The rate-limited back-off the last retried response asked for (used once). */
  rateLimitedBackOffMs: number | undefined;

  /**
   * @param headers the request headers; the `x-envoy-*` retry headers are read (the router
   *   removes them).
   * @param trusted whether the request's `x-envoy-*` headers are honoured.
   */
  constructor(
    readonly policy: CompiledRetryPolicy,
    headers: HeaderMap,
    trusted: boolean,
    baseIntervalMs = 25,
    readonly random: () => number = Math.random,
  ) {
    this.retryOn = policy.retryOn;
    this.retriesRemaining = policy.numRetries;
    this.retriableStatusCodes = [...policy.retriableStatusCodes];
    this.retriableHeaders = [...policy.retriableHeaders];
    const base = policy.baseIntervalMs ?? baseIntervalMs;
    this.backOff = new JitteredBackOff(base, policy.maxIntervalMs ?? base * 10, random);
    if (trusted) {
      const on = headers.get("x-envoy-retry-on");
      if (on !== undefined) this.retryOn |= parseRetryOn(on);
      const grpcOn = headers.get("x-envoy-retry-grpc-on");
      if (grpcOn !== undefined) this.retryOn |= parseRetryGrpcOn(grpcOn);
    }
    const rrh = policy.retriableRequestHeaders;
    if (rrh.length > 0 && !rrh.some((m) => m(headers))) this.retryOn = 0;
    if (trusted) {
      const max = headers.get("x-envoy-max-retries");
      if (this.retryOn !== 0 && max !== undefined && /^\d+$/.test(max)) {
        this.retriesRemaining = Number(max);
      }
      const codes = headers.get("x-envoy-retriable-status-codes");
      if (codes !== undefined) {
        for (const c of codes.split(",")) {
          const t = c.trim();
          if (/^\d+$/.test(t)) this.retriableStatusCodes.push(Number(t));
        }
      }
      const names = headers.get("x-envoy-retriable-header-names");
      if (names !== undefined) {
        for (const n of names.split(",")) {
          const name = n.trim().toLowerCase();
          if (name) this.retriableHeaders.push((h) => h.has(name));
        }
      }
    }
  }

  /** Whether any condition is on (the request body is then kept for a retry). */
  get enabled(): boolean {
    return this.retryOn !== 0;
  }

  /** Envoy's wouldRetryFromHeaders. */
  wouldRetryFromHeaders(response: HeaderMap, status: number): boolean {
    const on = this.retryOn;
    // A response an upstream Envoy rate limited is retried only with envoy-ratelimited.
    if (response.has("x-envoy-ratelimited")) return (on & RETRY_ON_ENVOY_RATE_LIMITED) !== 0;
    if ((on & RETRY_ON_5XX) && status >= 500 && status < 600) return true;
    if ((on & RETRY_ON_GATEWAY_ERROR) && status >= 502 && status <= 504) return true;
    if ((on & RETRY_ON_RETRIABLE_4XX) && status === 409) return true;
    if ((on & RETRY_ON_RETRIABLE_STATUS_CODES) && this.retriableStatusCodes.includes(status)) {
      return true;
    }
    if (on & RETRY_ON_RETRIABLE_HEADERS) {
      for (const m of this.retriableHeaders) if (m(response)) return true;
    }
    if (on & ANY_GRPC) {
      const g = grpcStatus(response);
      if (g !== undefined) {
        for (const [code, bit] of GRPC_CONDITIONS) if (g === code && (on & bit)) return true;
      }
    }
    return false;
  }

  /** Envoy's wouldRetryFromReset; `requestStarted`: bytes of the request reached the upstream. */
  wouldRetryFromReset(kind: ResetKind, requestStarted: boolean): boolean {
    const on = this.retryOn;
    if (kind === "overflow") return false;
    if (kind === "connect_failure" && (on & RETRY_ON_CONNECT_FAILURE)) return true;
    if (kind === "refused_stream" && (on & RETRY_ON_REFUSED_STREAM)) return true;
    if ((on & RETRY_ON_RESET_BEFORE_REQUEST) && !requestStarted) return true;
    if (on & (RETRY_ON_RESET | RETRY_ON_5XX | RETRY_ON_GATEWAY_ERROR)) return true;
    return false;
  }

  /**
   * Envoy's shouldRetry once a decision is made: the retries left, then the circuit breaker
   * (`canRetry`, which takes the retry resource when it allows one). "yes": retry.
   */
  decide(wouldRetry: boolean, canRetry: () => boolean): RetryStatus {
    if (!wouldRetry) return "no";
    if (this.retriesRemaining === 0) return "no_retry_limit_exceeded";
    this.retriesRemaining--;
    if (!canRetry()) return "no_overflow";
    return "yes";
  }

  /** Notes the rate-limited back-off a response asks for, before it is retried. */
  noteResetHeaders(response: HeaderMap): void {
    const p = this.policy;
    if (p.resetHeaders.length === 0) return;
    const interval = resetIntervalMs(p.resetHeaders, response, p.resetMaxIntervalMs);
    if (interval !== undefined && interval > 1) this.rateLimitedBackOffMs = interval;
  }

  /** The back-off before the next retry, and whether it was rate limited. */
  nextBackOff(): { ms: number; rateLimited: boolean } {
    const rl = this.rateLimitedBackOffMs;
    if (rl !== undefined) {
      this.rateLimitedBackOffMs = undefined;
      return { ms: lowerBoundBackOffMs(rl, this.random), rateLimited: true };
    }
    return { ms: this.backOff.nextBackOffMs(), rateLimited: false };
  }
}
