import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { assertEquals } from "../../../../testing/assert.ts";
import { LocalRateLimitSchema } from "../../../../../proto/gen/envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb.ts";
import type { Connection } from "../../../../network/connection.ts";
import type { ConnectionContext } from "../../../../network/filter.ts";
import { Store } from "../../../../stats/store.ts";
import { StreamInfo } from "../../../../stream_info/stream_info.ts";
import { newBucketMemory } from "../../common/local_ratelimit/bucket_memory.ts";
import { networkLocalRateLimitFilter } from "./local_ratelimit.ts";

type Init = MessageInitShape<typeof LocalRateLimitSchema>;

const memory = () => newBucketMemory(8);

function filter(init: Init, m = memory(), placement = "chain", stats = new Store()) {
  return networkLocalRateLimitFilter(
    create(LocalRateLimitSchema, {
      statPrefix: "tcp",
      tokenBucket: { maxTokens: 1, fillInterval: { seconds: 1000n } },
      ...init,
    } as Init),
    { stats, placement, memory: m },
  );
}

/** Offers one connection to `f`: its status, whether it was closed, and its log record. */
function connect(f: ReturnType<typeof filter>) {
  let closed = false;
  const si = new StreamInfo();
  const conn = { close: () => void (closed = true) } as unknown as Connection;
  const status = f(conn, { streamInfo: si } as unknown as ConnectionContext);
  return { status, closed, si };
}

Deno.test("network local_ratelimit: a connection past the bucket is closed, counted, URX", () => {
  const stats = new Store();
  const f = filter({}, memory(), "chain", stats);
  const first = connect(f);
  assertEquals([first.status, first.closed], ["continue", false]);
  const second = connect(f);
  assertEquals([second.status, second.closed], ["stop", true]);
  assertEquals(second.si.hasFlag("URX"), true);
  assertEquals(second.si.connectionTerminationDetails, "local_ratelimit_close_over_limit");
  assertEquals(stats.counter("local_rate_limit.tcp.rate_limited").value, 1);
});

Deno.test("network local_ratelimit: runtime_enabled false lets every connection through", () => {
  const f = filter({ runtimeEnabled: { defaultValue: false, runtimeKey: "rl.enabled" } });
  assertEquals([connect(f).status, connect(f).status], ["continue", "continue"]);
});

Deno.test("network local_ratelimit: share_key with the same token_bucket shares one bucket", () => {
  const m = memory();
  const a = filter({ shareKey: "k" }, m, "chain a");
  const b = filter({ shareKey: "k" }, m, "chain b");
  assertEquals([connect(a).status, connect(b).status], ["continue", "stop"]);
  // Without a share key, each chain's filter has its own.
  const c = filter({}, m, "chain c");
  const d = filter({}, m, "chain d");
  assertEquals([connect(c).status, connect(d).status], ["continue", "continue"]);
  // Another token bucket under the same key is another bucket.
  const e = filter(
    {
      shareKey: "k",
      tokenBucket: { maxTokens: 2, fillInterval: { seconds: 1000n } },
    },
    m,
    "chain e",
  );
  assertEquals(connect(e).status, "continue");
});
