/**
 * `stats_config.stats_matcher`: which stats exist at all. A rejected stat is never created;
 * the store hands out a null object in its place (see `Store`), so the code that declares it
 * needs no checks. Matching runs when a stat is declared, never per request.
 */
import type { StatsMatcher } from "../../proto/gen/envoy/config/metrics/v3/stats_pb.ts";
import type { ListStringMatcher } from "../../proto/gen/envoy/type/matcher/v3/string_pb.ts";
import { compileStringMatcher, type StringPredicate } from "../router/matchers.ts";

/**
 * Compiles a `StatsMatcher` into the store's `accepts` option: whether a stat with this full
 * name is created. `reject_all` rejects every name (`false` accepts every one),
 * `exclusion_list` rejects names any of its matchers match, `inclusion_list` accepts only
 * those; no matcher accepts everything.
 *
 * @param field where the matcher sits in the config, for error messages.
 * @throws {Error} for a bad string matcher in a list.
 */
export function compileStatsMatcher(
  matcher: StatsMatcher | undefined,
  field: string,
): (name: string) => boolean {
  const m = matcher?.statsMatcher;
  switch (m?.case) {
    case "rejectAll": {
      const accept = !m.value;
      return () => accept;
    }
    case "exclusionList": {
      const any = anyOf(m.value, `${field}.exclusion_list`);
      return (name) => !any(name);
    }
    case "inclusionList":
      return anyOf(m.value, `${field}.inclusion_list`);
    default:
      return () => true;
  }
}

function anyOf(list: ListStringMatcher, field: string): StringPredicate {
  const preds = list.patterns.map((p, i) => compileStringMatcher(p, `${field}.patterns[${i}]`));
  return (name) => preds.some((p) => p(name));
}
