import { assertEquals } from "../testing/assert.ts";
import { mergeSnapshots } from "../stats/snapshot.ts";
import { Store } from "../stats/store.ts";
import {
  isolateConnectionStats,
  isolateMemoryStats,
  ServerStats,
  serverVersion,
} from "./server_stats.ts";

Deno.test("server.version: the override, else the revision's first six hex digits, else 0", () => {
  assertEquals(serverVersion(1234n, "abcdef0123"), 1234);
  assertEquals(serverVersion(undefined, "abcdef0123"), 0xabcdef);
  assertEquals(serverVersion(0n, "0a1b2c"), 0x0a1b2c);
  assertEquals(serverVersion(undefined, "dev"), 0);
});

Deno.test("server.*: Envoy's gauges and import modes; isolates' memory and connections add up", () => {
  const main = new Store();
  const stats = new ServerStats(main, { concurrency: 2, restartEpoch: 3, version: 7 });
  stats.update({ state: "DRAINING", live: false, uptimeSeconds: 12 });
  const worker = new Store();
  isolateMemoryStats(worker);
  isolateConnectionStats(worker, 4);
  const other = new Store();
  isolateConnectionStats(other, 1);
  const merged = mergeSnapshots([main, worker, other].map((s) => s.snapshot({ latch: false })));
  const g = Object.fromEntries(merged.gauges.map((x) => [x.name, x]));
  const value = (n: string) => g[`server.${n}`].value;
  assertEquals(
    ["concurrency", "hot_restart_epoch", "hot_restart_generation", "version", "state", "live"]
      .map(value),
    [2, 3, 1, 7, 1, 0],
  );
  assertEquals(value("uptime"), 12);
  assertEquals(value("total_connections"), 5);
  assertEquals(value("parent_connections"), 0);
  const mainHeap = main.gauge("server.memory_allocated", "Accumulate").value;
  const workerHeap = worker.gauge("server.memory_allocated", "Accumulate").value;
  assertEquals(value("memory_allocated"), mainHeap + workerHeap);
  assertEquals(value("memory_physical_size") > 0, true);
  assertEquals(g["server.live"].importMode, "NeverImport");
  assertEquals(g["server.memory_heap_size"].importMode, "Accumulate");
  assertEquals(g["server.compilation_settings.fips_mode"].value, 0);
  const h = merged.histograms.map((x) => x.name);
  assertEquals(h, ["server.initialization_time_ms"]);
});
