/**
 * Hot restart, Envoy's model: the process of epoch N+1 starts while epoch N serves, finds it
 * through a Unix domain socket named from `--base-id` and the epoch (`hot_restart_rpc.ts`),
 * takes its admin and its listen addresses over, starts serving, and then tells it to drain;
 * after `--parent-shutdown-time-s` it tells it to exit. Counters continue across epochs.
 *
 * How the listen sockets move. Envoy passes each listen socket's fd (SCM_RIGHTS), so the new
 * process accepts from the very same sockets and no connection queued on them is lost. In Deno
 * an fd can be received (FFI to libc `recvmsg`) and `node:net` can listen on it, but every
 * connection it accepts is then a `node:net` socket, never a `Deno.TcpConn`: the data path
 * (`network/connection.ts`) would need a second socket implementation, and every epoch after
 * the first would run on it. denvoy instead shares the addresses: every listener is bound with
 * SO_REUSEPORT, so the child binds the parent's ports (port-0 listeners included: the parent
 * names its ports) and accepts alongside the parent; only once every worker of the child
 * accepts does the parent stop accepting. Closing a listen socket resets the connections queued
 * on it, so before that the child attaches a BPF program to each reuse-port group that gives
 * every new connection to its own sockets (`reuseport_steering.ts`), and the parent goes on
 * accepting for `STEERED_ACCEPT_MS` (handshakes under way complete meanwhile) before closing.
 * The program stays until the parent has exited (or this process's own child arrives): a
 * closed listener's socket leaves the group only once its pending accept lets go of it, a
 * moment after the parent answers, and one still there then would take connections that it
 * resets as it goes. The parent's shutdown time counts from when it stopped accepting, so what
 * it accepted in the window has all of it to finish.
 * Where steering is not possible, `net.ipv4.tcp_migrate_req` = 1 (Linux 5.14+) has the kernel
 * move queued connections to the child's sockets instead; the child warns when neither holds.
 *
 * @module
 */
import { getLogger } from "../common/logger.ts";
import type { StoreSnapshot } from "../stats/snapshot.ts";
import { HOT_RESTART_VERSION } from "../version.ts";
import {
  type ChildRequest,
  domainSocketId,
  domainSocketPath,
  type ParentListener,
  type ParentReply,
  RpcStream,
} from "./hot_restart_rpc.ts";
import { ParentStats } from "./hot_restart_stats.ts";
import { ReusePortSteering, steeringTargets } from "./reuseport_steering.ts";
import type { Options } from "./options.ts";

const log = getLogger("main");

/** How long the child waits for each answer of its parent (the drain takes a moment more). */
const REPLY_TIMEOUT_MS = 5000;

/**
 * How long a steered parent goes on accepting: connections queued on its sockets, and
 * handshakes it answered before the steering (one round trip, or a retransmitted SYN-ACK),
 * arrive meanwhile.
 */
export const STEERED_ACCEPT_MS = 1000;

/** A listen address the child shares with its parent. */
export interface SharedAddress {
  ip: string;
  port: number;
}

/** What a server offers its next epoch, and does when told. */
export interface HotRestartParentHooks {
  /** The listeners it serves, with their bound ports. */
  listeners(): ParentListener[];
  /** Its `server.hot_restart_generation`. */
  generation(): number;
  /** When the first epoch started (ms since the Unix epoch), for `uptime_all_epochs`. */
  originalStartTimeMs(): number;
  /** Closes its admin listener, so the child can bind the same address. */
  shutdownAdmin(): Promise<void>;
  /**
   * Drains its connections (`--drain-strategy`, `--drain-time-s`) and stops accepting, after
   * `acceptForMs`; resolves once every worker has stopped accepting.
   */
  drainForChild(acceptForMs: number): Promise<void>;
  /** Its worker count: its sockets in each reuse-port group. */
  workers(): number;
  /** Its stats, for the child to merge. */
  stats(): Promise<StoreSnapshot>;
  /** Exits (the parent shutdown time is over). */
  terminate(): void;
}

/** What the child learnt from its parent when it connected. */
export interface ParentInfo {
  epoch: number;
  generation: number;
  workers: number;
  listeners: ParentListener[];
  originalStartTimeMs: number;
}

