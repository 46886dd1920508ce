import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import type { Cluster } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import type { DiscoveryResponse } from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { messageSchema } from "../config/api.ts";
import { assert, assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import type { DecodedUpdate } from "./decode.ts";
import { FilesystemSubscription } from "./filesystem_subscription.ts";
import { CDS } from "./resource_types.ts";
import { SubscriptionStats } from "./subscription_stats.ts";

const cds = (version: string) =>
  `version_info: "${version}"
resources:
- "@type": type.googleapis.com/envoy.config.cluster.v3.Cluster
  name: a
`;

/** Subscribes to `path`; each update (or failure) resolves the next `next()`. */
function subscribe(path: string, watchedDirectory?: string) {
  const store = new Store();
  const seen: (DecodedUpdate | string)[] = [];
  let wake: (() => void) | undefined;
  const sub = new FilesystemSubscription(
    { path, ...(watchedDirectory ? { watchedDirectory } : {}) },
    CDS,
    new SubscriptionStats(store, "cds"),
    { extensions: builtinExtensions(), clusters: () => new Set() },
    {
      onConfigUpdate: (u) => (seen.push(u), wake?.()),
      onConfigUpdateFailed: (reason) => (seen.push(reason), wake?.()),
    },
    0,
  );
  const next = (n: number) =>
    new Promise<void>((resolve) => {
      const check = () => seen.length >= n ? resolve() : undefined;
      wake = check;
      check();
    });
  return { sub, seen, next, store };
}

Deno.test("the file is read at start and again when a new one is moved into place", async () => {
  const dir = Deno.makeTempDirSync();
  Deno.writeTextFileSync(`${dir}/cds.yaml`, cds("1"));
  const { sub, seen, next } = subscribe(`${dir}/cds.yaml`);
  sub.start();
  await next(1);
  Deno.writeTextFileSync(`${dir}/new`, cds("2"));
  Deno.renameSync(`${dir}/new`, `${dir}/cds.yaml`);
  await next(2);
  sub.stop();
  assertEquals(seen.map((u) => typeof u === "string" ? u : u.versionInfo), ["1", "2"]);
});

Deno.test("a missing file is a connection failure, counted as update_failure", () => {
  const { sub, seen, store } = subscribe("/nonexistent/dir/cds.yaml");
  sub.start();
  sub.stop();
  assert(seen.every((s) => s === "ConnectionFailure"));
  assert(store.counter("cds.update_failure").value >= 1);
});

Deno.test("watched_directory: a symlink swap in the directory reloads the file", async () => {
  const dir = Deno.makeTempDirSync();
  Deno.mkdirSync(`${dir}/v1`);
  Deno.writeTextFileSync(`${dir}/v1/cds.yaml`, cds("1"));
  Deno.symlinkSync("v1", `${dir}/..data`);
  const { sub, seen, next } = subscribe(`${dir}/..data/cds.yaml`, dir);
  sub.start();
  await next(1);
  Deno.mkdirSync(`${dir}/v2`);
  Deno.writeTextFileSync(`${dir}/v2/cds.yaml`, cds("2"));
  Deno.symlinkSync("v2", `${dir}/..tmp`);
  Deno.renameSync(`${dir}/..tmp`, `${dir}/..data`);
  await next(2);
  sub.stop();
  assertEquals((seen[1] as DecodedUpdate).versionInfo, "2");
});

Deno.test("a .pb file holds a binary DiscoveryResponse", async () => {
  const schema = messageSchema<DiscoveryResponse>("envoy.service.discovery.v3.DiscoveryResponse");
  const cluster = messageSchema<Cluster>("envoy.config.cluster.v3.Cluster");
  const bytes = toBinary(
    schema,
    create(schema, {
      versionInfo: "b1",
      resources: [anyPack(cluster, create(cluster, { name: "a" }))],
    }),
  );
  const dir = Deno.makeTempDirSync();
  Deno.writeFileSync(`${dir}/cds.pb`, bytes);
  const { sub, seen, next } = subscribe(`${dir}/cds.pb`);
  sub.start();
  await next(1);
  sub.stop();
  assertEquals((seen[0] as DecodedUpdate).versionInfo, "b1");
  assertEquals((seen[0] as DecodedUpdate).resources[0].name, "a");
});
