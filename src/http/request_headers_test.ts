import { assertEquals } from "../testing/assert.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import { HttpConnManagerStats } from "../stats/data_path_stats.ts";
import { Store } from "../stats/store.ts";
import type { ConnectionManagerConfig } from "./conn_manager_config.ts";
import { HeaderMap } from "./header_map.ts";
import type { MessageHead } from "./http1/parser.ts";
import {
  isInternalAddress,
  isIpAddress,
  normalizeRequestHeaders,
  removeDotSegments,
  stripTrailingHostDot,
} from "./request_headers.ts";

const head = (version: "HTTP/1.0" | "HTTP/1.1" = "HTTP/1.1"): MessageHead => ({
  version,
  keepAlive: true,
  chunked: false,
  contentLength: -1,
  upgrade: false,
  expectContinue: false,
  headersBytes: 0,
  status: 0,
  endStream: true,
});

const base = {
  useRemoteAddress: false,
  xfcc: { mode: "sanitize", subject: false, cert: false, chain: false, dns: false, uri: false },
  xffNumTrustedHops: 0,
  skipXffAppend: false,
  generateRequestId: true,
  preserveExternalRequestId: false,
  normalizePath: false,
  mergeSlashes: false,
  escapedSlashes: "keep",
  stripAnyHostPort: false,
  stripMatchingHostPort: false,
  stripTrailingHostDot: false,
  via: "",
  acceptHttp10: false,
  proxy100Continue: false,
  defaultHostForHttp10: "",
  routeTable: { internalOnlyHeaders: ["x-secret"] },
  stats: new HttpConnManagerStats(new Store(), "test"),
} as unknown as ConnectionManagerConfig;

function run(
  kv: string[],
  cfg: Partial<ConnectionManagerConfig> = {},
  remote = "127.0.0.1:5000",
  authority = "a",
) {
  const h = new HeaderMap([":method", "GET", ":path", "/", ":authority", authority, ...kv]);
  const si = new StreamInfo();
  const verdict = normalizeRequestHeaders(h, head(), { ...base, ...cfg }, {
    streamInfo: si,
    connection: { remoteAddress: remote, localAddress: "127.0.0.1:80" },
  } as never);
  return { h, si, verdict };
}

Deno.test("internal addresses are loopback, RFC 1918, link-local and ULA", () => {
  for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "::1", "fd00::1"]) {
    assertEquals(isInternalAddress(ip), true, ip);
  }
  for (const ip of ["8.8.8.8", "172.32.0.1", "2001:db8::1"]) {
    assertEquals(isInternalAddress(ip), false, ip);
  }
});

Deno.test("RFC 3986 dot-segment removal", () => {
  assertEquals(removeDotSegments("/a/b/../c/./d"), "/a/c/d");
  assertEquals(removeDotSegments("/a/.."), "/");
  assertEquals(removeDotSegments("/../a"), "/a");
});

Deno.test("use_remote_address: appends the peer to XFF; internal peers are trusted", () => {
  const internal = run([], { useRemoteAddress: true });
  assertEquals(internal.h.get("x-forwarded-for"), "127.0.0.1");
  assertEquals(internal.h.get("x-envoy-internal"), "true");
  const edge = run(["x-forwarded-for", "203.0.113.7", "x-envoy-retry-on", "5xx"], {
    useRemoteAddress: true,
  });
  assertEquals(edge.h.get("x-forwarded-for"), "203.0.113.7,127.0.0.1");
  assertEquals(edge.h.get("x-envoy-retry-on"), undefined);
  assertEquals(edge.h.get("x-envoy-external-address"), "127.0.0.1");
});

Deno.test("without use_remote_address only a single internal XFF address is internal", () => {
  const one = run(["x-forwarded-for", "10.0.0.1", "x-secret", "s", "x-envoy-retry-on", "5xx"]);
  assertEquals(one.h.get("x-envoy-internal"), "true");
  assertEquals(one.h.get("x-secret"), "s");
  assertEquals(one.h.get("x-envoy-retry-on"), "5xx");
  for (const xff of ["10.0.0.1, 10.0.0.2", "bogus", ""]) {
    const ext = run([
      "x-forwarded-for",
      xff,
      "x-secret",
      "s",
      "x-envoy-original-url",
      "http://a/",
      "x-envoy-decorator-operation",
      "op",
    ]);
    assertEquals(ext.h.get("x-envoy-internal"), undefined, xff);
    assertEquals(ext.h.get("x-secret"), undefined, xff);
    assertEquals(ext.h.get("x-envoy-original-url"), undefined, xff);
    // Only the edge (use_remote_address) drops the decorator operation.
    assertEquals(ext.h.get("x-envoy-decorator-operation"), "op", xff);
  }
  const trusted = run(["x-forwarded-for", "10.0.0.1, 10.0.0.2"], { xffNumTrustedHops: 1 });
  assertEquals(trusted.h.get("x-envoy-internal"), undefined);
  assertEquals(trusted.si.downstreamRemoteAddress, "10.0.0.1:0");
});

Deno.test("isIpAddress: IPv4 and IPv6 literals only", () => {
  for (const ip of ["10.0.0.1", "255.255.255.255", "::1", "2001:db8::1", "::ffff:10.0.0.1"]) {
    assertEquals(isIpAddress(ip), true, ip);
  }
  for (const ip of ["", "256.0.0.1", "1.2.3", "a.b.c.d", "example.com", "[::1]", "1:2:3"]) {
    assertEquals(isIpAddress(ip), false, ip);
  }
});

