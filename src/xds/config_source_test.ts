import { create } from "@bufbuild/protobuf";
import { assertEquals, assertMatch } from "../testing/assert.ts";
import {
  type ConfigSource,
  ConfigSourceSchema,
} from "../../proto/gen/envoy/config/core/v3/config_source_pb.ts";
import {
  authoritySourceOf,
  configSourceProblems,
  filesystemSource,
  initialFetchTimeoutMs,
  XDSTP_SINGLETONS,
} from "./config_source.ts";
import { runtimeSnapshot, setRuntimeSnapshot } from "../runtime/runtime.ts";
import { CDS, RESOURCE_TYPES } from "./resource_types.ts";

const source = (init: Parameters<typeof create<typeof ConfigSourceSchema>>[1]): ConfigSource =>
  create(ConfigSourceSchema, init);

Deno.test("filesystem sources are usable, with their watched directory", () => {
  const cs = source({
    configSourceSpecifier: {
      case: "pathConfigSource",
      value: { path: "/x/cds.yaml", watchedDirectory: { path: "/x" } },
    },
  });
  assertEquals(configSourceProblems(cs, CDS), []);
  assertEquals(filesystemSource(cs), { path: "/x/cds.yaml", watchedDirectory: "/x" });
  const legacy = source({ configSourceSpecifier: { case: "path", value: "/x/cds.yaml" } });
  assertEquals(filesystemSource(legacy), { path: "/x/cds.yaml" });
  assertEquals(initialFetchTimeoutMs(legacy), 15_000);
  assertEquals(
    initialFetchTimeoutMs(source({ initialFetchTimeout: { seconds: 0n, nanos: 0 } })),
    0,
  );
});

Deno.test("ADS and gRPC sources are checked; aggregated api types and self are refused", () => {
  const problems = (cs: ConfigSource) =>
    configSourceProblems(cs, CDS).map((p) => `${p.field}: ${p.message}`);
  assertEquals(problems(source({ configSourceSpecifier: { case: "ads", value: {} } })), []);
  const grpc = (apiType: number, extra = {}) =>
    problems(source({
      configSourceSpecifier: {
        case: "apiConfigSource",
        value: {
          apiType,
          grpcServices: [{
            targetSpecifier: { case: "envoyGrpc", value: { clusterName: "xds" } },
          }],
          ...extra,
        },
      },
    }));
  assertEquals(grpc(2), []);
  assertEquals(grpc(3), []);
  assertMatch(grpc(5)[0], /^api_config_source\.api_type: api_config_source AGGREGATED_GRPC/);
  assertMatch(grpc(2, { clusterNames: ["xds"] })[0], /must not have a cluster name/);
  assertMatch(
    problems(source({
      configSourceSpecifier: { case: "apiConfigSource", value: { apiType: 2 } },
    }))[0],
    /^api_config_source\.grpc_services: API configs must have a single gRPC service/,
  );
  assertMatch(
    problems(source({ configSourceSpecifier: { case: "self", value: {} } }))[0],
    /self config sources/,
  );
  assertMatch(problems(source({}))[0], /needs one of path_config_source/);
  assertMatch(
    problems(source({
      resourceApiVersion: 1,
      configSourceSpecifier: { case: "path", value: "/x" },
    }))[0],
    /V2 xDS API is no longer supported/,
  );
});

Deno.test("resource types not applied yet are refused for any source", () => {
  const leds = RESOURCE_TYPES.get("type.googleapis.com/envoy.config.endpoint.v3.LbEndpoint")!;
  const cs = source({ configSourceSpecifier: { case: "path", value: "/x" } });
  assertMatch(configSourceProblems(cs, leds)[0].message, /LEDS .* is not supported yet/);
});

Deno.test("xdstp singleton names take their authority's config source under Envoy's runtime guard", () => {
  const a = source({ authorities: [{ name: "a.test" }] });
  const fallback = source({});
  const sources = { configSources: [a], defaultConfigSource: fallback };
  const name = (authority: string) =>
    `xdstp://${authority}/envoy.config.endpoint.v3.ClusterLoadAssignment/x`;
  // Off by default, as in Envoy: the referring config source serves.
  assertEquals(authoritySourceOf(name("a.test"), sources), undefined);
  const before = runtimeSnapshot();
  setRuntimeSnapshot({
    layers: [{ name: "t", entries: { [XDSTP_SINGLETONS]: { raw: "true", bool: true } } }],
  });
  try {
    assertEquals(authoritySourceOf(name("a.test"), sources), a);
    assertEquals(authoritySourceOf(name("b.test"), sources), fallback);
    assertEquals(authoritySourceOf(name("b.test"), { configSources: [a] }), undefined);
    assertEquals(authoritySourceOf("plain", sources), undefined);
  } finally {
    setRuntimeSnapshot(before);
  }
});
