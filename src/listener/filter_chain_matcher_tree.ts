/**
 * The listener's `filter_chain_matcher`: an xDS matcher tree over Envoy's network inputs
 * (destination IP and port, source IP, port and type, direct source IP, server name, transport
 * and application protocols) whose actions name a filter chain (`google.protobuf.StringValue`).
 * Compiled once per listener into plain nodes; a connection walks them without allocating.
 *
 * What is implemented: `matcher_list` (single predicates with a `value_match`, `and_matcher`,
 * `or_matcher`, `not_matcher`), `matcher_tree` with `exact_match_map`, `prefix_match_map` and an
 * `xds.type.matcher.v3.IPMatcher` as `custom_match`, nested matchers and `on_no_match`.
 * Anything else is refused when the listener is built.
 */
import type {
  Matcher,
  Matcher_MatcherList_Predicate,
  Matcher_OnMatch,
} from "../../proto/gen/xds/type/matcher/v3/matcher_pb.ts";
import type { IPMatcher } from "../../proto/gen/xds/type/matcher/v3/ip_pb.ts";
import type { TypedExtensionConfig } from "../../proto/gen/xds/core/v3/extension_pb.ts";
import type { StringMatcher } from "../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import type { StringValue } from "@bufbuild/protobuf/wkt";
import { unpackAny } from "../config/any.ts";
import { compileStringMatcher, type StringPredicate } from "../router/matchers.ts";
import {
  type Cidr,
  compileCidr,
  type ConnectionFacts,
  isSameIpOrLoopback,
  longestMatch,
  parseIp,
} from "./filter_chain_match.ts";

const NETWORK_INPUTS = "envoy.extensions.matching.common_inputs.network.v3.";
const IP_MATCHER = "xds.type.matcher.v3.IPMatcher";

/** A network input: the value a connection offers for matching, or undefined (no data). */
type Input = (f: ConnectionFacts) => string | undefined;

/** Envoy's network inputs by config type, with the values Envoy gives them. */
export const NETWORK_INPUT_TYPES: Readonly<Record<string, Input>> = {
  [`${NETWORK_INPUTS}DestinationIPInput`]: (f) => f.destinationIp,
  [`${NETWORK_INPUTS}DestinationPortInput`]: (f) => String(f.destinationPort),
  [`${NETWORK_INPUTS}SourceIPInput`]: (f) => f.sourceIp,
  [`${NETWORK_INPUTS}SourcePortInput`]: (f) => String(f.sourcePort),
  [`${NETWORK_INPUTS}DirectSourceIPInput`]: (f) => f.directSourceIp,
  [`${NETWORK_INPUTS}SourceTypeInput`]: (f) =>
    isSameIpOrLoopback(f.sourceIp, f.destinationIp) ? "local" : undefined,
  [`${NETWORK_INPUTS}ServerNameInput`]: (f) => f.serverName || undefined,
  [`${NETWORK_INPUTS}TransportProtocolInput`]: (f) => f.transportProtocol || undefined,
  // Quoted and comma separated: 'h2','http/1.1'.
  [`${NETWORK_INPUTS}ApplicationProtocolInput`]: (f) =>
    f.applicationProtocols.length === 0 ? undefined : `'${f.applicationProtocols.join("','")}'`,
};

/** What a matched OnMatch leads to: a chain name, or a nested matcher. */
type OnMatch = { action: string } | { matcher: Node };

/** A compiled matcher. */
interface Node {
  /** The chain name, or undefined when nothing matched (and no on_no_match did). */
  match(f: ConnectionFacts): string | undefined;
}

type Predicate = (f: ConnectionFacts) => boolean;

function typeOf(c: TypedExtensionConfig | undefined): string {
  const url = c?.typedConfig?.typeUrl ?? "";
  return url.slice(url.lastIndexOf("/") + 1);
}

function compileInput(c: TypedExtensionConfig | undefined, at: string): Input {
  const t = typeOf(c);
  const input = NETWORK_INPUT_TYPES[t];
  if (!input) {
    throw new Error(
      `${at}: input '${c?.name ?? ""}' (${t || "no typed_config"}) is not a network input ` +
        "a filter chain matcher supports",
    );
  }
  return input;
}

