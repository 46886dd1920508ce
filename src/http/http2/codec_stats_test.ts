import { assertEquals } from "../../testing/assert.ts";
import { Store } from "../../stats/store.ts";
import { HTTP2_COUNTERS, HTTP2_GAUGES, http2CodecStats } from "./codec_stats.ts";

Deno.test("codec stats: Envoy's http2.* names under the scope, shared by lookups", () => {
  const store = new Store();
  const a = http2CodecStats(store.scope("cluster.c"));
  const b = http2CodecStats(store.scope("cluster.c"));
  a.rx_reset.inc();
  b.rx_reset.inc();
  a.streams_active.inc();
  assertEquals(store.counter("cluster.c.http2.rx_reset").value, 2);
  assertEquals(store.gauge("cluster.c.http2.streams_active", "Accumulate").value, 1);
  assertEquals(HTTP2_COUNTERS.length + HTTP2_GAUGES.length, 24);
  const root = http2CodecStats(store);
  root.header_overflow.inc();
  assertEquals(store.counter("http2.header_overflow").value, 1);
});