Deno.test("xff_num_trusted_hops picks the client address from the right of XFF", () => {
  const r = run(["x-forwarded-for", "198.51.100.1, 203.0.113.7"], {
    useRemoteAddress: true,
    xffNumTrustedHops: 1,
  });
  assertEquals(r.si.downstreamRemoteAddress, "203.0.113.7:0");
});

Deno.test("x-request-id: generated when absent, regenerated at the edge unless preserved", () => {
  const gen = run([]);
  assertEquals(/^[0-9a-f-]{36}$/.test(gen.h.get("x-request-id") ?? ""), true);
  const kept = run(["x-request-id", "abc"]);
  assertEquals(kept.h.get("x-request-id"), "abc");
  const edge = run(["x-request-id", "abc", "x-forwarded-for", "8.8.8.8"], {
    useRemoteAddress: true,
  });
  assertEquals(edge.h.get("x-request-id") === "abc", false);
  const preserved = run(["x-request-id", "abc", "x-forwarded-for", "8.8.8.8"], {
    useRemoteAddress: true,
    preserveExternalRequestId: true,
  });
  assertEquals(preserved.h.get("x-request-id"), "abc");
});

Deno.test("hop-by-hop headers go; te keeps only trailers", () => {
  const r = run(["connection", "keep-alive", "keep-alive", "5", "te", "trailers, deflate"]);
  assertEquals(r.h.get("connection"), undefined);
  assertEquals(r.h.get("keep-alive"), undefined);
  assertEquals(r.h.get("te"), "trailers");
});

Deno.test("path rules: escaped slashes rejected or unescaped; normalization and merging", () => {
  const rejected = run([], { escapedSlashes: "reject" } as never);
  assertEquals(rejected.verdict, {});
  const h = new HeaderMap([":method", "GET", ":path", "/a%2Fb", ":authority", "a"]);
  const v = normalizeRequestHeaders(h, head(), { ...base, escapedSlashes: "reject" } as never, {
    streamInfo: new StreamInfo(),
    connection: { remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:80" },
  } as never);
  assertEquals(v.reject?.status, 400);
  assertEquals(base.stats.rqFailedPathNormalization.value, 1);
  const n = new HeaderMap([":method", "GET", ":path", "/a//b/../c?q=1", ":authority", "a"]);
  normalizeRequestHeaders(n, head(), { ...base, normalizePath: true, mergeSlashes: true }, {
    streamInfo: new StreamInfo(),
    connection: { remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:80" },
  } as never);
  assertEquals(n.get(":path"), "/a/c?q=1");
});

Deno.test("HTTP/1.0 is refused (426) unless accept_http_10; HTTP/1.1 needs a host", () => {
  const h10 = new HeaderMap([":method", "GET", ":path", "/"]);
  const ctx = {
    streamInfo: new StreamInfo(),
    connection: { remoteAddress: "127.0.0.1:1", localAddress: "127.0.0.1:80" },
  } as never;
  assertEquals(normalizeRequestHeaders(h10, head("HTTP/1.0"), base, ctx).reject?.status, 426);
  const noHost = new HeaderMap([":method", "GET", ":path", "/"]);
  assertEquals(normalizeRequestHeaders(noHost, head(), base, ctx).reject?.status, 400);
});

Deno.test("strip_trailing_host_dot: the dot before the end or the port goes, as in Envoy", () => {
  const cases: [string, string][] = [
    ["example.com.", "example.com"],
    ["example.com.:8080", "example.com:8080"],
    ["example.com", "example.com"],
    ["example.com:8080", "example.com:8080"],
    ["a.b.c", "a.b.c"],
    ["[::1]:80", "[::1]:80"],
    ["[::ffff:1.2.3.4]", "[::ffff:1.2.3.4]"],
    ["nodot", "nodot"],
    [".", ""],
  ];
  for (const [host, want] of cases) assertEquals(stripTrailingHostDot(host), want, host);
});

Deno.test("strip_trailing_host_dot: before port stripping, only when configured", () => {
  const authority = (cfg: Partial<ConnectionManagerConfig>, host: string) =>
    run([], cfg, "127.0.0.1:5000", host).h.get(":authority");
  assertEquals(authority({}, "example.com.:80"), "example.com.:80");
  assertEquals(authority({ stripTrailingHostDot: true }, "example.com.:80"), "example.com:80");
  assertEquals(
    authority({ stripTrailingHostDot: true, stripMatchingHostPort: true }, "example.com.:80"),
    "example.com",
  );
  assertEquals(
    authority({ stripTrailingHostDot: true, stripAnyHostPort: true }, "example.com.:9"),
    "example.com",
  );
});

Deno.test("via: appended to the request's via with a comma and space, or added", () => {
  assertEquals(run([]).h.get("via"), undefined);
  assertEquals(run([], { via: "1.1 denvoy" }).h.get("via"), "1.1 denvoy");
  assertEquals(
    run(["via", "1.0 fred"], { via: "1.1 denvoy" }).h.getAll("via"),
    ["1.0 fred, 1.1 denvoy"],
  );
  // Repeated via fields are joined first, as Envoy's codec joins them when it reads them.
  assertEquals(
    run(["via", "1.0 a", "x", "y", "via", "1.0 b"], { via: "1.1 denvoy" }).h.getAll("via"),
    ["1.0 a,1.0 b, 1.1 denvoy"],
  );
});
