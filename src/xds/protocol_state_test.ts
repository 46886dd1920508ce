import { create } from "@bufbuild/protobuf";
import { type Any, anyPack } from "@bufbuild/protobuf/wkt";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { ResourceSchema } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import {
  DeltaState,
  NACK_CODE,
  RESOURCE_WRAPPER,
  type SotwResource,
  SotwState,
} from "./protocol_state.ts";
import { CDS, EDS, LDS } from "./resource_types.ts";

const any = (typeUrl: string): Any => ({ typeUrl, value: new Uint8Array() }) as Any;

Deno.test("SotW: ACK carries the new version and nonce; NACK the old version and the error", () => {
  const s = new SotwState(CDS.typeUrl);
  assertEquals(s.request(), {
    typeUrl: CDS.typeUrl,
    versionInfo: "",
    resourceNames: [],
    responseNonce: "",
  });
  const ack = s.onResponse(
    { typeUrl: CDS.typeUrl, versionInfo: "1", nonce: "a", resources: [any(CDS.typeUrl)] },
    () => {},
  );
  assertEquals([ack.versionInfo, ack.responseNonce, ack.errorDetail], ["1", "a", undefined]);
  const nack = s.onResponse(
    { typeUrl: CDS.typeUrl, versionInfo: "2", nonce: "b", resources: [] },
    () => {
      throw new Error("cluster 'x': bad");
    },
  );
  assertEquals([nack.versionInfo, nack.responseNonce], ["1", "b"]);
  assertEquals(nack.errorDetail, { code: NACK_CODE, message: "cluster 'x': bad" });
  assertEquals(s.versionInfo, "1");
});

Deno.test("SotW: a resource of another type is NACKed without applying anything", () => {
  const s = new SotwState(LDS.typeUrl);
  let applied = false;
  const nack = s.onResponse(
    { typeUrl: LDS.typeUrl, versionInfo: "1", nonce: "n", resources: [any(CDS.typeUrl)] },
    () => (applied = true),
  );
  assertEquals(applied, false);
  assertMatch(nack.errorDetail!.message, /does not match the message-wide type URL/);
});

Deno.test("SotW: Resource wrappers are unwrapped with their name and TTL; a bad one is NACKed", () => {
  const s = new SotwState(CDS.typeUrl);
  const wrap = (name: string, inner?: Any) =>
    anyPack(
      ResourceSchema,
      create(ResourceSchema, {
        name,
        ttl: { seconds: 1n, nanos: 5e8 },
        ...(inner ? { resource: inner } : {}),
      }),
    );
  let got: readonly SotwResource[] = [];
  const ack = s.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "1",
    nonce: "a",
    resources: [wrap("x", any(CDS.typeUrl)), wrap("y"), any(CDS.typeUrl)],
  }, (r) => got = r);
  assertEquals(ack.errorDetail, undefined);
  assertEquals(got.map((r) => [r.name, r.ttlMs, r.resource?.typeUrl]), [
    ["x", 1500, CDS.typeUrl],
    ["y", 1500, undefined],
    [undefined, undefined, CDS.typeUrl],
  ]);
  const other = s.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "2",
    nonce: "b",
    resources: [wrap("x", any(LDS.typeUrl))],
  }, () => {});
  assertMatch(other.errorDetail!.message, /does not match the message-wide type URL/);
  const garbled = s.onResponse({
    typeUrl: CDS.typeUrl,
    versionInfo: "3",
    nonce: "c",
    resources: [{ ...any(RESOURCE_WRAPPER), value: new Uint8Array([0xff]) } as Any],
  }, () => {});
  assert(garbled.errorDetail !== undefined);
  assertEquals(s.versionInfo, "1");
});

Deno.test("SotW: names are sent sorted; a new stream clears the nonce, keeps the version", () => {
  const s = new SotwState(EDS.typeUrl, ["b", "a"]);
  assertEquals(s.request().resourceNames, ["a", "b"]);
  s.onResponse({ typeUrl: EDS.typeUrl, versionInfo: "7", nonce: "x", resources: [] }, () => {});
  assertEquals(s.setNames(["c"]), {
    typeUrl: EDS.typeUrl,
    versionInfo: "7",
    resourceNames: ["c"],
    responseNonce: "x",
  });
  const again = s.streamReset();
  assertEquals([again.versionInfo, again.responseNonce], ["7", ""]);
});

Deno.test("delta: versions held are resent on a new stream; removals forget them", () => {
  const s = new DeltaState(CDS.typeUrl);
  assertEquals(s.request().resourceNamesSubscribe, []);
  const ack = s.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "s1",
    nonce: "n1",
    resources: [
      { name: "a", version: "1", resource: any(CDS.typeUrl) },
      { name: "b", version: "1", resource: any(CDS.typeUrl) },
    ],
    removedResources: [],
  }, (u) => assertEquals(u.added.map((r) => r.name), ["a", "b"]));
  assertEquals([ack.responseNonce, ack.errorDetail], ["n1", undefined]);
  s.onResponse({
    typeUrl: CDS.typeUrl,
    systemVersionInfo: "s2",
    nonce: "n2",
    resources: [{ name: "a", version: "2", resource: any(CDS.typeUrl) }],
    removedResources: ["b"],
  }, (u) => assertEquals(u.removed, ["b"]));
  const first = s.streamReset();
  assertEquals(first.initialResourceVersions, { a: "2" });
  assertEquals(first.responseNonce, "");
});

Deno.test("delta: duplicates and added+removed names are NACKed; versions unchanged", () => {
  const s = new DeltaState(EDS.typeUrl, ["a"]);
  s.request();
  const r = (name: string) => ({ name, version: "1", resource: any(EDS.typeUrl) });
  const dup = s.onResponse({
    typeUrl: EDS.typeUrl,
    systemVersionInfo: "",
    nonce: "n",
    resources: [r("a"), r("a")],
    removedResources: [],
  }, () => {});
  assertMatch(dup.errorDetail!.message, /duplicate name a/);
  const both = s.onResponse({
    typeUrl: EDS.typeUrl,
    systemVersionInfo: "",
    nonce: "m",
    resources: [r("a")],
    removedResources: ["a"],
  }, () => {});
  assertMatch(both.errorDetail!.message, /union of added\+removed/);
  const rejected = s.onResponse({
    typeUrl: EDS.typeUrl,
    systemVersionInfo: "",
    nonce: "o",
    resources: [r("a")],
    removedResources: [],
  }, () => {
    throw new Error("no");
  });
  assertEquals(rejected.errorDetail?.message, "no");
  assertEquals(s.versions.size, 0);
});

Deno.test("delta: subscribe and unsubscribe send only the changes; they cancel out", () => {
  const s = new DeltaState(EDS.typeUrl, ["a"]);
  assertEquals(s.request().resourceNamesSubscribe, ["a"]);
  assertEquals(s.pending, false);
  s.subscribe(["b", "c"]);
  s.unsubscribe(["c", "a"]);
  const req = s.request();
  assertEquals([req.resourceNamesSubscribe, req.resourceNamesUnsubscribe], [["b"], ["a"]]);
  const wildcard = new DeltaState(CDS.typeUrl);
  wildcard.subscribe(["x"]);
  assertEquals(wildcard.request().resourceNamesSubscribe, ["*", "x"]);
});
