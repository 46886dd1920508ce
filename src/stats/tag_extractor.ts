/**
 * Tag extraction (Envoy's `TagProducer`): turns a full stat name such as
 * `cluster.service_a.upstream_rq_2xx` into the tag-extracted name `cluster.upstream_rq_xx` and
 * the tags `envoy.response_code_class=2`, `envoy.cluster_name=service_a`, which sinks that
 * understand tags (Prometheus) report instead of the full name.
 *
 * Every extractor looks at the original name, so extractors do not disturb each other; the
 * parts they cut are removed together at the end. Results are cached per name: stat names are
 * fixed, and extraction runs only when stats are rendered or flushed, never per request.
 */
import type {
  StatsConfig,
  TagSpecifier,
} from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import { compileStdRegex } from "../router/regex.ts";
import {
  DEFAULT_REGEX_DESCRIPTORS,
  DEFAULT_TOKEN_DESCRIPTORS,
  type RegexDescriptor,
  type TokenDescriptor,
} from "./well_known_names.ts";

/** One tag of a stat. */
export interface Tag {
  /** The tag name, e.g. `envoy.cluster_name`. */
  readonly name: string;
  readonly value: string;
}

/** A stat name split into its tag-extracted name and its tags. */
export interface TaggedName {
  /** The name without the tag values, e.g. `cluster.upstream_rq_xx`. */
  readonly tagExtractedName: string;
  /** The tags, in extraction order (the order of Prometheus labels). */
  readonly tags: readonly Tag[];
}

/** The part of `stats_config` that configures tags. */
export type TagConfig = Partial<Pick<StatsConfig, "statsTags" | "useAllDefaultTags">>;

/** What one extractor found: the tag value, and the characters of the name to cut. */
interface Found {
  value: string;
  start: number;
  end: number;
}

interface Extractor {
  readonly name: string;
  /** The first token a name must have for this extractor to apply ("" for any). */
  readonly prefix: string;
  /** Whether another extractor sets the same tag (then only the first match counts). */
  shared: boolean;
  extract(name: string, tokens: readonly string[]): Found | undefined;
}

/** Produces the tag-extracted name and tags of stat names, as configured by `stats_config`. */
export class TagProducer {
  readonly #unprefixed: Extractor[] = [];
  readonly #byPrefix = new Map<string, Extractor[]>();
  readonly #byName = new Map<string, Extractor>();
  readonly #cache = new Map<string, TaggedName>();

  /**
   * Envoy's default extractors unless `use_all_default_tags` is false, then each of
   * `stats_tags`: a regex, a fixed value, or only a name, which selects the default
   * extractors of that name.
   *
   * @param field where `config` sits, for error messages.
   * @throws {Error} for an invalid regex or a bare tag name with no default extractor.
   */
  constructor(config: TagConfig = {}, field = "stats_config") {
    if (config.useAllDefaultTags !== false) {
      for (const d of DEFAULT_REGEX_DESCRIPTORS) this.#add(regexExtractor(d));
      for (const d of DEFAULT_TOKEN_DESCRIPTORS) this.#add(tokenExtractor(d));
    }
    (config.statsTags ?? []).forEach((spec, i) => {
      for (const e of fromSpecifier(spec, `${field}.stats_tags[${i}]`)) this.#add(e);
    });
  }

  /** The tag-extracted name and tags of the full stat name `name`. */
  produceTags(name: string): TaggedName {
    let tagged = this.#cache.get(name);
    if (tagged === undefined) {
      tagged = this.#produce(name);
      this.#cache.set(name, tagged);
    }
    return tagged;
  }

  #add(e: Extractor): void {
    const other = this.#byName.get(e.name);
    if (other === undefined) {
      this.#byName.set(e.name, e);
    } else {
      other.shared = true;
      e.shared = true;
    }
    if (e.prefix === "") {
      this.#unprefixed.push(e);
    } else {
      let list = this.#byPrefix.get(e.prefix);
      if (list === undefined) this.#byPrefix.set(e.prefix, list = []);
      list.push(e);
    }
  }

  #produce(name: string): TaggedName {
    const tokens = name.split(".");
    const dot = name.indexOf(".");
    const prefixed = dot < 0 ? undefined : this.#byPrefix.get(name.slice(0, dot));
    const tags: Tag[] = [];
    const cuts: [number, number][] = [];
    const done = new Set<string>();
    for (const list of [this.#unprefixed, prefixed ?? []]) {
      for (const e of list) {
        if (e.shared && done.has(e.name)) continue;
        const found = e.extract(name, tokens);
        if (found === undefined) continue;
        tags.push({ name: e.name, value: found.value });
        if (found.end > found.start) cuts.push([found.start, found.end]);
        if (e.shared) done.add(e.name);
      }
    }
    return { tagExtractedName: removeRanges(name, cuts), tags };
  }
}