function runOnMatch(m: OnMatch | undefined, f: ConnectionFacts): string | undefined {
  if (!m) return undefined;
  return "action" in m ? m.action : m.matcher.match(f);
}

function compileOnMatch(m: Matcher_OnMatch | undefined, at: string): OnMatch | undefined {
  if (!m) return undefined;
  const o = m.onMatch;
  if (o.case === "matcher") return { matcher: compileNode(o.value, `${at}.matcher`) };
  if (o.case === "action") {
    const t = typeOf(o.value);
    if (t !== "google.protobuf.StringValue") {
      throw new Error(
        `${at}.action: the action of a filter chain matcher must be a google.protobuf.StringValue ` +
          `naming a filter chain, not ${t || "an empty config"}`,
      );
    }
    const v = unpackAny<StringValue>(o.value.typedConfig!);
    return { action: v?.value ?? "" };
  }
  throw new Error(`${at}: on_match needs a matcher or an action`);
}

function compilePredicate(p: Matcher_MatcherList_Predicate, at: string): Predicate {
  const m = p.matchType;
  switch (m.case) {
    case "singlePredicate": {
      const input = compileInput(m.value.input, `${at}.single_predicate.input`);
      const spec = m.value.matcher;
      if (spec.case !== "valueMatch") {
        throw new Error(
          `${at}.single_predicate: only value_match is supported in a filter chain matcher ` +
            "predicate (custom_match is not)",
        );
      }
      const test: StringPredicate = compileStringMatcher(
        spec.value as unknown as StringMatcher,
        `${at}.single_predicate.value_match`,
      );
      return (f) => {
        const v = input(f);
        return v !== undefined && test(v);
      };
    }
    case "orMatcher": {
      const ps = m.value.predicate.map((q, i) => compilePredicate(q, `${at}.or_matcher[${i}]`));
      return (f) => ps.some((q) => q(f));
    }
    case "andMatcher": {
      const ps = m.value.predicate.map((q, i) => compilePredicate(q, `${at}.and_matcher[${i}]`));
      return (f) => ps.every((q) => q(f));
    }
    case "notMatcher": {
      const q = compilePredicate(m.value, `${at}.not_matcher`);
      return (f) => !q(f);
    }
    default:
      throw new Error(`${at}: a predicate needs a match type`);
  }
}

/** One range matcher of an IPMatcher. */
interface RangeMatcher {
  ranges: Cidr[];
  exclusive: boolean;
  onMatch: OnMatch | undefined;
  order: number;
}

/**
 * An IPMatcher: the ranges containing the address, most specific first (then in declaration
 * order); an exclusive one is skipped once a more specific one was tried.
 */
function compileIpMatcher(
  input: Input,
  m: IPMatcher,
  onNoMatch: OnMatch | undefined,
  at: string,
): Node {
  const rms: RangeMatcher[] = m.rangeMatchers.map((r, i) => ({
    ranges: r.ranges.map((c, j) => {
      try {
        return compileCidr(c as unknown as Parameters<typeof compileCidr>[0]);
      } catch (e) {
        throw new Error(`${at}.range_matchers[${i}].ranges[${j}]: ${(e as Error).message}`);
      }
    }),
    exclusive: r.exclusive,
    onMatch: compileOnMatch(r.onMatch, `${at}.range_matchers[${i}].on_match`),
    order: i,
  }));
  return {
    match(f) {
      const v = input(f);
      const ip = v === undefined ? undefined : parseIp(v);
      if (ip) {
        const found: { len: number; r: RangeMatcher }[] = [];
        for (const r of rms) {
          const len = longestMatch(r.ranges, ip);
          if (len >= 0) found.push({ len, r });
        }
        found.sort((a, b) => b.len - a.len || a.r.order - b.r.order);
        for (let i = 0; i < found.length; i++) {
          if (i > 0 && found[i].r.exclusive) continue;
          const res = runOnMatch(found[i].r.onMatch, f);
          if (res !== undefined) return res;
        }
      }
      return runOnMatch(onNoMatch, f);
    },
  };
}

