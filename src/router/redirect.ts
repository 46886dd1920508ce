/**
 * Redirects: the compiled `RedirectAction` and the `Location` Envoy builds from it and the
 * request. The scheme defaults to the request's; the request's port is dropped when a new port
 * is set, or when the scheme changes and the port was the old scheme's default; `path_redirect`
 * keeps the request's query unless it has its own; `strip_query` drops the query.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { RedirectAction } from "../../proto/gen/envoy/config/route/v3/route_components_pb.ts";
import { compileRegexRewrite, maxProgramSize, type RegexRewrite } from "./regex.ts";
import { rewritePath } from "./path_rewrite.ts";
import type { CompiledRoute } from "./route_entry.ts";

/** RedirectAction.RedirectResponseCode values, in enum order. */
const RESPONSE_CODES = [301, 302, 303, 307, 308];

/** A compiled redirect. */
export interface CompiledRedirect {
  /** Status of the redirect response (301 by default). */
  readonly responseCode: number;
  /** `scheme_redirect`, or "https" for `https_redirect`; undefined keeps the request's. */
  readonly scheme?: string;
  /** `host_redirect`; empty keeps the request's. */
  readonly host: string;
  /** `port_redirect` as `:port`; empty keeps the request's. */
  readonly port: string;
  /** `path_redirect`; empty keeps the (possibly rewritten) request path. */
  readonly pathRedirect: string;
  readonly stripQuery: boolean;
  /** `prefix_rewrite` of the redirect. */
  readonly prefixRewrite?: string;
  /** `regex_rewrite` of the redirect. */
  readonly regexRewrite?: RegexRewrite;
  /**
   * The virtual host's `require_tls` redirect: `https://` with the request's authority and path
   * unchanged, whatever the port.
   */
  readonly requireTls?: boolean;
}

/** The redirect a virtual host's `require_tls` answers plain-text requests with. */
export const REQUIRE_TLS_REDIRECT: CompiledRedirect = {
  responseCode: 301,
  scheme: "https",
  host: "",
  port: "",
  pathRedirect: "",
  stripQuery: false,
  requireTls: true,
};

/**
 * Compiles a `RedirectAction`.
 *
 * @throws {Error} for a bad `regex_rewrite`.
 */
export function compileRedirect(r: RedirectAction, field: string): CompiledRedirect {
  const s = r.schemeRewriteSpecifier;
  const p = r.pathRewriteSpecifier;
  return {
    responseCode: RESPONSE_CODES[r.responseCode] ?? 301,
    scheme: s.case === "schemeRedirect"
      ? s.value
      : s.case === "httpsRedirect" && s.value
      ? "https"
      : undefined,
    host: r.hostRedirect,
    port: r.portRedirect ? `:${r.portRedirect}` : "",
    pathRedirect: p.case === "pathRedirect" ? p.value : "",
    stripQuery: r.stripQuery,
    prefixRewrite: p.case === "prefixRewrite" && p.value !== "" ? p.value : undefined,
    regexRewrite: p.case === "regexRewrite"
      ? compileRegexRewrite(
        p.value.pattern?.regex ?? "",
        p.value.substitution,
        `${field}.regex_rewrite`,
        maxProgramSize(p.value.pattern),
      )
      : undefined,
  };
}

function isScheme(s: string, want: string): boolean {
  return s.length === want.length && s.toLowerCase() === want;
}

/** The request's authority, without a port the new URL must not carry. */
function redirectHost(headers: HeaderMap, scheme: string, newPort: string): string {
  const host = headers.get(":authority") ?? "";
  if (host === "") return host;
  let end: number;
  if (host.startsWith("[")) {
    end = host.lastIndexOf("]:");
    if (end >= 0) end++;
  } else {
    end = host.lastIndexOf(":");
  }
  if (end < 0) return host;
  const port = host.slice(end);
  // x-forwarded-proto, not :scheme, says which port is the default one: http://foo:80 served
  // over TLS keeps its port.
  const proto = headers.get("x-forwarded-proto") ?? "";
  let remove = newPort !== "";
  if (scheme !== proto) {
    remove ||= isScheme(proto, "https") && port === ":443";
    remove ||= isScheme(proto, "http") && port === ":80";
  }
  return remove ? host.slice(0, end) : host;
}

/**
 * The `Location` for a redirect route, from the request headers as received (before
 * `rewritePath`). For a direct response (201 or 3xx) it is the request's own URL, as Envoy
 * sends it.
 */
export function redirectLocation(route: CompiledRoute, headers: HeaderMap): string {
  const r = route.redirect;
  const requestPath = headers.get(":path") ?? "";
  if (r?.requireTls) return `https://${headers.get(":authority") ?? ""}${requestPath}`;
  const scheme = r?.scheme ?? headers.get(":scheme") ?? headers.get("x-forwarded-proto") ??
    "http";
  const port = r?.port ?? "";
  const host = r?.host || redirectHost(headers, scheme, port);
  let path: string;
  const pathRedirectHasQuery = r !== undefined && r.pathRedirect.includes("?");
  if (r?.pathRedirect) {
    const q = requestPath.indexOf("?");
    path = pathRedirectHasQuery || q < 0 ? r.pathRedirect : r.pathRedirect + requestPath.slice(q);
  } else {
    path = rewritePath(route, headers) ?? requestPath;
  }
  if (!path.startsWith("/")) path = `/${path}`;
  if (r?.stripQuery && !pathRedirectHasQuery) {
    const q = path.indexOf("?");
    if (q >= 0) path = path.slice(0, q);
  }
  return `${scheme}://${host}${port}${path}`;
}
