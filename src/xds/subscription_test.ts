import { assertEquals } from "../testing/assert.ts";
import { Store } from "../stats/store.ts";
import type { DecodeResult } from "./decode.ts";
import { CDS } from "./resource_types.ts";
import {
  SubscriptionBase,
  type SubscriptionCallbacks,
  type UpdateFailureReason,
} from "./subscription.ts";
import { SubscriptionStats } from "./subscription_stats.ts";

/** A transport the test drives by hand. */
class Manual extends SubscriptionBase {
  protected begin(): void {}
  protected end(): void {}
  push(r: DecodeResult): void {
    this.deliver(r);
  }
  fail(detail: string): void {
    this.fetchFailed(detail);
  }
}

function setup(apply: () => void = () => {}, timeoutMs = 0) {
  const store = new Store();
  const failures: UpdateFailureReason[] = [];
  const callbacks: SubscriptionCallbacks = {
    onConfigUpdate: apply,
    onConfigUpdateFailed: (reason) => failures.push(reason),
  };
  const sub = new Manual(
    CDS,
    new SubscriptionStats(store, "cluster_manager.cds"),
    callbacks,
    timeoutMs,
    "test",
  );
  const count = (n: string) => store.counter(`cluster_manager.cds.${n}`).value;
  return { store, sub, failures, count };
}

const update = (versionInfo: string, n: number): DecodeResult => ({
  ok: true,
  update: {
    versionInfo,
    resources: Array.from({ length: n }, (_, i) => ({
      name: `c${i}`,
      message: { $typeName: "envoy.config.cluster.v3.Cluster" } as never,
    })),
  },
});

Deno.test("stats: success, empty, rejected (decode or apply) and failure are Envoy's counters", () => {
  let reject = false;
  const { sub, failures, count, store } = setup(() => {
    if (reject) throw new Error("no");
  });
  sub.start();
  sub.push(update("1", 2));
  sub.push(update("2", 0));
  reject = true;
  sub.push(update("3", 1));
  sub.push({ ok: false, rejected: true, issues: [] });
  sub.push({ ok: false, rejected: false, issues: [] });
  sub.fail("gone");
  assertEquals(
    ["update_attempt", "update_success", "update_empty", "update_rejected", "update_failure"]
      .map(count),
    [6, 2, 1, 2, 2],
  );
  assertEquals(store.textReadout("cluster_manager.cds.version_text").value, "2");
  assertEquals(failures, [
    "UpdateRejected",
    "UpdateRejected",
    "UpdateRejected",
    "ConnectionFailure",
  ]);
  sub.stop();
});

Deno.test("the initial fetch times out once: counted, and the subscriber told", async () => {
  const { sub, failures, count } = setup(() => {}, 1);
  sub.start();
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(count("init_fetch_timeout"), 1);
  assertEquals(failures, ["FetchTimedOut"]);
  sub.stop();
  const answered = setup(() => {}, 1);
  answered.sub.start();
  answered.sub.push(update("1", 1));
  await new Promise((r) => setTimeout(r, 20));
  assertEquals(answered.count("init_fetch_timeout"), 0);
  answered.sub.stop();
});