function compileNode(m: Matcher, at: string): Node {
  const onNoMatch = compileOnMatch(m.onNoMatch, `${at}.on_no_match`);
  const t = m.matcherType;
  if (t.case === "matcherList") {
    const fms = t.value.matchers.map((fm, i) => {
      if (!fm.predicate) {
        throw new Error(`${at}.matcher_list.matchers[${i}]: predicate is required`);
      }
      return {
        predicate: compilePredicate(fm.predicate, `${at}.matcher_list.matchers[${i}].predicate`),
        onMatch: compileOnMatch(fm.onMatch, `${at}.matcher_list.matchers[${i}].on_match`),
      };
    });
    return {
      match(f) {
        for (const fm of fms) if (fm.predicate(f)) return runOnMatch(fm.onMatch, f);
        return runOnMatch(onNoMatch, f);
      },
    };
  }
  if (t.case === "matcherTree") {
    const tree = t.value;
    const input = compileInput(tree.input, `${at}.matcher_tree.input`);
    const tt = tree.treeType;
    if (tt.case === "exactMatchMap" || tt.case === "prefixMatchMap") {
      const map = new Map<string, OnMatch | undefined>();
      for (const [k, v] of Object.entries(tt.value.map)) {
        map.set(k, compileOnMatch(v, `${at}.matcher_tree.${tt.case}.map[${JSON.stringify(k)}]`));
      }
      if (tt.case === "exactMatchMap") {
        return {
          match(f) {
            const v = input(f);
            const hit = v === undefined ? undefined : map.get(v);
            return hit ? runOnMatch(hit, f) : runOnMatch(onNoMatch, f);
          },
        };
      }
      // Longest prefix first: a failed nested match does not fall back to shorter ones.
      const keys = [...map.keys()].sort((a, b) => b.length - a.length);
      return {
        match(f) {
          const v = input(f);
          if (v !== undefined) {
            for (const k of keys) if (v.startsWith(k)) return runOnMatch(map.get(k), f);
          }
          return runOnMatch(onNoMatch, f);
        },
      };
    }
    if (tt.case === "customMatch") {
      const ct = typeOf(tt.value);
      if (ct !== IP_MATCHER) {
        throw new Error(
          `${at}.matcher_tree.custom_match: custom matcher ${ct || "(none)"} is not supported ` +
            `(only ${IP_MATCHER})`,
        );
      }
      const ipm = unpackAny<IPMatcher>(tt.value.typedConfig!)!;
      return compileIpMatcher(input, ipm, onNoMatch, `${at}.matcher_tree.custom_match`);
    }
    throw new Error(
      `${at}.matcher_tree: a tree needs exact_match_map, prefix_match_map or custom_match`,
    );
  }
  return { match: (f) => runOnMatch(onNoMatch, f) };
}

/** A compiled `filter_chain_matcher`: the name of the chain a connection gets. */
export type FilterChainNameMatcher = (f: ConnectionFacts) => string | undefined;

/**
 * Compiles a listener's `filter_chain_matcher`.
 *
 * @throws {Error} with the field path (relative to the matcher) for what is not supported.
 */
export function compileFilterChainMatcher(m: Matcher): FilterChainNameMatcher {
  const root = compileNode(m, "filter_chain_matcher");
  return (f) => root.match(f);
}

/**
 * Chain selection by `filter_chain_matcher`: chains are found by name (every chain must have a
 * unique one; their `filter_chain_match` is ignored, as in Envoy); an action naming no chain, or
 * no match, gives the default chain.
 */
export class FilterChainMatcherTree<T> {
  readonly #byName = new Map<string, T>();
  readonly #match: FilterChainNameMatcher;

  /** @throws {Error} for unnamed or duplicate chain names and unsupported matchers. */
  constructor(
    m: Matcher,
    chains: { config: { name: string }; value: T }[],
    readonly defaultChain?: T,
  ) {
    for (const { config, value } of chains) {
      if (!config.name) {
        throw new Error(`"name" field is required when using a listener matcher`);
      }
      if (this.#byName.has(config.name)) {
        throw new Error(`"name" field is duplicated with value '${config.name}'`);
      }
      this.#byName.set(config.name, value);
    }
    this.#match = compileFilterChainMatcher(m);
  }

  /** The chain for a connection, or undefined (Envoy closes such connections). */
  select(f: ConnectionFacts): T | undefined {
    const name = this.#match(f);
    return (name === undefined ? undefined : this.#byName.get(name)) ?? this.defaultChain;
  }
}
