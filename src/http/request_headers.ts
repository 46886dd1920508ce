/**
 * What the connection manager does to request headers before any filter sees them, following
 * Envoy's ConnectionManagerUtility: hop-by-hop header removal, the trusted client address from
 * the connection or x-forwarded-for, x-forwarded-for / x-forwarded-proto / x-envoy-internal,
 * x-request-id, x-envoy-* headers from untrusted clients, via, path normalization and host
 * normalization (trailing dot, port).
 */
import type { ConnectionManagerConfig } from "./conn_manager_config.ts";
import type { HeaderMap } from "./header_map.ts";
import type { RequestHead } from "./codec.ts";
import type { StreamInfo } from "../stream_info/stream_info.ts";
import type { SslConnectionInfo } from "../network/transport_socket.ts";
import { mutateXfcc } from "./xfcc.ts";

/** Reject the request, or redirect it (unescaped slashes), or go on. */
export interface RequestHeadersVerdict {
  reject?: { status: number; body: string; details: string };
  redirect?: string;
}

const OK: RequestHeadersVerdict = {};

/**
 * x-envoy-* request headers Envoy removes from external requests (ConnectionManagerUtility::
 * cleanInternalHeaders), whether this proxy is the edge or an intermediate hop.
 */
const ENVOY_EXTERNAL_STRIP = new Set([
  "x-envoy-internal",
  "x-envoy-retriable-status-codes",
  "x-envoy-retriable-header-names",
  "x-envoy-retry-on",
  "x-envoy-retry-grpc-on",
  "x-envoy-max-retries",
  "x-envoy-upstream-alt-stat-name",
  "x-envoy-upstream-rq-timeout-ms",
  "x-envoy-upstream-rq-per-try-timeout-ms",
  "x-envoy-upstream-rq-timeout-alt-response",
  "x-envoy-expected-rq-timeout-ms",
  "x-envoy-force-trace",
  "x-envoy-ip-tags",
  "x-envoy-original-url",
  "x-envoy-hedge-on-per-try-timeout",
]);
const isExternalStripped = (name: string) => ENVOY_EXTERNAL_STRIP.has(name);

/** The same plus what only the edge (use_remote_address) removes. */
const ENVOY_EDGE_STRIP = new Set([
  ...ENVOY_EXTERNAL_STRIP,
  "x-envoy-decorator-operation",
  "x-envoy-downstream-service-cluster",
  "x-envoy-downstream-service-node",
]);
const isEdgeStripped = (name: string) => ENVOY_EDGE_STRIP.has(name);

/**
 * Whether `s` is a literal IPv4 or IPv6 address: Envoy uses an x-forwarded-for entry only if it
 * parses as one (Utility::getLastAddressFromXFF).
 */
export function isIpAddress(s: string): boolean {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split(".").every((o) => Number(o) <= 255);
  if (!s.includes(":") || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  try {
    new URL(`http://[${s}]/`);
    return true;
  } catch {
    return false;
  }
}

/** Loopback, RFC 1918, link-local and unique-local addresses count as internal, as in Envoy. */
export function isInternalAddress(ip: string): boolean {
  // Asked for the same client address on every request of a connection: answer it once.
  if (ip === lastInternalIp) return lastInternal;
  lastInternalIp = ip;
  return lastInternal = classifyInternal(ip);
}
let lastInternalIp = "";
let lastInternal = false;

function classifyInternal(ip: string): boolean {
  if (ip.startsWith("::ffff:")) ip = ip.slice(7);
  if (/^(10\.|127\.|192\.168\.|169\.254\.)/.test(ip)) return true;
  const m = /^172\.(\d+)\./.exec(ip);
  if (m && Number(m[1]) >= 16 && Number(m[1]) <= 31) return true;
  return ip === "::1" || /^f[cd][0-9a-f]{2}:/i.test(ip);
}

/** RFC 3986 section 5.2.4: removes `.` and `..` segments. */
export function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split("/");
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i];
    if (s === ".") {
      if (i === segs.length - 1) out.push("");
    } else if (s === "..") {
      out.pop();
      if (i === segs.length - 1) out.push("");
    } else out.push(s);
  }
  return "/" + out.join("/");
}

function splitQuery(path: string): [string, string] {
  const q = path.indexOf("?");
  return q < 0 ? [path, ""] : [path.slice(0, q), path.slice(q)];
}