/** This process's side of hot restart: its own domain socket, and the link to its parent. */
export class HotRestart {
  #parent: RpcStream | undefined;
  /** Requests to the parent go one at a time (answers come in order). */
  #queue: Promise<unknown> = Promise.resolve();
  #parentTerminated = false;
  #terminateTimer: ReturnType<typeof setTimeout> | undefined;
  /** The parent's own exit, when its child is gone without asking for it. */
  #selfTerminateTimer: ReturnType<typeof setTimeout> | undefined;
  /** The child asked this process to exit. */
  #terminating = false;
  /** The reuse-port groups this process steers to its own sockets, while its parent leaves. */
  #steered: { steering: ReusePortSteering; fd: number }[] = [];
  #children = new Set<RpcStream>();
  /** The parent's stats, merged into ours while hot restarting and kept after. */
  readonly parentStats = new ParentStats();

  private constructor(
    readonly baseId: number,
    readonly options: Options,
    readonly socket: Deno.Listener,
    readonly socketName: string,
  ) {}

  /**
   * Binds this process's domain socket (choosing a free base id with `--use-dynamic-base-id`,
   * writing it to `--base-id-path`) and connects to the parent when the epoch is not 0.
   * Throws an Error naming the problem when another process holds the socket, or the parent
   * cannot be reached (unless `--skip-hot-restart-on-no-parent`).
   */
  static async start(options: Options): Promise<HotRestart> {
    const epoch = options.restartEpoch;
    let hr: HotRestart | undefined;
    if (options.useDynamicBaseId) {
      for (let i = 0; i < 100 && !hr; i++) {
        // Envoy's range: room for the base id to be multiplied by 10.
        const baseId = crypto.getRandomValues(new Uint32Array(1))[0] & 0x0FFFFFFF;
        hr = await HotRestart.#bind(baseId, options).catch(() => undefined);
      }
      if (!hr) throw new Error("unable to find an unused base id after 100 tries");
    } else hr = await HotRestart.#bind(options.baseId, options);
    if (options.baseIdPath) Deno.writeTextFileSync(options.baseIdPath, `${hr.baseId}`);
    log.info(`hot restart: base id ${hr.baseId}, domain socket ${printable(hr.socketName)}`);
    if (epoch > 0) await hr.#connectParent();
    return hr;
  }

