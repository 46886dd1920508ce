import { assertEquals } from "../testing/assert.ts";
import { type PackedSnapshot, PackedStatsTable } from "./packed_snapshot.ts";
import { SnapshotMerger } from "./snapshot.ts";
import { Store } from "./store.ts";

/** What the main thread makes of a reply: the worker's stats, merged alone. */
function unpack(table: PackedStatsTable, p: PackedSnapshot) {
  table.learn(p);
  const m = new SnapshotMerger();
  table.mergeInto(m, p);
  return m.result();
}

function fill(s: Store, n: number) {
  for (let i = 0; i < n; i++) {
    s.counter(`c.${i}`).inc(i);
    s.gauge(`g.${i}`, i % 2 ? "Accumulate" : "NeverImport").set(i * 2);
    s.histogram(`h.${i}`, "Milliseconds").record(i * 3 + 0.5);
    s.textReadout(`t.${i}`).set(`v${i}`);
  }
}

Deno.test("a packed snapshot unpacks to the store's snapshot, names sent only once", () => {
  const worker = new Store();
  const twin = new Store();
  fill(worker, 3);
  fill(twin, 3);
  const table = new PackedStatsTable();
  const first = worker.pack(table.known(), { latch: false });
  assertEquals(first.newCounters.length, 3);
  assertEquals(unpack(table, first), twin.snapshot({ latch: false }));

  // More stats and values later: only the new names travel, every value does.
  worker.counter("c.0").inc(5);
  twin.counter("c.0").inc(5);
  worker.counter("late").inc();
  twin.counter("late").inc();
  worker.histogram("h.late", "Unspecified", [1, 2]).record(1.5);
  twin.histogram("h.late", "Unspecified", [1, 2]).record(1.5);
  const second = worker.pack(table.known());
  assertEquals(second.newCounters, ["late"]);
  assertEquals(second.newGauges, []);
  assertEquals(second.newHistograms.map((h) => h.name), ["h.late"]);
  assertEquals(unpack(table, second), twin.snapshot());
});

Deno.test("a reply that never arrived is simply asked for again", () => {
  const worker = new Store();
  fill(worker, 2);
  const table = new PackedStatsTable();
  worker.pack(table.known(), { latch: false }); // lost (admin timeout): table not updated
  const again = worker.pack(table.known(), { latch: false });
  assertEquals(again.newCounters, ["c.0", "c.1"]);
  assertEquals(unpack(table, again).counters.map((c) => c.value), [0, 1]);
});

Deno.test("two replies made for the same known counts (an admin read during a flush) both apply", () => {
  const worker = new Store();
  fill(worker, 2);
  const table = new PackedStatsTable();
  const known = table.known();
  const a = worker.pack(known, { latch: false });
  const b = worker.pack(known, { latch: true });
  table.learn(a);
  table.learn(b);
  assertEquals(table.known().counters, 2);
  assertEquals(unpack(table, b).counters.map((c) => [c.name, c.delta]), [["c.0", 0], ["c.1", 1]]);
});

Deno.test("flush increases are computed from values: a lost reply is counted by the next flush", () => {
  const worker = new Store();
  const c = worker.counter("rq");
  const table = new PackedStatsTable();
  const flush = () => {
    const p = worker.pack(table.known(), { latch: true, latchCounters: false });
    table.learn(p);
    const m = new SnapshotMerger();
    table.mergeInto(m, p, true);
    return m.result().counters[0].delta;
  };
  c.inc(3);
  assertEquals(flush(), 3);
  c.inc(2);
  worker.pack(table.known(), { latch: true, latchCounters: false }); // reply lost
  c.inc(1);
  assertEquals(flush(), 3);
  assertEquals(flush(), 0);
  worker.reset(); // /reset_counters
  c.inc(4);
  assertEquals(flush(), 4);
});
