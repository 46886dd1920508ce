/**
 * A stand-in worker for `worker_pool_test.ts`: answers `init` and `hostStats` like a worker
 * (its answer says which instance it is), and the worker of slot 0 crashes (an uncaught
 * error, as a bug would) on `resetCounters`.
 */
const instance = crypto.randomUUID();
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
