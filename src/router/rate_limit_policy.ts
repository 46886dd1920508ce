/**
 * A route's or virtual host's `rate_limits` (Envoy's `RateLimitPolicyImpl`): each entry's
 * actions make one rate limit descriptor from the request, for the rate limit filters to look
 * up. An entry whose action cannot produce its part (a missing header, a header match that
 * fails) makes no descriptor; `skip_if_absent` lets a missing header add nothing instead.
 *
 * Implemented actions: `source_cluster`, `destination_cluster`, `request_headers`,
 * `remote_address`, `generic_key`, `header_value_match`; the others, and `limit`, are refused
 * (route_fields.ts).
 *
 * @module
 */
import type { RateLimit } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import type { HeaderMap } from "../http/header_map.ts";
import { compileHeaderMatchers, type HeaderPredicate } from "./matchers.ts";

/** One descriptor: its entries in order, as `[key, value]`. */
export type RateLimitDescriptor = readonly (readonly [string, string])[];

/** What the actions read from the request. */
export interface DescriptorContext {
  readonly headers: HeaderMap;
  /** The downstream client address (`ip:port` or `[ip]:port`), as trusted for XFF. */
  readonly remoteAddress: string;
  /** The cluster the route sends to (`destination_cluster`). */
  readonly clusterName: string | undefined;
  /** This server's service cluster (`source_cluster`). */
  readonly localServiceCluster: string;
}

/** Adds its descriptor entry (or nothing); false when the descriptor must not be made. */
type Action = (out: [string, string][], ctx: DescriptorContext) => boolean;

/** One compiled `rate_limits` entry. */
export interface RateLimitPolicyEntry {
  readonly stage: number;
  readonly disableKey: string;
  /** The entry's descriptor for this request, or undefined when it makes none. */
  descriptor(ctx: DescriptorContext): RateLimitDescriptor | undefined;
}

/** A level's `rate_limits`; empty when none are configured. */
export type RateLimitPolicy = readonly RateLimitPolicyEntry[];

/** The policy with no entries. */
export const EMPTY_RATE_LIMIT_POLICY: RateLimitPolicy = [];

/** The IP of an `ip:port` or `[ip]:port` address; undefined for other addresses. */
function addressIp(address: string): string | undefined {
  if (address.startsWith("[")) {
    const end = address.indexOf("]");
    return end > 0 ? address.slice(1, end) : undefined;
  }
  const colon = address.lastIndexOf(":");
  return colon > 0 ? address.slice(0, colon) : undefined;
}

function compileAction(a: RateLimit["actions"][number], field: string): Action {
  const s = a.actionSpecifier;
  switch (s.case) {
    case "sourceCluster":
      return (out, ctx) => (out.push(["source_cluster", ctx.localServiceCluster]), true);
    case "destinationCluster":
      return (out, ctx) => {
        if (ctx.clusterName === undefined) return false;
        out.push(["destination_cluster", ctx.clusterName]);
        return true;
      };
    case "requestHeaders": {
      const name = s.value.headerName.toLowerCase();
      const key = s.value.descriptorKey;
      const skip = s.value.skipIfAbsent;
      if (name === "") throw new Error(`${field}.request_headers.header_name: must be set`);
      if (key === "") throw new Error(`${field}.request_headers.descriptor_key: must be set`);
      return (out, ctx) => {
        const v = ctx.headers.get(name);
        if (v === undefined) return skip;
        out.push([key, v]);
        return true;
      };
    }
    case "remoteAddress":
      return (out, ctx) => {
        const ip = addressIp(ctx.remoteAddress);
        if (ip === undefined) return false;
        out.push(["remote_address", ip]);
        return true;
      };
    case "genericKey": {
      const value = s.value.descriptorValue;
      if (value === "") throw new Error(`${field}.generic_key.descriptor_value: must be set`);
      const key = s.value.descriptorKey || "generic_key";
      return (out) => (out.push([key, value]), true);
    }
    case "headerValueMatch": {
      const v = s.value;
      if (v.descriptorValue === "") {
        throw new Error(`${field}.header_value_match.descriptor_value: must be set`);
      }
      if (v.headers.length === 0) {
        throw new Error(`${field}.header_value_match.headers: at least one is required`);
      }
      const match: HeaderPredicate = compileHeaderMatchers(
        v.headers,
        `${field}.header_value_match.headers`,
      )!;
      const expect = v.expectMatch ?? true;
      const key = v.descriptorKey || "header_match";
      const value = v.descriptorValue;
      return (out, ctx) => {
        if (match(ctx.headers) !== expect) return false;
        out.push([key, value]);
        return true;
      };
    }
    default:
      throw new Error(`${field}: rate limit action ${s.case ?? "(none)"} is not supported`);
  }
}

/**
 * Compiles a level's `rate_limits`. `field` is the path of the list, e.g.
 * `virtual_hosts[0].routes[2].route.rate_limits`.
 *
 * @throws {Error} for actions denvoy does not implement and invalid entries.
 */
export function compileRateLimitPolicy(list: readonly RateLimit[], field: string): RateLimitPolicy {
  if (list.length === 0) return EMPTY_RATE_LIMIT_POLICY;
  return list.map((r, i) => {
    const at = `${field}[${i}]`;
    if (r.actions.length === 0) throw new Error(`${at}.actions: at least one is required`);
    const stage = r.stage ?? 0;
    if (stage > 10) throw new Error(`${at}.stage: must be at most 10`);
    const actions = r.actions.map((a, j) => compileAction(a, `${at}.actions[${j}]`));
    return {
      stage,
      disableKey: r.disableKey,
      descriptor(ctx: DescriptorContext): RateLimitDescriptor | undefined {
        const out: [string, string][] = [];
        for (let j = 0; j < actions.length; j++) if (!actions[j](out, ctx)) return undefined;
        return out.length > 0 ? out : undefined;
      },
    };
  });
}