/** Applies the HCM's request header rules; may ask for a rejection or a redirect. */
export function normalizeRequestHeaders(
  h: HeaderMap,
  head: RequestHead,
  cfg: ConnectionManagerConfig,
  stream: {
    streamInfo: StreamInfo;
    connection: { remoteAddress: string; localAddress: string; ssl?: SslConnectionInfo };
  },
): RequestHeadersVerdict {
  const si = stream.streamInfo;
  const method = h.get(":method") ?? "";
  let authority = h.get(":authority") ?? "";
  if (head.version === "HTTP/1.0") {
    // Envoy refuses HTTP/1.0 unless http_protocol_options.accept_http_10 is set.
    if (!cfg.acceptHttp10) return { reject: { status: 426, body: "", details: "low_version" } };
    if (!authority && cfg.defaultHostForHttp10) {
      authority = cfg.defaultHostForHttp10;
      h.set(":authority", authority);
    }
  } else if (!authority && method !== "CONNECT") {
    return { reject: { status: 400, body: "", details: "missing_host_header" } };
  }

  // Hop-by-hop headers never travel further (upgrades keep theirs for the upstream).
  const upgrade = head.upgrade;
  const te = h.get("te");
  h.remove("keep-alive");
  h.remove("proxy-connection");
  h.remove("transfer-encoding");
  if (!upgrade) {
    h.remove("connection");
    h.remove("upgrade");
  }
  if (te !== undefined) {
    h.remove("te");
    if (/(^|,)\s*trailers\s*(,|$)/i.test(te)) h.set("te", "trailers");
  }

  // Path checks and normalization.
  let path = h.get(":path");
  if (path !== undefined && method !== "CONNECT" && !(method === "OPTIONS" && path === "*")) {
    if (!path.startsWith("/")) {
      cfg.stats.rqNonRelativePath.inc();
      return { reject: { status: 404, body: "", details: "absolute_path_rejected" } };
    }
    let [p, q] = splitQuery(path);
    const original = p;
    if (/%2f|%5c/i.test(p)) {
      if (cfg.escapedSlashes === "reject") {
        cfg.stats.rqFailedPathNormalization.inc();
        return { reject: { status: 400, body: "", details: "path_normalization_failed" } };
      }
      if (cfg.escapedSlashes !== "keep") p = p.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
    }
    if (cfg.normalizePath) p = removeDotSegments(p.replace(/\\/g, "/"));
    if (cfg.mergeSlashes) p = p.replace(/\/{2,}/g, "/");
    if (p !== original) {
      path = p + q;
      if (cfg.escapedSlashes === "unescape_and_redirect" && /%2f|%5c/i.test(original)) {
        cfg.stats.rqRedirectedWithNormalizedPath.inc();
        return { redirect: path };
      }
      h.set(":path", path);
    }
  }

  // Host normalization (before routing, as Envoy does): the trailing dot, then the port.
  if (authority && cfg.stripTrailingHostDot) {
    const stripped = stripTrailingHostDot(authority);
    if (stripped !== authority) {
      authority = stripped;
      h.set(":authority", authority);
    }
  }
  if (authority && (cfg.stripAnyHostPort || cfg.stripMatchingHostPort)) {
    const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(authority);
    if (m && (cfg.stripAnyHostPort || Number(m[2]) === portOf(stream.connection.localAddress))) {
      authority = m[1];
      h.set(":authority", authority);
    }
  }

  // Trusted client address and x-forwarded-for, as Envoy's ConnectionManagerUtility works
  // them out; the request is internal when that address is.
  const remoteIp = ipOf(stream.connection.remoteAddress);
  const xff = h.get("x-forwarded-for");
  const hops = xff ? xff.split(",").map((x) => x.trim()) : [];
  let clientIp: string | undefined = remoteIp;
  let internal: boolean;
  if (cfg.useRemoteAddress) {
    if (cfg.xffNumTrustedHops > 0 && hops.length >= cfg.xffNumTrustedHops) {
      clientIp = hops[hops.length - cfg.xffNumTrustedHops];
    }
    internal = hops.length === 0 && isInternalAddress(remoteIp);
    if (!cfg.skipXffAppend) h.append("x-forwarded-for", remoteIp, ",");
  } else {
    // Envoy's getLastAddressFromXFF: the entry xff_num_trusted_hops from the end, if it is an
    // IP address; the request is internal only when that address is the header's only one.
    const i = hops.length - 1 - cfg.xffNumTrustedHops;
    clientIp = i >= 0 && isIpAddress(hops[i]) ? hops[i] : undefined;
    internal = clientIp !== undefined && hops.length === 1 && isInternalAddress(clientIp);
  }
  if (clientIp !== remoteIp && clientIp) {
    si.downstreamRemoteAddress = clientIp.includes(":") ? `[${clientIp}]:0` : `${clientIp}:0`;
  }
  if (internal) h.set("x-envoy-internal", "true");
  else {
    // Control headers from untrusted clients are dropped.
    h.removeIf(cfg.useRemoteAddress ? isEdgeStripped : isExternalStripped);
    // Scoped routes: the request's scope's route configuration says which (none: no scope).
    const table = cfg.scopes === undefined ? cfg.routeTable : cfg.scopes.table(h);
    const internalOnly = table?.internalOnlyHeaders;
    if (internalOnly) { for (let i = 0; i < internalOnly.length; i++) h.remove(internalOnly[i]); }
  }
  // Envoy appends its via before it adds x-envoy-external-address.
  if (cfg.via) appendVia(h, cfg.via);
  if (!internal && cfg.useRemoteAddress && clientIp) {
    h.set("x-envoy-external-address", clientIp);
  }
  // add_user_agent: this Envoy's service cluster names the downstream to the upstream.
  if (cfg.userAgent !== undefined) {
    h.set("x-envoy-downstream-service-cluster", cfg.userAgent);
    if (!h.get("user-agent")) h.set("user-agent", cfg.userAgent);
    if (cfg.serviceNode) h.set("x-envoy-downstream-service-node", cfg.serviceNode);
  }
  // The connection's own scheme: https over a TLS transport socket.
  const scheme = stream.connection.ssl ? "https" : "http";
  if (cfg.useRemoteAddress) h.set("x-forwarded-proto", scheme);
  else if (!h.has("x-forwarded-proto")) h.set("x-forwarded-proto", scheme);
  if (cfg.schemeToOverwrite) h.set(":scheme", cfg.schemeToOverwrite);
  else if (!h.has(":scheme")) h.set(":scheme", h.get("x-forwarded-proto") ?? scheme);
  mutateXfcc(h, stream.connection.ssl, cfg.xfcc);

  // x-request-id: generated unless a trusted one is present.
  if (cfg.generateRequestId) {
    const id = h.get("x-request-id");
    const edge = cfg.useRemoteAddress && !internal;
    const keep = id && (!edge || cfg.preserveExternalRequestId);
    if (!keep) h.set("x-request-id", crypto.randomUUID());
  }
  si.streamId = h.get("x-request-id");
  return OK;
}

