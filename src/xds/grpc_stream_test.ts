import { create } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { assert, assertEquals, assertMatch } from "../testing/assert.ts";
import { ClusterSchema } from "../../proto/gen/envoy/config/cluster/v3/cluster_pb.ts";
import {
  type DiscoveryRequest,
  type DiscoveryResponse,
  DiscoveryResponseSchema,
} from "../../proto/gen/envoy/service/discovery/v3/discovery_pb.ts";
import { builtinExtensions } from "../extensions/builtin.ts";
import { Store } from "../stats/store.ts";
import {
  ControlPlaneStats,
  JitteredBackoff,
  type OpenCall,
  SotwGrpcStream,
} from "./grpc_stream.ts";
import { CDS } from "./resource_types.ts";

const dc = { extensions: builtinExtensions(), clusters: () => new Set<string>() };

Deno.test("jittered backoff: uniform below a base doubling from 500 ms to 30 s; reset", () => {
  const b = new JitteredBackoff(500, 30_000, () => 0.999);
  const seq = Array.from({ length: 8 }, () => b.nextMs());
  assertEquals(seq, [499, 999, 1998, 3996, 7992, 15984, 29970, 29970]);
  b.reset();
  assertEquals(b.nextMs(), 499);
  assertEquals(new JitteredBackoff(500, 30_000, () => 0).nextMs(), 0);
});

/** A fake call: requests recorded, responses pushed by the test, `end` closes the stream. */
function fakeCalls() {
  const calls: {
    requests: DiscoveryRequest[];
    respond(r: DiscoveryResponse): void;
    end(): void;
  }[] = [];
  let opened: (() => void) | undefined;
  const open: OpenCall<DiscoveryRequest, DiscoveryResponse> = (requests) => {
    const queue: (DiscoveryResponse | null)[] = [];
    let wake: (() => void) | undefined;
    const call = {
      requests: [] as DiscoveryRequest[],
      respond: (r: DiscoveryResponse) => (queue.push(r), wake?.()),
      end: () => (queue.push(null), wake?.()),
    };
    calls.push(call);
    (async () => {
      for await (const r of requests) call.requests.push(r);
    })();
    opened?.();
    return (async function* () {
      for (;;) {
        const r = queue.shift();
        if (r === null) return;
        if (r) yield r;
        else await new Promise<void>((w) => (wake = w));
      }
    })();
  };
  const nextOpen = () => new Promise<void>((r) => (opened = r));
  return { calls, open, nextOpen };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

function clusterResponse(version: string, nonce: string, connectTimeoutSeconds = 1n) {
  return create(DiscoveryResponseSchema, {
    versionInfo: version,
    nonce,
    typeUrl: CDS.typeUrl,
    resources: [
      anyPack(
        ClusterSchema,
        create(ClusterSchema, {
          name: "c",
          connectTimeout: { seconds: connectTimeoutSeconds, nanos: 0 },
          clusterDiscoveryType: { case: "type", value: 0 },
        }),
      ),
    ],
  });
}

Deno.test("SotW gRPC stream: node on every request by default, ACK/NACK, reconnect", async () => {
  const { calls, open, nextOpen } = fakeCalls();
  const store = new Store();
  const stats = new ControlPlaneStats(store);
  const s = new SotwGrpcStream(
    "test",
    open,
    dc,
    { id: "n1" },
    false,
    stats,
    new JitteredBackoff(1, 1, () => 0),
  );
  const failures: string[] = [];
  s.listeners.add({ onStreamFailure: (d) => failures.push(d) });
  const delivered: string[] = [];
  s.mux.watch(CDS, {
    names: [],
    deliver: (r) => {
      if (!r.ok) return "bad";
      delivered.push(r.update.versionInfo);
      return undefined;
    },
  });
  s.start();
  await tick();
  assertEquals(stats.connectedState.value, 1);
  const c0 = calls[0];
  assertEquals(c0.requests.length, 1);
  assertEquals(c0.requests[0].node?.id, "n1");
  assertEquals(c0.requests[0].typeUrl, CDS.typeUrl);
  c0.respond(clusterResponse("v1", "a"));
  await tick();
  await tick();
  assertEquals(delivered, ["v1"]);
  assertEquals(c0.requests[1].versionInfo, "v1");
  assertEquals(c0.requests[1].responseNonce, "a");
  assertEquals(c0.requests[1].node?.id, "n1");
  c0.respond(clusterResponse("v2", "b", -1n));
  await tick();
  await tick();
  assertEquals(c0.requests[2].versionInfo, "v1");
  assertMatch(c0.requests[2].errorDetail?.message ?? "", /./);
  // The control plane closes the stream: reopened, every type asked again (no nonce).
  const reopened = nextOpen();
  c0.end();
  await reopened;
  assertEquals(failures.length, 1);
  await tick();
  const c1 = calls[1];
  assertEquals(c1.requests[0].versionInfo, "v1");
  assertEquals(c1.requests[0].responseNonce, "");
  assertEquals(c1.requests[0].node?.id, "n1");
  assertEquals(stats.connectedState.value, 1);
  s.stop();
  assertEquals(stats.connectedState.value, 0);
});

Deno.test("SotW gRPC stream: set_node_on_first_message_only", async () => {
  const { calls, open } = fakeCalls();
  const s = new SotwGrpcStream(
    "t",
    open,
    dc,
    { id: "n1" },
    true,
    new ControlPlaneStats(new Store()),
  );
  s.mux.watch(CDS, { names: [], deliver: () => undefined });
  s.start();
  await tick();
  calls[0].respond(clusterResponse("v1", "a"));
  await tick();
  await tick();
  assert(calls[0].requests.length >= 2);
  assertEquals(calls[0].requests[0].node?.id, "n1");
  assertEquals(calls[0].requests[1].node, undefined);
  s.stop();
});
