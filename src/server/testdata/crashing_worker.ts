/**
 * A stand-in worker for `worker_pool_test.ts`: answers `init`, `hostStats` (saying which
 * instance it is) and `stats` (a counter `x` of 5 and an accumulated gauge `g` of 1) like a
 * worker, and the worker of slot 0 crashes (an uncaught error, as a bug would) on
 * `resetCounters`.
 */
import { Store } from "../../stats/store.ts";

const instance = crypto.randomUUID();
const store = new Store();
store.counter("x").inc(5);
store.gauge("g", "Accumulate").set(1);
let slot = -1;
const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(m: unknown): void;
};
scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === "init") {
    slot = m.id;
    scope.postMessage({ type: "ready" });
  } else if (m.type === "stats") {
    scope.postMessage({ type: "stats", id: m.id, packed: store.pack(m.known, { latch: false }) });
  } else if (m.type === "hostStats") {
    scope.postMessage({ type: "hostStats", id: m.id, stats: { instance, slot } });
  } else if (m.type === "resetCounters" && slot === 0) {
    setTimeout(() => {
      throw new Error("worker bug");
    }, 0);
  } else if (m.type === "shutdown") {
    scope.postMessage({ type: "stopped" });
  }
};
