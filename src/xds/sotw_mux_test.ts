import { create } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { ClusterSchema } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { ClusterLoadAssignmentSchema } from "../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.ts";
import { ResourceSchema } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import type { DecodeResult } from "./decode.ts";
import { type MuxRequest, SotwMux } from "./sotw_mux.ts";
import { CDS, EDS } from "./resource_types.ts";

const dc = { extensions: builtinExtensions(), clusters: () => new Set<string>() };

function cluster(name: string, lbPolicy = 0): Any {
  return anyPack(ClusterSchema, create(ClusterSchema, { name, lbPolicy }));
}

function cla(name: string): Any {
  return anyPack(
    ClusterLoadAssignmentSchema,
    create(ClusterLoadAssignmentSchema, { clusterName: name }),
  );
}

function setup() {
  const sent: MuxRequest[] = [];
  const mux = new SotwMux((r) => sent.push(r), dc, { id: "node-1" });
  return { sent, mux };
}

Deno.test("the first request carries the node; interest is the union of the watches' names", () => {
  const { sent, mux } = setup();
  const got: DecodeResult[] = [];
  const deliver = (r: DecodeResult) => (got.push(r), undefined);
  const stopA = mux.watch(EDS, { names: ["a"], deliver });
  mux.watch(EDS, { names: ["b"], deliver });
  assertEquals(sent.map((r) => [r.resourceNames, r.node?.id]), [[["a"], "node-1"], [
    ["a", "b"],
    undefined,
  ]]);
  stopA();
  assertEquals(sent[2].resourceNames, ["b"]);
  mux.onStreamEstablished();
  assertEquals(sent[3].node?.id, "node-1");
});

Deno.test("a response is split between watches and ACKed with its version and nonce", () => {
  const { sent, mux } = setup();
  const a: string[][] = [];
  const b: string[][] = [];
  mux.watch(EDS, {
    names: ["a"],
    deliver: (r) => (a.push(r.update!.resources.map((x) => x.name)), undefined),
  });
  mux.watch(EDS, {
    names: ["b"],
    deliver: (r) => (b.push(r.update!.resources.map((x) => x.name)), undefined),
  });
  mux.onResponse({
    typeUrl: EDS.typeUrl,
    versionInfo: "1",
    nonce: "x",
    resources: [cla("a"), cla("b")],
  });
  assertEquals([a, b], [[["a"]], [["b"]]]);
  const ack = sent[sent.length - 1];
  assertEquals([ack.versionInfo, ack.responseNonce, ack.errorDetail], ["1", "x", undefined]);
});

Deno.test("an invalid resource NACKs the update; the accepted version is kept", () => {
  const { sent, mux } = setup();
  let accepted = 0;
  mux.watch(CDS, { names: [], deliver: (r) => r.ok ? (accepted++, undefined) : "rejected: bad" });
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "1",
    nonce: "n1",
    resources: [cluster("a")],
  });
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "2",
    nonce: "n2",
    resources: [cluster("a", 6)],
  });
  assertEquals(accepted, 1);
  const nack = sent[sent.length - 1];
  assertEquals([nack.versionInfo, nack.responseNonce], ["1", "n2"]);
  assertMatch(nack.errorDetail!.message, /rejected: bad/);
});

Deno.test("responses for types nobody watches, or unknown ones, are ignored", () => {
  const { sent, mux } = setup();
  mux.watch(CDS, { names: [], deliver: () => undefined });
  const before = sent.length;
  mux.onResponse({ typeUrl: EDS.typeUrl, versionInfo: "1", nonce: "n", resources: [] });
  mux.onResponse({
    typeUrl: "type.googleapis.com/example.Nope",
    versionInfo: "1",
    nonce: "n",
    resources: [],
  });
  assertEquals(sent.length, before);
});

Deno.test("a resource whose bytes do not decode is NACKed, never a crash", () => {
  const { sent, mux } = setup();
  mux.watch(CDS, { names: [], deliver: (r) => r.ok ? undefined : "rejected" });
  const bad = { ...cluster("a"), value: new Uint8Array([0xff, 0xff, 0xff]) } as Any;
  mux.onResponse({ typeUrl: CDS.typeUrl, versionInfo: "1", nonce: "n", resources: [bad] });
  const nack = sent[sent.length - 1];
  assert(nack.errorDetail !== undefined);
  assertEquals(nack.versionInfo, "");
});

