/**
 * Gives an isolate's dead memory back to the OS once it goes quiet.
 *
 * V8 sizes its young generation by how much survives scavenges, and a burst that opens
 * thousands of connections (or start-up, which loads the whole config schema) grows it, up to
 * ~48 MB in a worker here; old-generation pages fill with objects that died after promotion. Nothing shrinks it afterwards: V8 collects garbage only when JavaScript allocates,
 * and Deno does not run V8's memory reducer for an idle isolate. An idle process therefore keeps
 * the peak of its last burst: with 5,000 idle keep-alive connections, ~15 KiB of RSS per
 * connection, of which ~6.5 KiB is the grown young generation and its garbage
 * (bench/RESULTS.md, issue 9).
 *
 * Each isolate checks, twice a second, whether it did any work since the last check: whether a
 * connection read anything (`ioActivity`, one increment per read) or JavaScript allocated a lot
 * (V8's `total_allocated_bytes`: the main thread's config and xDS work). After `quietMs` of
 * neither, and if the heap's physical size grew by `minGrowthBytes` since the last release, it
 * runs one full GC, which shrinks the young generation back to its minimum and returns the
 * freed pages to the OS (V8's "last-resort" flavour, which repeats the collection, frees the
 * same memory here in twice the time). Once per quiet period: a quiet isolate whose heap has
 * not grown again is left alone. It starts once the isolate serves, never during start-up.
 *
 * Quiet means the whole process is quiet, not just this isolate: every isolate publishes its
 * read count at each check on a shared board (`ActivityBoard`) and reads the others'. A release
 * is not private to its isolate: `malloc_trim` walks and locks every thread's malloc arena,
 * so a worker's allocations wait for it, and the collection's parallel phases run on the V8
 * threads all isolates share, taking CPU from busy workers. The main thread never reads a
 * connection, so without the board its start-up release (two full GCs of the config's heap)
 * ran 2 s after start whatever the workers were doing, and landed in the middle of the first
 * load (`bench/http_bench.ts --gc` saw it in its measured window; RESULTS.md, session 7).
 *
 * The collection stops the isolate for tens of milliseconds on a quiet machine (more with
 * thousands of connections open, whose objects it traverses), so it runs only when there is
 * nothing to do; a request that arrives during it waits that long.
 *
 * @module
 */

import { getLogger } from "./logger.ts";

/** What the release decision reads from the isolate. */
export interface HeapProbe {
  /** A count that moves whenever the isolate did data-path work (see `ioActivity`). */
  activity(): number;
  /** Bytes JavaScript allocated since the isolate started (monotonic; V8 counts whole chunks). */
  allocatedBytes(): number;
  /** Bytes of the heap backed by memory (all spaces). */
  physicalBytes(): number;
}

/** When to release. */
export interface IdleMemoryReleaseOptions {
  /** How long the isolate must have been quiet. */
  quietMs: number;
  /**
   * Allocation between two checks above which the isolate is busy even without data-path
   * work (the main thread loading config, xDS). V8 counts allocation in whole buffers, so an
   * idle isolate still shows a few MB here.
   */
  busyAllocationBytes: number;
  /** Growth of the heap's physical size since the last release that is worth a collection. */
  minGrowthBytes: number;
}

/** The defaults: 2 s quiet, 16 MiB allocated per check is busy, 8 MiB of growth. */
export const IDLE_MEMORY_RELEASE: IdleMemoryReleaseOptions = {
  quietMs: 2000,
  busyAllocationBytes: 16 * 1024 * 1024,
  minGrowthBytes: 8 * 1024 * 1024,
};

/**
 * Data-path work in this isolate: connections count their reads here (one increment, no
 * clock), so that a release never runs while a connection is moving bytes.
 */
export const ioActivity = { count: 0 };

/** How often an isolate checks. */
const CHECK_INTERVAL_MS = 500;

/**
 * Where the isolates of the process publish their data-path activity: one cell per worker
 * slot in a SharedArrayBuffer that the main thread makes and hands to every worker. Each worker
 * writes its own cell at its check (twice a second, never per read) and every isolate sums the
 * cells to tell whether the process is quiet.
 */
export interface ActivityBoard {
  readonly cells: Int32Array;
  /** This isolate's cell (a worker's slot), or -1 for the main thread, which only reads. */
  readonly own: number;
}

/** A board with a cell for each of `workers` worker slots. */
export function newActivityBoard(workers: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, workers) * Int32Array.BYTES_PER_ELEMENT));
}

/**
 * The process's activity as one number that moves whenever any isolate read something since
 * its last check: this isolate's own count plus every worker's last published one. Publishes
 * this isolate's count first when it owns a cell.
 */
export function processActivity(board: ActivityBoard | undefined): number {
  const mine = ioActivity.count;
  if (board === undefined) return mine;
  const { cells, own } = board;
  if (own >= 0) Atomics.store(cells, own, mine | 0);
  let sum = mine;
  for (let i = 0; i < cells.length; i++) if (i !== own) sum += Atomics.load(cells, i);
  return sum;
}

/** The release decision, apart from V8 and the clock (unit-tested). */
export class IdleMemoryRelease {
  #lastActivity: number;
  #lastAllocated: number;
  #quietSince: number;
  /** Physical heap size right after the last release (0: never released). */
  #baseline = 0;
  /** Releases so far. */
  releases = 0;

