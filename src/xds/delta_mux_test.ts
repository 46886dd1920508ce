import { create } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { assert, assertEquals } from "../testing/assert.ts";
import { ClusterSchema } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import type { DecodeResult } from "./decode.ts";
import { DeltaMux, type DeltaMuxRequest } from "./delta_mux.ts";
import { CDS, EDS } from "./resource_types.ts";

const dc = { extensions: builtinExtensions(), clusters: () => new Set<string>() };

const cluster = (name: string, lbPolicy = 0): Any =>
  anyPack(ClusterSchema, create(ClusterSchema, { name, lbPolicy }));

function setup() {
  const sent: DeltaMuxRequest[] = [];
  const mux = new DeltaMux((r) => sent.push(r), dc, { id: "n" });
  const seen: string[][] = [];
  mux.watch(CDS, {
    names: [],
    deliver: (r: DecodeResult) =>
      r.ok ? (seen.push(r.update.resources.map((x) => x.name)), undefined) : "rejected",
  });
  return { sent, mux, seen };
}

Deno.test("delta: added, updated and removed resources become the whole state delivered", () => {
  const { sent, mux, seen } = setup();
  assertEquals(sent[0].node?.id, "n");
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "1",
    nonce: "a",
    resources: [{ name: "x", version: "1", resource: cluster("x") }, {
      name: "y",
      version: "1",
      resource: cluster("y"),
    }],
    removedResources: [],
  });
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "2",
    nonce: "b",
    resources: [{ name: "z", version: "1", resource: cluster("z") }],
    removedResources: ["x"],
  });
  assertEquals(seen, [["x", "y"], ["y", "z"]]);
  const ack = sent[sent.length - 1];
  assertEquals([ack.responseNonce, ack.errorDetail], ["b", undefined]);
  mux.onStreamEstablished();
  assertEquals(sent[sent.length - 1].initialResourceVersions, { y: "1", z: "1" });
});

Deno.test("delta: a rejected response is NACKed and what is held stays", () => {
  const { sent, mux, seen } = setup();
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "1",
    nonce: "a",
    resources: [{ name: "x", version: "1", resource: cluster("x") }],
    removedResources: [],
  });
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "2",
    nonce: "b",
    resources: [{ name: "bad", version: "1", resource: cluster("bad", 6) }],
    removedResources: ["x"],
  });
  assert(sent[sent.length - 1].errorDetail !== undefined);
  mux.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "3",
    nonce: "c",
    resources: [{ name: "w", version: "1", resource: cluster("w") }],
    removedResources: [],
  });
  assertEquals(seen, [["x"], ["x", "w"]]);
});

Deno.test("delta: the last watch of a type going unsubscribes its names", () => {
  const { sent, mux } = setup();
  const stop = mux.watch(EDS, { names: ["a", "b"], deliver: () => undefined });
  const before = sent.length;
  stop();
  assertEquals(sent.length, before + 1);
  const last = sent[before];
  assertEquals(
    [last.typeUrl, last.resourceNamesSubscribe, last.resourceNamesUnsubscribe],
    [EDS.typeUrl, [], ["a", "b"]],
  );
});

Deno.test("delta: a resource whose TTL passes is removed; a heartbeat keeps another alive", async () => {
  const sent: DeltaMuxRequest[] = [];
  const mux = new DeltaMux((r) => sent.push(r), dc, { id: "n" });
  const updates: { names: string[]; removed?: readonly string[]; version: string }[] = [];
  let heard = () => {};
  mux.watch(CDS, {
    names: [],
    deliver: (r: DecodeResult) => {
      if (!r.ok) return "rejected";
      const { resources, removed, versionInfo } = r.update;
      updates.push({ names: resources.map((x) => x.name), removed, version: versionInfo });
      heard();
      return undefined;
    },
  });
  try {
    mux.onResponse({
      typeUrl: CDS.typeUrl,
      systemVersionInfo: "1",
      nonce: "a",
      resources: [
        { name: "x", version: "1", resource: cluster("x"), ttlMs: 20 },
        { name: "y", version: "1", resource: cluster("y"), ttlMs: 20 },
        { name: "z", version: "1", resource: cluster("z") },
      ],
      removedResources: [],
    });
    // A heartbeat: x at the version held, no body, a longer TTL; no update is delivered.
    mux.onResponse({
      typeUrl: CDS.typeUrl,
      systemVersionInfo: "1",
      nonce: "b",
      resources: [{ name: "x", version: "1", ttlMs: 60_000 }],
      removedResources: [],
    });
    const acks = sent.length;
    await new Promise<void>((r) => heard = r);
    assertEquals(updates.at(-1), { names: ["x", "z"], removed: ["y"], version: "" });
    // Nothing is said to the control plane on expiry; a new stream no longer claims y.
    assertEquals(sent.length, acks);
    mux.onStreamEstablished();
    assertEquals(sent.at(-1)!.initialResourceVersions, { x: "1", z: "1" });
  } finally {
    mux.stop();
  }
});