Deno.test("the last named watch of a type going sends an empty resource_names; a wildcard one sends nothing", () => {
  const { sent, mux } = setup();
  const deliver = () => undefined;
  const stopEds = mux.watch(EDS, { names: ["a"], deliver });
  const stopCds = mux.watch(CDS, { names: [], deliver });
  const before = sent.length;
  stopEds();
  assertEquals(sent.length, before + 1);
  assertEquals([sent[before].typeUrl, sent[before].resourceNames], [EDS.typeUrl, []]);
  stopCds();
  assertEquals(sent.length, before + 1);
});

/** `any` wrapped in a `Resource` named `name` with a TTL of `ttlMs` (no body: a heartbeat). */
function wrapped(name: string, ttlMs: number, any?: Any): Any {
  return anyPack(
    ResourceSchema,
    create(ResourceSchema, {
      name,
      ttl: { seconds: BigInt(Math.floor(ttlMs / 1000)), nanos: (ttlMs % 1000) * 1e6 },
      ...(any ? { resource: any } : {}),
    }),
  );
}

Deno.test("SotW TTL: wrapped resources expire unless heartbeated; a wildcard watch keeps the rest", async () => {
  const { sent, mux } = setup();
  const seen: { names: string[]; removed?: readonly string[]; version: string }[] = [];
  let heard = () => {};
  mux.watch(CDS, {
    names: [],
    deliver: (r) => {
      if (!r.ok) return "rejected";
      const { resources, removed, versionInfo } = r.update;
      seen.push({ names: resources.map((x) => x.name), removed, version: versionInfo });
      heard();
      return undefined;
    },
  });
  try {
    mux.onResponse({
      typeUrl: CDS.typeUrl,
      versionInfo: "1",
      nonce: "a",
      resources: [wrapped("x", 20, cluster("x")), wrapped("y", 20, cluster("y")), cluster("z")],
    });
    assertEquals(seen, [{ names: ["x", "y", "z"], removed: undefined, version: "1" }]);
    // A heartbeat at the version held: x's TTL grows, nothing is delivered, it is ACKed.
    mux.onResponse({
      typeUrl: CDS.typeUrl,
      versionInfo: "1",
      nonce: "b",
      resources: [wrapped("x", 60_000)],
    });
    assertEquals(seen.length, 1);
    assertEquals([sent.at(-1)!.responseNonce, sent.at(-1)!.errorDetail], ["b", undefined]);
    const requests = sent.length;
    await new Promise<void>((r) => heard = r);
    assertEquals(seen[1], { names: ["x", "z"], removed: ["y"], version: "" });
    assertEquals(sent.length, requests);
    // A wrapper with no body at another version is no heartbeat: NACKed.
    mux.onResponse({
      typeUrl: CDS.typeUrl,
      versionInfo: "2",
      nonce: "c",
      resources: [wrapped("x", 1000)],
    });
    assertMatch(sent.at(-1)!.errorDetail?.message ?? "", /no body and is not a heartbeat/);
  } finally {
    mux.stop();
  }
});

Deno.test("xdstp names: a glob collection watch gets its members; names compare in normal form", () => {
  const { mux } = setup();
  const T = "envoy.config.cluster.v3.Cluster";
  const got: string[][] = [];
  const deliver = (
    r: DecodeResult,
  ) => (got.push(r.update!.resources.map((x) => x.name)), undefined);
  mux.watch(CDS, { names: [`xdstp://cp/${T}/a/*`, `xdstp://cp/${T}/one?a=1&b=2`], deliver });
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "1",
    nonce: "n1",
    resources: [
      cluster(`xdstp://cp/${T}/a/x`),
      cluster(`xdstp://cp/${T}/a/b/y`),
      cluster(`xdstp://other/${T}/a/z`),
      cluster(`xdstp://cp/${T}/one?b=2&a=1`),
      cluster("plain"),
    ],
  });
  assertEquals(got, [[`xdstp://cp/${T}/a/x`, `xdstp://cp/${T}/one?b=2&a=1`]]);
});
