/**
 * `prefix_rewrite` and `regex_rewrite`, with Envoy's semantics: a prefix rewrite replaces the
 * part of the path the route matched (its `prefix`, `path` or `path_separated_prefix`, or the
 * whole path for regex routes); a regex rewrite replaces every match in the path. Both leave
 * the query string as it is.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { CompiledRoute } from "./route_entry.ts";
import type { MatchedRoute } from "./route_table.ts";

/** The end of the path proper: the index of its first `?` or `#`, or its length. */
export function pathEnd(path: string): number {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 || c === 35) return i;
  }
  return path.length;
}

/**
 * The `:path` after the route's rewrite, or undefined when the route rewrites nothing. For a
 * redirect this is the redirect's own prefix or regex rewrite (Envoy rewrites `:path` for those
 * too). The caller sets `x-envoy-original-path` and `:path`; compute a redirect's Location from
 * the headers as received, before applying this.
 */
export function rewritePath(
  target: MatchedRoute | CompiledRoute,
  headers: HeaderMap,
): string | undefined {
  const route = "route" in target ? target.route : target;
  const path = headers.get(":path");
  if (path === undefined) return undefined;
  if (route.prefixRewrite !== undefined) {
    const n = route.matchedLength >= 0 ? route.matchedLength : pathEnd(path);
    return route.prefixRewrite + path.slice(n);
  }
  if (route.regexRewrite !== undefined) {
    const end = pathEnd(path);
    return route.regexRewrite.replaceAll(path.slice(0, end)) + path.slice(end);
  }
  return undefined;
}