/** `name` without the characters in the (possibly overlapping) ranges. */
function removeRanges(name: string, ranges: [number, number][]): string {
  if (ranges.length === 0) return name;
  ranges.sort((a, b) => a[0] - b[0]);
  let out = "";
  let pos = 0;
  for (const [start, end] of ranges) {
    if (start > pos) out += name.slice(pos, start);
    pos = Math.max(pos, end);
  }
  return out + name.slice(pos);
}

function fromSpecifier(spec: TagSpecifier, at: string): Extractor[] {
  const name = spec.tagName;
  if (name === "") throw new Error(`${at}.tag_name: tag_name cannot be empty`);
  const v = spec.tagValue;
  if (v.case === "fixedValue") return [fixedExtractor(name, v.value)];
  if (v.case === "regex" && v.value !== "") {
    return [regexExtractor({ name, regex: v.value, substr: "", negativeMatch: "" }, `${at}.regex`)];
  }
  // A bare name selects Envoy's default extractors of that name.
  const defaults = [
    ...DEFAULT_REGEX_DESCRIPTORS.filter((d) => d.name === name).map((d) => regexExtractor(d)),
    ...DEFAULT_TOKEN_DESCRIPTORS.filter((d) => d.name === name).map(tokenExtractor),
  ];
  if (defaults.length === 0) {
    throw new Error(
      `${at}: No regex specified for tag specifier and no default regex for name: '${name}'`,
    );
  }
  return defaults;
}

/**
 * The name token a regex requires first (`^cluster\.` gives `cluster`), so it is tried only on
 * such names; "" when it could apply to any name. Envoy's rule: `^`, then word characters,
 * then `\.` or `(?=\.)`, or `$` at the very end.
 */
export function regexPrefix(regex: string): string {
  const m = /^\^(\w+)(\\\.|\(\?=\\\.\)|\$$)/.exec(regex);
  return m === null ? "" : m[1];
}

/** An extractor for a custom regex (at `field` in the config), or a default one without. */
function regexExtractor(d: RegexDescriptor, field?: string): Extractor {
  const compiled = compileStdRegex(d.regex, field ?? d.name, field === undefined);
  const { substr, negativeMatch } = d;
  return {
    name: d.name,
    prefix: regexPrefix(d.regex),
    shared: false,
    extract(name) {
      if (substr !== "" && !name.includes(substr)) return undefined;
      const m = compiled.search(name);
      const cut = m?.group(1);
      if (m === undefined || cut === undefined || cut === "") return undefined;
      const inner = m.group(2);
      const value = inner !== undefined && inner !== "" ? inner : cut;
      if (negativeMatch !== "" && value === negativeMatch) return undefined;
      return { value, start: m.start(1), end: m.end(1) };
    },
  };
}

function tokenExtractor(d: TokenDescriptor): Extractor {
  const pattern = d.pattern.split(".");
  const at = pattern.indexOf("$");
  const first = pattern[0];
  return {
    name: d.name,
    prefix: first === "$" || first === "*" || first === "**" ? "" : first,
    shared: false,
    extract(_name, tokens) {
      const hit = matchTokens(pattern, at, tokens, 0, 0, 0);
      if (hit === undefined) return undefined;
      const value = tokens[hit.index];
      let { start } = hit;
      let end = start + value.length;
      // Cut the dot after the value, or before it when the value is the last token.
      if (hit.index < tokens.length - 1) end++;
      else if (start > 0) start--;
      return { value, start, end };
    },
  };
}

/**
 * Matches `pattern` from `p` against `tokens` from `t` (`offset` is where token `t` starts in
 * the name); returns the `$` token's index and offset.
 */
function matchTokens(
  pattern: readonly string[],
  at: number,
  tokens: readonly string[],
  p: number,
  t: number,
  offset: number,
  hit?: { index: number; start: number },
): { index: number; start: number } | undefined {
  for (; p < pattern.length && t < tokens.length; p++, t++) {
    const want = pattern[p];
    if (p === at) {
      hit = { index: t, start: offset };
    } else if (want === "**") {
      // A trailing ** takes the rest (at least one token); elsewhere it takes any run.
      if (p === pattern.length - 1) return hit;
      for (; t < tokens.length; t++) {
        const found = matchTokens(pattern, at, tokens, p + 1, t, offset, hit);
        if (found !== undefined) return found;
        offset += tokens[t].length + 1;
      }
      return undefined;
    } else if (want !== "*" && want !== tokens[t]) {
      return undefined;
    }
    offset += tokens[t].length + 1;
  }
  return p === pattern.length && t === tokens.length ? hit : undefined;
}

function fixedExtractor(name: string, value: string): Extractor {
  return {
    name,
    prefix: "",
    shared: false,
    extract: () => ({ value, start: 0, end: 0 }),
  };
}
