/**
 * Access log filters (`envoy.config.accesslog.v3.AccessLogFilter`): predicates over a finished
 * request, used by access logs and by the connection manager's local reply mappers.
 * Compiled once; evaluation does no parsing.
 */
import type {
  AccessLogFilter,
  ComparisonFilter,
} from "../../../proto/gen/envoy/config/accesslog/v3/accesslog_pb.ts";

// ComparisonFilter.Op numbers, written out so the generated module graph is not loaded at
// run time.
const Op = { EQ: 0, GE: 1, LE: 2 } as const;
import type { FormatContext } from "../../formatter/substitution_formatter.ts";
import { runtimeSnapshot } from "../../runtime/runtime.ts";
import { DENOMINATORS } from "../../runtime/snapshot.ts";
import { compileHeaderMatcher } from "../../router/matchers.ts";
import {
  RESPONSE_FLAGS,
  responseFlagBit,
  type ResponseFlagName,
} from "../../stream_info/stream_info.ts";

/** A uniformly random value in [0, 2^32). */
function randomValue(): number {
  return Math.floor(Math.random() * 0x1_0000_0000);
}

/**
 * The random value Envoy's runtime filter takes from the request id (its leading 32 bits, so
 * every log sampling decision for one request agrees), when the id is a UUID.
 */
function requestIdRandom(ctx: FormatContext): number | undefined {
  const id = ctx.streamInfo.streamId ?? ctx.requestHeaders?.get("x-request-id");
  if (!id || !/^[0-9a-fA-F]{8}-/.test(id)) return undefined;
  return parseInt(id.slice(0, 8), 16);
}

/** A compiled filter. */
export type AccessLogPredicate = (ctx: FormatContext) => boolean;

function comparison(c: ComparisonFilter | undefined, field: string): (v: number) => boolean {
  if (!c?.value) throw new Error(`${field}: comparison needs a value`);
  const { defaultValue, runtimeKey } = c.value;
  // The runtime key, when set, overrides the default from the live snapshot (as in Envoy).
  const want = runtimeKey
    ? () => runtimeSnapshot().getInteger(runtimeKey, defaultValue)
    : () => defaultValue;
  switch (c.op) {
    case Op.EQ:
      return (v) => v === want();
    case Op.GE:
      return (v) => v >= want();
    case Op.LE:
      return (v) => v <= want();
    default:
      throw new Error(`${field}: unknown comparison op ${c.op}`);
  }
}

/** Compiles a filter; throws an Error naming the filter kinds that are not supported yet. */
export function compileAccessLogFilter(f: AccessLogFilter, field = "filter"): AccessLogPredicate {
  const s = f.filterSpecifier;
  switch (s.case) {
    case "statusCodeFilter": {
      const cmp = comparison(s.value.comparison, `${field}.status_code_filter`);
      return (ctx) => cmp(ctx.streamInfo.responseCode ?? 0);
    }
    case "durationFilter": {
      const cmp = comparison(s.value.comparison, `${field}.duration_filter`);
      return (ctx) => cmp(Math.floor(ctx.streamInfo.duration ?? ctx.streamInfo.elapsed()));
    }
    case "notHealthCheckFilter":
      // No request is marked as a health check until the health_check filter exists.
      return () => true;
    case "traceableFilter":
      // Without tracing nothing is traceable.
      return () => false;
    case "runtimeFilter": {
      const { runtimeKey, percentSampled: p, useIndependentRandomness } = s.value;
      const dflt = { numerator: p?.numerator ?? 0, denominator: DENOMINATORS[p?.denominator ?? 0] };
      return (ctx) =>
        runtimeSnapshot().featureEnabled(
          runtimeKey,
          dflt,
          useIndependentRandomness ? randomValue() : requestIdRandom(ctx) ?? randomValue(),
        );
    }
    case "andFilter":
    case "orFilter": {
      const parts = s.value.filters.map((x, i) =>
        compileAccessLogFilter(x, `${field}.${s.case === "andFilter" ? "and" : "or"}_filter[${i}]`)
      );
      return s.case === "andFilter"
        ? (ctx) => parts.every((p) => p(ctx))
        : (ctx) => parts.some((p) => p(ctx));
    }
    case "headerFilter": {
      if (!s.value.header) throw new Error(`${field}.header_filter needs a header`);
      const m = compileHeaderMatcher(s.value.header, `${field}.header_filter.header`);
      return (ctx) => ctx.requestHeaders !== undefined && m(ctx.requestHeaders);
    }
    case "responseFlagFilter": {
      const known = new Set<string>(RESPONSE_FLAGS.map(([short]) => short));
      let mask = 0;
      for (const flag of s.value.flags) {
        if (!known.has(flag)) {
          throw new Error(`${field}.response_flag_filter: unknown flag ${flag}`);
        }
        mask |= responseFlagBit(flag as ResponseFlagName);
      }
      // An empty list means "any flag set".
      return mask === 0
        ? (ctx) => ctx.streamInfo.responseFlags !== 0
        : (ctx) => (ctx.streamInfo.responseFlags & mask) !== 0;
    }
    default:
      throw new Error(`${field}: access log filter ${s.case ?? "(none)"} is not supported yet`);
  }
}
