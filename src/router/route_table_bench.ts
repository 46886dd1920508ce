/**
 * Routing cost on a 1,000-route virtual host (plus nine small ones): literal prefixes and
 * regexes with a literal start (both indexed), regexes that start with a group (the linear
 * worst case: every regex runs), a miss, and header mutations.
 * Run: `deno bench -A src/router/route_table_bench.ts`.
 */
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { apiRegistry, messageSchema } from "../config/api.ts";
import { HeaderMap } from "../http/header_map.ts";
import { StreamInfo } from "../stream_info/stream_info.ts";
import type { RouteConfiguration } from "../../proto/gen/envoy/config/route/v3/route_pb.ts";
import { applyRequestHeaderMutations } from "./header_mutation.ts";
import { RouteTable } from "./route_table.ts";

const N = 1000;

type Kind = "prefix" | "regex" | "unindexable regex";

function match(kind: Kind, i: number): JsonValue {
  switch (kind) {
    case "prefix":
      return { prefix: `/svc${i}/` };
    case "regex":
      return { safeRegex: { regex: `/svc${i}/[a-z]+/[0-9]+` } };
    case "unindexable regex":
      return { safeRegex: { regex: `(?:/svc${i})/[a-z]+/[0-9]+` } };
  }
}

function config(kind: Kind): RouteConfiguration {
  const routes: JsonValue[] = [];
  for (let i = 0; i < N; i++) {
    routes.push({ name: `r${i}`, match: match(kind, i), route: { cluster: `c${i % 20}` } });
  }
  const small = Array.from({ length: 9 }, (_, i) => ({
    name: `small${i}`,
    domains: [`small${i}.example.com`, `*.small${i}.example.org`],
    routes: [{ match: { prefix: "/" }, route: { cluster: "c0" } }],
  }));
  const json = {
    name: "bench",
    requestHeadersToAdd: [{ header: { key: "x-client", value: "%DOWNSTREAM_REMOTE_ADDRESS%" } }],
    virtualHosts: [...small, {
      name: "big",
      domains: ["api.example.com", "*.api.example.com"],
      requestHeadersToAdd: [{ header: { key: "x-vh", value: "big" } }],
      routes,
    }],
  };
  const schema = messageSchema<RouteConfiguration>("envoy.config.route.v3.RouteConfiguration");
  return fromJson(schema, json, { registry: apiRegistry() });
}

const indexed = new RouteTable(config("prefix"));
const regex = new RouteTable(config("regex"));
const linear = new RouteTable(config("unindexable regex"));

function request(path: string, authority = "api.example.com"): HeaderMap {
  return HeaderMap.from([
    [":method", "GET"],
    [":scheme", "http"],
    [":authority", authority],
    [":path", path],
    ["user-agent", "bench"],
    ["accept", "*/*"],
    ["x-forwarded-proto", "http"],
    ["x-request-id", "0b5d3d0e-1c9e-4f53-9d5f-3c6c2e1b7a11"],
  ]);
}

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error("bench setup: no route");
  return v;
}

const mid = { headers: request("/svc500/users/42?page=2"), random: 7 };
const last = { headers: request("/svc999/users/42?page=2"), random: 7 };
const wildcard = { headers: request("/svc999/users/42", "eu.api.example.com"), random: 7 };
const miss = { headers: request("/nothing/here"), random: 7 };
for (const t of [indexed, regex, linear]) must(t.route(last));

Deno.bench("route: 1000 prefixes, route #500", { group: "route", baseline: true }, () => {
  indexed.route(mid);
});
Deno.bench("route: 1000 prefixes, route #999", { group: "route" }, () => {
  indexed.route(last);
});
Deno.bench("route: 1000 prefixes, via *.api.example.com", { group: "route" }, () => {
  indexed.route(wildcard);
});
Deno.bench("route: 1000 prefixes, no match (404)", { group: "route" }, () => {
  indexed.route(miss);
});
Deno.bench("route: 1000 regexes /svcN/..., route #999", { group: "route" }, () => {
  regex.route(last);
});
Deno.bench("route: 1000 regexes (?:/svcN)..., route #500 (linear)", { group: "route" }, () => {
  linear.route(mid);
});
Deno.bench("route: 1000 regexes (?:/svcN)..., route #999 (linear)", { group: "route" }, () => {
  linear.route(last);
});

const matched = must(indexed.route(mid));
const si = new StreamInfo();
si.downstreamRemoteAddress = "10.1.2.3:40000";
Deno.bench("request header mutations (2 levels, 1 format)", () => {
  const h = request("/svc500/users/42");
  applyRequestHeaderMutations(matched, h, si);
});