  static async #bind(baseId: number, options: Options): Promise<HotRestart> {
    const path = domainSocketPath(options.socketPath, "parent", baseId, options.restartEpoch);
    const id = domainSocketId(baseId, options.restartEpoch);
    const inUse = () =>
      new Error(
        `unable to bind domain socket with base_id=${baseId}, id=${id}, errno=98 ` +
          `(see --base-id option): another process (the same --base-id and --restart-epoch, ` +
          `or an epoch 3 apart) holds ${printable(path)}`,
      );
    if (!path.startsWith("\0")) {
      // A socket file left by a process that died: reuse its name, unless someone listens.
      const alive = await Deno.connect({ transport: "unix", path }).then(
        (c) => (c.close(), true),
        () => false,
      );
      if (alive) throw inUse();
      try {
        Deno.removeSync(path);
      } catch { /* no stale file */ }
    }
    let socket: Deno.Listener;
    try {
      socket = Deno.listen({ transport: "unix", path });
    } catch (e) {
      if (e instanceof Deno.errors.AddrInUse) throw inUse();
      throw new Error(`unable to bind domain socket ${printable(path)}: ${(e as Error).message}`);
    }
    if (!path.startsWith("\0")) Deno.chmodSync(path, options.socketMode);
    return new HotRestart(baseId, options, socket, path);
  }

  async #connectParent(): Promise<void> {
    const o = this.options;
    const path = domainSocketPath(o.socketPath, "parent", this.baseId, o.restartEpoch - 1);
    try {
      this.#parent = new RpcStream(await Deno.connect({ transport: "unix", path }));
    } catch (e) {
      const why = `no parent process (epoch ${o.restartEpoch - 1}, base id ${this.baseId}) ` +
        `listens on ${printable(path)}: ${(e as Error).message}`;
      if (!o.skipHotRestartOnNoParent) {
        throw new Error(
          `hot restart: ${why} (start with --restart-epoch 0, or pass ` +
            `--skip-hot-restart-on-no-parent to start without a parent)`,
        );
      }
      log.warn(`hot restart: ${why}; falling back to a regular start: binding the listeners`);
      this.#parentTerminated = true;
    }
  }

  /** Whether a parent is still there to hand over from (or to drain). */
  get hasParent(): boolean {
    return this.#parent !== undefined && !this.#parentTerminated;
  }

  /** One request to the parent and its answer; undefined when the parent is gone. */
  #ask(req: ChildRequest): Promise<ParentReply | undefined> {
    const next = this.#queue.then(async () => {
      const parent = this.#parent;
      if (!parent || this.#parentTerminated) return undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), REPLY_TIMEOUT_MS);
      });
      try {
        await parent.send(req);
        const reply = await Promise.race([parent.receive(), timeout]) as ParentReply | undefined;
        if (!reply) this.#lostParent();
        return reply;
      } catch {
        this.#lostParent();
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    });
    this.#queue = next.catch(() => {});
    return next;
  }

  #lostParent(): void {
    if (this.#parentTerminated) return;
    this.#parentTerminated = true;
    this.parentStats.parentGone();
    this.#parent?.close();
  }

  /**
   * The parent's listeners and identity; it closes its admin first, so this process can bind
   * the same admin address. Throws when the parent runs another hot restart version.
   */
  async takeOver(): Promise<ParentInfo | undefined> {
    const reply = await this.#ask({ type: "listeners" });
    if (reply?.type !== "listeners") return undefined;
    if (reply.version !== HOT_RESTART_VERSION) {
      this.#lostParent();
      throw new Error(
        `hot restart: the parent's hot restart version is '${reply.version}', this one's ` +
          `'${HOT_RESTART_VERSION}': they cannot hand over (stop the parent first)`,
      );
    }
    const admin = await this.#ask({ type: "shutdownAdmin" });
    log.info(
      `hot restart: taking over from epoch ${reply.epoch} ` +
        `(${reply.listeners.length} listener(s))`,
    );
    return {
      epoch: reply.epoch,
      generation: reply.generation,
      workers: reply.workers,
      listeners: reply.listeners,
      originalStartTimeMs: admin?.type === "adminShutdown" ? admin.originalStartTimeMs : Date.now(),
    };
  }

  /**
   * Every worker of this process (`concurrency` of them) accepts on the `shared` addresses: new
   * connections are steered away from the parent's sockets, the parent stops accepting and
   * drains, and exits after `--parent-shutdown-time-s` (`onTerminated` runs then).
   */
  async drainParent(
    parent: ParentInfo,
    shared: SharedAddress[],
    concurrency: number,
    onTerminated: () => void,
  ): Promise<void> {
    await this.refreshParentStats();
    const steered = shared.length > 0 ? this.#steer(parent.workers, shared, concurrency) : [];
    this.#steered = steered;
    const reply = await this.#ask({ type: "drain", steered: steered.length === shared.length });
    if (reply?.type !== "draining") {
      this.#releaseSteering();
      log.warn(
        `hot restart: the parent (epoch ${parent.epoch}) is gone before the hand-over ` +
          "completed; this epoch serves the listeners alone",
      );
      return;
    }
    log.info(
      `hot restart: parent draining; it shuts down in ${this.options.parentShutdownTimeS}s`,
    );
    this.#terminateTimer = setTimeout(async () => {
      await this.refreshParentStats();
      await this.#ask({ type: "terminate" });
      this.#lostParent();
      // The parent's sockets are gone: the kernel spreads connections over ours again.
      this.#releaseSteering();
      log.info("hot restart: parent shut down");
      onTerminated();
    }, this.options.parentShutdownTimeS * 1000);
  }

  /** Detaches the steering programs this process attached. */
  #releaseSteering(): void {
    const steered = this.#steered.splice(0);
    for (const { steering, fd } of steered) steering.detach(fd);
    steered[0]?.steering.close();
  }

  /**
   * Gives every new connection to this process's sockets (the last `concurrency` of each
   * group, after the parent's `parentWorkers`; see `steeringTargets`). Returns the groups
   * steered: all of them, or none (and a warning when the kernel would not move queued
   * connections either).
   */
  #steer(
    parentWorkers: number,
    shared: SharedAddress[],
    concurrency: number,
  ): { steering: ReusePortSteering; fd: number }[] {
    const steering = ReusePortSteering.open();
    const { first, count } = steeringTargets(parentWorkers, concurrency);
    const done: { steering: ReusePortSteering; fd: number }[] = [];
    for (const a of shared) {
      const fds = steering?.listenFds(a.ip, a.port) ?? [];
      if (fds.length !== concurrency || !steering!.steer(fds[0], first, count)) {
        for (const d of done) d.steering.detach(d.fd);
        steering?.close();
        warnWithoutRequestMigration(`${a.ip}:${a.port}`);
        return [];
      }
      done.push({ steering: steering!, fd: fds[0] });
    }
    log.debug(`hot restart: new connections steered to this epoch's ${concurrency} socket(s)`);
    return done;
  }

  /** Fetches the parent's stats (unless `--skip-hot-restart-parent-stats`). */
  async refreshParentStats(): Promise<void> {
    if (this.options.skipHotRestartParentStats || !this.hasParent) return;
    const reply = await this.#ask({ type: "stats" });
    if (reply?.type === "stats") this.parentStats.update(reply.stats);
  }

  /** Answers the next epoch's requests until this process stops. */
  serveChild(hooks: HotRestartParentHooks): void {
    (async () => {
      for (;;) {
        let conn: Deno.Conn;
        try {
          conn = await this.socket.accept();
        } catch {
          return; // closed
        }
        const child = new RpcStream(conn);
        this.#children.add(child);
        let drained = false;
        this.#answer(child, hooks, () => drained = true).finally(() => {
          this.#children.delete(child);
          child.close();
          if (!drained || this.#terminating) return;
          // The child that took over is gone before telling this process to exit: exit by
          // itself after the shutdown time, rather than drain forever.
          log.warn(
            `hot restart: the next epoch is gone; shutting down in ` +
              `${this.options.parentShutdownTimeS}s`,
          );
          this.#selfTerminateTimer = setTimeout(
            () => hooks.terminate(),
            this.options.parentShutdownTimeS * 1000,
          );
        });
      }
    })();
  }

  async #answer(
    child: RpcStream,
    hooks: HotRestartParentHooks,
    onDrained: () => void,
  ): Promise<void> {
    for (;;) {
      const req = await child.receive() as ChildRequest | undefined;
      if (!req) return;
      let reply: ParentReply;
      switch (req.type) {
        case "listeners":
          // The next epoch steers the groups now: this one's program must not stay behind it.
          this.#releaseSteering();
          reply = {
            type: "listeners",
            version: HOT_RESTART_VERSION,
            epoch: this.options.restartEpoch,
            generation: hooks.generation(),
            workers: hooks.workers(),
            listeners: hooks.listeners(),
          };
          break;
        case "shutdownAdmin":
          await hooks.shutdownAdmin();
          reply = { type: "adminShutdown", originalStartTimeMs: hooks.originalStartTimeMs() };
          break;
        case "drain":
          log.warn(`hot restart: epoch ${this.options.restartEpoch + 1} serves: draining`);
          await hooks.drainForChild(req.steered ? STEERED_ACCEPT_MS : 0);
          onDrained();
          reply = { type: "draining" };
          break;
        case "stats":
          reply = { type: "stats", stats: await hooks.stats() };
          break;
        case "terminate":
          this.#terminating = true;
          await child.send({ type: "terminating" }).catch(() => {});
          log.warn("hot restart: the next epoch asks this one to shut down");
          hooks.terminate();
          return;
        default:
          reply = { type: "error", message: `unknown request` };
      }
      await child.send(reply).catch(() => {});
    }
  }

  /** Closes the domain socket and the link to the parent. */
  close(): void {
    clearTimeout(this.#terminateTimer);
    clearTimeout(this.#selfTerminateTimer);
    this.#releaseSteering();
    try {
      this.socket.close();
    } catch { /* already closed */ }
    if (!this.socketName.startsWith("\0")) {
      try {
        Deno.removeSync(this.socketName);
      } catch { /* gone */ }
    }
    for (const c of this.#children) c.close();
    this.#parent?.close();
  }
}

/** A socket name for messages: the abstract namespace's NUL shown as '@'. */
function printable(path: string): string {
  return path.startsWith("\0") ? "@" + path.slice(1) : path;
}

/**
 * Without steering nor request migration, connections queued on the parent's sockets when it
 * closes them are reset.
 */
function warnWithoutRequestMigration(address: string): void {
  let value = "";
  try {
    value = Deno.readTextFileSync("/proc/sys/net/ipv4/tcp_migrate_req").trim();
  } catch { /* not Linux, or too old a kernel */ }
  if (value === "1") return;
  log.warn(
    `hot restart: new connections to ${address} cannot be steered to this epoch (no FFI, or ` +
      "not Linux) and net.ipv4.tcp_migrate_req is not 1: connections still queued on the " +
      "parent's listen sockets when it stops accepting will be reset (set it to 1, Linux 5.14+)",
  );
}