  constructor(
    readonly probe: HeapProbe,
    readonly collect: () => void,
    readonly options: IdleMemoryReleaseOptions = IDLE_MEMORY_RELEASE,
    now = 0,
  ) {
    this.#lastActivity = probe.activity();
    this.#lastAllocated = probe.allocatedBytes();
    this.#quietSince = now;
  }

  /** One periodic check at time `now` (ms); true when it collected. */
  check(now: number): boolean {
    const o = this.options;
    const activity = this.probe.activity();
    const allocated = this.probe.allocatedBytes();
    const busy = activity !== this.#lastActivity ||
      allocated - this.#lastAllocated > o.busyAllocationBytes;
    this.#lastActivity = activity;
    this.#lastAllocated = allocated;
    if (busy) {
      this.#quietSince = now;
      return false;
    }
    if (now - this.#quietSince < o.quietMs) return false;
    if (this.probe.physicalBytes() < this.#baseline + o.minGrowthBytes) return false;
    this.collect();
    this.releases++;
    this.#baseline = this.probe.physicalBytes();
    // Whatever the collection itself allocated is not activity.
    this.#lastAllocated = this.probe.allocatedBytes();
    return true;
  }
}

type GcFunction = (options: { type: "major"; execution: "sync" }) => void;

interface NodeBuiltins {
  getBuiltinModule(id: "node:v8"): {
    setFlagsFromString(flags: string): void;
    getHeapStatistics(): { total_physical_size: number; total_allocated_bytes?: number };
  };
  getBuiltinModule(id: "node:vm"): { runInNewContext(code: string): unknown };
}

/** node:v8 and node:vm, loaded when first needed (not at start-up). */
function builtins(): NodeBuiltins {
  return (globalThis as unknown as { process: NodeBuiltins }).process;
}

/**
 * V8's `gc` for this isolate. Without `--expose-gc` on the command line, the flag is set just
 * long enough to create one context that has it (node:vm), the way Node programs obtain it;
 * the flag is process-wide, so it is cleared again at once. Undefined if the runtime refuses.
 */
function isolateGc(): GcFunction | undefined {
  const own = (globalThis as { gc?: GcFunction }).gc;
  if (typeof own === "function") return own;
  try {
    const v8 = builtins().getBuiltinModule("node:v8");
    v8.setFlagsFromString("--expose-gc");
    try {
      const gc = builtins().getBuiltinModule("node:vm").runInNewContext("gc");
      return typeof gc === "function" ? gc as GcFunction : undefined;
    } finally {
      v8.setFlagsFromString("--no-expose-gc");
    }
  } catch {
    return undefined;
  }
}

type MallocTrim = () => void;

/**
 * glibc's `malloc_trim(0)`, which returns the free pages inside malloc's arenas to the OS:
 * the runtime's per-connection state (sockets, pending reads) and the GC's own work lists live
 * there, and a burst leaves them full of free holes that glibc does not give back by itself.
 * Undefined where there is no glibc or no FFI permission.
 */
function mallocTrim(): MallocTrim | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    return () => void lib.symbols.malloc_trim(0n);
  } catch {
    return undefined;
  }
}

let gcFn: GcFunction | undefined | null = null;
let trimFn: MallocTrim | undefined | null = null;

/**
 * One full, synchronous garbage collection of this isolate, then `malloc_trim`: gives the
 * freed heap pages and malloc's free arena pages back to the OS. Shared by the idle release
 * below and the overload manager's `shrink_heap` action (Envoy's releases tcmalloc's free
 * memory). Returns false, doing nothing, where the runtime offers no `gc`.
 */
export function releaseFreeMemory(): boolean {
  if (gcFn === null) gcFn = isolateGc();
  if (gcFn === undefined) return false;
  if (trimFn === null) trimFn = mallocTrim();
  gcFn({ type: "major", execution: "sync" });
  trimFn?.();
  return true;
}

let started = false;
const log = getLogger("main");
const mib = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

/**
 * Starts the periodic check in this isolate (once; the main thread and each worker call it),
 * quiet meaning quiet on every isolate of `board`. The interval never keeps the process alive.
 */
export function startIdleMemoryRelease(
  board?: ActivityBoard,
  options: IdleMemoryReleaseOptions = IDLE_MEMORY_RELEASE,
): void {
  if (started) return;
  started = true;
  const v8 = builtins().getBuiltinModule("node:v8");
  const probe: HeapProbe = {
    activity: () => processActivity(board),
    allocatedBytes: () => v8.getHeapStatistics().total_allocated_bytes ?? 0,
    physicalBytes: () => v8.getHeapStatistics().total_physical_size,
  };
  // `gc` is made before the first collection, not at start-up (a context costs ~1 MB).
  const release = new IdleMemoryRelease(
    probe,
    () => {
      const before = probe.physicalBytes();
      const t0 = performance.now();
      if (!releaseFreeMemory()) {
        clearInterval(id);
        return;
      }
      log.debug(() =>
        `idle: heap ${mib(before)} -> ${mib(probe.physicalBytes())} MiB in ${
          (performance.now() - t0).toFixed(1)
        } ms`
      );
    },
    options,
    performance.now(),
  );
  const id = setInterval(() => release.check(performance.now()), CHECK_INTERVAL_MS);
  Deno.unrefTimer(id);
}
