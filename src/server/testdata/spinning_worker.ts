/**
 * A stand-in worker for `worker_pool_test.ts`: like a worker it answers `init` (and starts the
 * heartbeat the guard dog watches), `hostStats` (saying which instance it is) and `shutdown`;
 * the worker of slot 0 gets stuck in an endless loop on `resetCounters`, as a bug would.
 */
import { startHeartbeat } from "../watchdog.ts";

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
    startHeartbeat(m.heartbeat, 25);
    scope.postMessage({ type: "ready" });
  } else if (m.type === "hostStats") {
    scope.postMessage({ type: "hostStats", id: m.id, stats: { instance, slot } });
  } else if (m.type === "resetCounters" && slot === 0) {
    setTimeout(() => {
      for (;;) { /* stuck */ }
    }, 0);
  } else if (m.type === "shutdown") {
    scope.postMessage({ type: "stopped" });
  }
};