/**
 * Envoy's `via` append: Envoy's codec joins repeated via fields with "," when it reads them,
 * then the HCM adds its own value after ", ".
 */
export function appendVia(h: HeaderMap, via: string): void {
  const all = h.getAll("via");
  if (all.length <= 1) h.append("via", via, ", ");
  else h.set("via", `${all.join(",")}, ${via}`);
}

/**
 * Envoy's `strip_trailing_host_dot`: `example.com.` -> `example.com`, `example.com.:8080` ->
 * `example.com:8080`; anything else is returned as is.
 */
export function stripTrailingHostDot(host: string): string {
  const dot = host.lastIndexOf(".");
  if (dot < 0) return host;
  if (dot === host.length - 1) return host.slice(0, dot);
  // A dot right before a colon ends the name before its port (no IPv6 address has ".:").
  return host.charCodeAt(dot + 1) === 0x3a ? host.slice(0, dot) + host.slice(dot + 1) : host;
}

function ipOf(address: string): string {
  if (address === lastAddress) return lastIp;
  lastAddress = address;
  if (address.startsWith("[")) return lastIp = address.slice(1, address.indexOf("]"));
  const i = address.lastIndexOf(":");
  return lastIp = i < 0 ? address : address.slice(0, i);
}
let lastAddress = "";
let lastIp = "";

function portOf(address: string): number {
  return Number(address.slice(address.lastIndexOf(":") + 1));
}
