/**
 * The main thread's view of its worker isolates: starts them, sends them config and updates,
 * replaces a worker that crashes (without touching the others' connections), and stops them.
 */
import { getLogger } from "../common/logger.ts";
import type { FromWorker, ToWorker } from "./worker.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";

const log = getLogger("main");

/** How long a stopping worker may take to drain and flush before it is terminated. */
const STOP_TIMEOUT_MS = 10_000;

function newWorker(): Worker {
  return new Worker(new URL("./worker_entry.ts", import.meta.url), { type: "module" });
}

interface Slot {
  id: number;
  worker: Worker;
  stopped?: () => void;
}

/** N workers running `worker_entry.ts`. */
export class WorkerPool {
  #slots: Slot[] = [];
  #init: ((id: number) => ToWorker) | undefined;
  #stopping = false;
  /** Workers replaced after crashing (a stat in issue #4: server.worker_restarts). */
  restarts = 0;

  #prespawned: Worker[] = [];

  /**
   * Creates `n` workers now, so they load their modules while the main thread is still
   * loading config (start-up time is mostly module loading, and it overlaps this way).
   */
  prespawn(n: number): void {
    for (let i = 0; i < n; i++) this.#prespawned.push(newWorker());
  }

  /** Starts `n` workers; resolves when all are serving, rejects on the first start error. */
  async start(n: number, init: (id: number) => ToWorker): Promise<void> {
    this.#init = init;
    await Promise.all(Array.from({ length: n }, (_, id) => this.#spawn(id)));
    for (const w of this.#prespawned.splice(0)) w.terminate();
  }

  #spawn(id: number): Promise<void> {
    const worker = this.#prespawned.shift() ?? newWorker();
    const slot: Slot = { id, worker };
    this.#slots[id] = slot;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.onmessage = (e: MessageEvent<FromWorker>) => {
        const m = e.data;
        if (m.type === "ready") {
          started = true;
          log.debug(`worker ${id} ready`);
          resolve();
        } else if (m.type === "error") {
          if (!started) reject(new Error(m.message));
          else log.error(`worker ${id}: ${m.message}`);
        } else if (m.type === "stopped") slot.stopped?.();
        else if (m.type === "stats") this.#statsReplies.get(m.id)?.(m.snapshot);
        else if (m.type === "logsReopened") this.#acks.get(m.id)?.();
      };
      worker.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        const msg = `worker ${id} crashed: ${e.message}`;
        if (!started) {
          reject(new Error(msg));
          return;
        }
        log.error(msg);
        worker.terminate();
        if (this.#stopping) {
          slot.stopped?.();
          return;
        }
        // Only this worker's connections were lost; a fresh one takes its place.
        this.restarts++;
        this.#spawn(id).catch((err) => log.critical(`worker ${id} restart failed: ${err.message}`));
      };
      worker.postMessage(this.#init!(id));
    });
  }

  readonly #statsReplies = new Map<number, (s: StoreSnapshot) => void>();
  #nextStatsId = 1;

  /**
   * Every worker's stats snapshot. A worker that does not answer within `timeoutMs` (busy or
   * restarting) is left out rather than holding up the admin.
   */
  collectStats(timeoutMs = 1000): Promise<StoreSnapshot[]> {
    const slots = this.#slots.filter(Boolean);
    return Promise.all(slots.map((s) =>
      new Promise<StoreSnapshot | undefined>((resolve) => {
        const id = this.#nextStatsId++;
        const timer = setTimeout(() => {
          this.#statsReplies.delete(id);
          resolve(undefined);
        }, timeoutMs);
        this.#statsReplies.set(id, (snap) => {
          clearTimeout(timer);
          this.#statsReplies.delete(id);
          resolve(snap);
        });
        s.worker.postMessage({ type: "stats", id } satisfies ToWorker);
      })
    )).then((all) => all.filter((x): x is StoreSnapshot => x !== undefined));
  }

  readonly #acks = new Map<number, () => void>();

  /**
   * Asks every worker to reopen its access log files; resolves once all did (a worker that
   * does not answer within `timeoutMs`, busy or restarting, is not waited for).
   */
  reopenLogs(timeoutMs = 5000): Promise<void> {
    const slots = this.#slots.filter(Boolean);
    return Promise.all(slots.map((s) =>
      new Promise<void>((resolve) => {
        const id = this.#nextStatsId++;
        const done = () => {
          clearTimeout(timer);
          this.#acks.delete(id);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        this.#acks.set(id, done);
        s.worker.postMessage({ type: "reopenLogs", id } satisfies ToWorker);
      })
    )).then(() => {});
  }

  /** Sends a message to every worker. */
  broadcast(m: ToWorker): void {
    for (const s of this.#slots) s?.worker.postMessage(m);
  }

  /** Asks every worker to close its listeners and flush, then terminates them. */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const w of this.#prespawned.splice(0)) w.terminate();
    await Promise.all(
      this.#slots.filter(Boolean).map((s) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
          s.stopped = () => {
            clearTimeout(timer);
            resolve();
          };
          s.worker.postMessage({ type: "shutdown" } satisfies ToWorker);
        }).then(() => s.worker.terminate())
      ),
    );
    this.#slots = [];
  }
}
