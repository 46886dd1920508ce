/**
 * A listener: binds its address, accepts connections, picks each one's filter chain and hands
 * the connection to that chain's terminal network filter. Connections that match no chain are
 * closed, as in Envoy. The listener's own `access_log` records every connection when it ends,
 * and connections rejected for want of a filter chain (flag NR).
 */
import { reportBug } from "../common/error_boundary.ts";
import { SlotList } from "../common/slot_list.ts";
import type { Listener as ListenerConfig } from "../../proto/gen/envoy/config/listener/v3/listener_pb.ts";
import { equals } from "@bufbuild/protobuf";
import type { FilterChain } from "../../proto/gen/envoy/config/listener/v3/listener_components_pb.ts";
import { messageSchema } from "../config/api.ts";
import { getLogger } from "../common/logger.ts";
import type { ServerContext } from "../config/extensions.ts";
import { Connection, type ConnectionOwner, formatNetAddr } from "../network/connection.ts";
import type { NetworkFilterFactoryCb } from "../network/filter.ts";
import type { DownstreamTransportSocketFactory } from "../network/transport_socket.ts";
import { durationMs } from "../common/duration.ts";
import { formatAddress } from "../network/address.ts";
import { ipBytes, ipText } from "../network/socket_fd.ts";
import {
  applyListenerOptions,
  listenerSocketOptions,
  type RawSocketOption,
  type SocketOptionProblem,
} from "../network/socket_options.ts";
import { type ConnectionFacts, FilterChainMatcher } from "./filter_chain_match.ts";
import { FilterChainMatcherTree } from "./filter_chain_matcher_tree.ts";
import {
  type AcceptedSocket,
  ListenerFilterManager,
  type ListenerFilterOwner,
  ListenerFilterStats,
} from "./listener_filter.ts";
import { buildListenerFilters } from "./listener_filters_config.ts";
import { ecdsNetworkFilter } from "./ecds_filters.ts";
import {
  addHandOffTarget,
  findHandOffTarget,
  type HandOffTarget,
  removeHandOffTarget,
} from "./original_dst_handoff.ts";
import { listenerStatName, ListenerStats } from "../stats/data_path_stats.ts";
import {
  type AccessLogInstance,
  createAccessLogs,
} from "../extensions/access_loggers/access_log.ts";
import { type FilterChainDescription, StreamInfo } from "../stream_info/stream_info.ts";
import { overloadState } from "../server/overload_state.ts";
import net from "node:net";
import { SocketFds } from "../network/socket_fd.ts";
import {
  BALANCED_LISTENER_CAPACITY,
  balancerIndex,
  ExactConnectionBalancer,
} from "./connection_balancer.ts";
import {
  balancerMemory,
  detachAccepted,
  dropHandedOff,
  type HandedOffSocket,
  handOffUnavailable,
  openHandedOff,
  prepareHandOff,
  sendHandedOff,
} from "./connection_handoff.ts";

const log = getLogger("conn_handler");

const NO_PROTOCOLS: readonly string[] = [];

/** A filter chain ready to run: its terminal network filter. */
interface BuiltChain {
  name: string;
  /** Its config: an in-place update keeps a chain whose config is unchanged. */
  config: FilterChain;
  /** The connections it serves. */
  connections: SlotList<Connection>;
  /** The owner of its connections that have no access-log record (made on first use). */
  owner?: ConnectionOwner;
  start: NetworkFilterFactoryCb;
  /** What access logs read about the chain, built once. */
  description: FilterChainDescription;
  /** Its transport socket's handshake (TLS); undefined for plaintext. */
  transportSocket?: DownstreamTransportSocketFactory;
}

/** Builds a chain's network filters through the extension registry. */
function buildChain(
  chain: FilterChain,
  listener: ListenerConfig,
  server: ServerContext,
  where: string,
): BuiltChain {
  const ts = chain.transportSocket;
  // Found by its config's type when it has one (as Envoy does), else by name.
  const tsUrl = ts?.configType.case === "typedConfig" ? ts.configType.value.typeUrl : undefined;
  const tsFactory = tsUrl
    ? server.extensions.byTypeUrl(tsUrl)
    : ts && server.extensions.byName(ts.name);
  if (ts && !tsFactory?.createDownstreamTransportSocket) {
    throw new Error(`${where}: transport socket '${ts.name}' is not supported yet`);
  }
  const transportSocket = ts && tsFactory?.createDownstreamTransportSocket?.(
    ts.configType.case === "typedConfig" ? ts.configType.value : undefined,
    server,
    {
      where: `${where}.transport_socket`,
      handshakeTimeoutMs: durationMs(chain.transportSocketConnectTimeout, 0),
    },
  );
  const filters = chain.filters;
  if (filters.length === 0) throw new Error(`${where}: a filter chain needs at least one filter`);
  const starts = filters.map((f, i) => {
    const at = `${where}.filters[${i}]`;
    // Filters know where they are configured (keys state shared across workers).
    const filterCtx: ServerContext = { ...server, placement: at };
    if (f.configType.case === "configDiscovery") {
      return ecdsNetworkFilter(f.name, f.configType.value, filterCtx);
    }
    const typeUrl = f.configType.case === "typedConfig" ? f.configType.value.typeUrl : undefined;
    const factory = typeUrl
      ? server.extensions.byTypeUrl(typeUrl)
      : server.extensions.byName(f.name);
    if (!factory?.createNetworkFilter) {
      throw new Error(`${where}: network filter '${f.name}' has no implementation`);
    }
    return factory.createNetworkFilter(
      f.configType.case === "typedConfig" ? f.configType.value : undefined,
      filterCtx,
    );
  });
  const terminal = starts[starts.length - 1];
  const before = starts.slice(0, -1);
  // Filters before the terminal one see the connection first and may close it.
  const start: NetworkFilterFactoryCb = before.length === 0 ? terminal : (conn, ctx) => {
    for (const f of before) if (f(conn, ctx) === "stop") return;
    terminal(conn, ctx);
  };
  return {
    name: chain.name,
    config: chain,
    connections: new SlotList<Connection>(),
    start,
    description: {
      name: chain.name,
      metadata: chain.metadata?.filterMetadata,
      listenerMetadata: listener.metadata?.filterMetadata,
    },
    transportSocket,
  };
}

/** The chains of a listener and the matcher that picks one for each connection. */
interface FilterChains {
  matcher: { select(f: ConnectionFacts): BuiltChain | undefined };
  /** Every chain, the default one included. */
  all: BuiltChain[];
}

/**
 * Builds the filter chains of `config` and their matcher; a chain whose config equals one of
 * `reuse` is that chain (with its connections), as Envoy keys filter chains by their message.
 */
function buildFilterChains(
  config: ListenerConfig,
  server: ServerContext,
  reuse: readonly BuiltChain[],
): FilterChains {
  // The schema from the API registry, and only for an update: the generated one would boot
  // the listener API's descriptors in every worker at start-up.
  const schema = reuse.length > 0
    ? messageSchema<FilterChain>("envoy.config.listener.v3.FilterChain")
    : undefined;
  const build = (c: FilterChain, where: string) =>
    reuse.find((r) => equals(schema!, r.config, c)) ?? buildChain(c, config, server, where);
  const chains = config.filterChains.map((c, i) => ({
    config: c,
    value: build(c, `listener '${config.name}' filter_chains[${i}]`),
  }));
  const dflt = config.defaultFilterChain
    ? build(config.defaultFilterChain, `listener '${config.name}' default_filter_chain`)
    : undefined;
  let matcher;
  try {
    matcher = config.filterChainMatcher
      ? new FilterChainMatcherTree(config.filterChainMatcher, chains, dflt)
      : new FilterChainMatcher(chains, dflt);
  } catch (e) {
    throw new Error(`listener '${config.name}': ${(e as Error).message}`);
  }
  return { matcher, all: [...chains.map((c) => c.value), ...(dflt ? [dflt] : [])] };
}

/** Filter chains an in-place update removed, whose connections drain. */
export interface DrainingFilterChains {
  readonly connectionCount: number;
  /** Starts the drain sequence of a random `share` of their connections (1: all). */
  drainConnections(share: number): void;
  /** Closes what is left of their connections (the drain time is over). */
  close(closeAll: true): void;
}

/** Envoy's default listener_filters_timeout. */
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

/** The owner of a chain's connections: the listener, told which chain the connection left. */
class ChainConnectionOwner implements ConnectionOwner {
  constructor(readonly listener: ActiveListener, readonly chain: BuiltChain) {}
  onConnectionFinished(conn: Connection): void {
    this.listener.connectionFinished(conn, this.chain, undefined);
  }
}

/** A connection's owner when the listener's access logs need its StreamInfo at the end. */
class LoggedConnectionOwner implements ConnectionOwner {
  constructor(
    readonly listener: ActiveListener,
    readonly chain: BuiltChain,
    readonly si: StreamInfo,
  ) {}
  onConnectionFinished(conn: Connection): void {
    this.listener.connectionFinished(conn, this.chain, this.si);
  }
}

/** A bound listener. */
export class ActiveListener implements ListenerFilterOwner, HandOffTarget {
  readonly name: string;
  readonly address: string;
  /** The configured IP (the hand-off of `use_original_dst` finds listeners by it). */
  ip = "";
  /** `use_original_dst`: connections restored to another listener's address go to it. */
  readonly #useOriginalDst: boolean;
  #chains: FilterChains;
  /** Chains in-place updates removed, until their connections are gone. */
  #drainingChains: BuiltChain[] = [];
  /** Runs listener_filters on each socket; undefined when the listener has none. */
  #listenerFilters: ListenerFilterManager | undefined;
  readonly #filters: ReturnType<typeof buildListenerFilters>;
  #statName = "";
  #listener: Deno.TcpListener | undefined;
  readonly #bufferLimit: number;
  /** Named after the bound address, so known only once bound. */
  #stats!: ListenerStats;
  /** `access_log`: written when each connection ends. */
  readonly #accessLogs: AccessLogInstance[];
  /** Counted in the global downstream connection limit, never refused by it. */
  readonly #ignoreGlobalConnLimit: boolean;
  /** Where the workers count this listener's connections (overload_state.ts). */
  readonly #cxSlot: number;
  /** `socket_options`, set on the listening socket once bound. */
  readonly #socketOptions: readonly RawSocketOption[] | undefined;
  /** `connection_balance_config.exact_balance` over more than one worker. */
  readonly #balancer: ExactConnectionBalancer | undefined;
  readonly #workerId: number;
  /** A balanced listener's socket (it accepts through node:net, see connection_handoff.ts). */
  #balancedFd = -1;
  #balancedPort = 0;
  #balancedServer: net.Server | undefined;
  /** Whether this instance is a candidate of its balancer's picks (it accepts). */
  #registered = false;

  /**
   * The name its connections drain under (server/drain_manager.ts): the listener's name,
   * except for an instance that replaces one (LDS, a reloaded bootstrap), so that only the
   * old instance's connections drain.
   */
  readonly drainKey: string;

  /** Builds every filter chain now, so config errors surface before anything binds. */
  constructor(
    public config: ListenerConfig,
    readonly server: ServerContext,
    drainKey: string = config.name,
  ) {
    this.name = config.name;
    this.drainKey = drainKey;
    this.address = formatAddress(config.address);
    this.#chains = buildFilterChains(config, server, []);
    const where = `listener '${config.name}'`;
    this.#filters = buildListenerFilters(config.listenerFilters, {
      server,
      listenerScope: () => server.stats.scope(`listener.${this.#statName}`),
    }, where);
    this.#bufferLimit = config.perConnectionBufferLimitBytes ?? 1024 * 1024;
    this.#ignoreGlobalConnLimit = config.ignoreGlobalConnLimit;
    this.#useOriginalDst = config.useOriginalDst ?? false;
    this.#cxSlot = overloadState().listenerSlot(config.name);
    this.#workerId = server.workerId ?? 0;
    const balanced = balancerMemory();
    if (config.connectionBalanceConfig && balanced) {
      const index = balancerIndex(balanced, config.name);
      if (index === undefined) {
        throw new Error(
          `listener '${config.name}': connection_balance_config: more than ` +
            `${BALANCED_LISTENER_CAPACITY} listener names have balanced in this process`,
        );
      }
      this.#balancer = new ExactConnectionBalancer(balanced, index);
    }
    const problems: SocketOptionProblem[] = [];
    this.#socketOptions = listenerSocketOptions(config.socketOptions, problems);
    if (problems.length > 0) {
      throw new Error(`${where}: ${problems.map((p) => `${p.field}: ${p.message}`).join("; ")}`);
    }
    try {
      this.#accessLogs = createAccessLogs(config.accessLog);
    } catch (e) {
      throw new Error(`listener '${config.name}' access_log: ${(e as Error).message}`);
    }
  }

  /**
   * Binds the socket; throws an Error with a clear message (e.g. address in use).
   * `reusePort` lets every worker bind the same address; `port` overrides the configured one
   * (the main thread resolves port 0 once, so all workers share the port it got).
   */
  bind(reusePort = false, port?: number): void {
    const sa = this.config.address?.address;
    if (sa?.case !== "socketAddress") {
      throw new Error(`listener '${this.name}': only socket_address listeners are supported yet`);
    }
    const ps = sa.value.portSpecifier;
    port ??= ps.case === "portValue" ? ps.value : 0;
    try {
      if (this.#balancer) {
        const fds = SocketFds.get();
        if (!fds) throw new Error("exact_balance needs FFI to libc on Linux (--allow-ffi or -A)");
        this.#balancedFd = fds.listenReusePort(sa.value.address, port);
        this.#balancedPort = port || fds.boundPort(this.#balancedFd);
        const why = handOffUnavailable(this.#balancedFd);
        if (why) {
          this.#closeSocket();
          throw new Error(`connection_balance_config: exact_balance: ${why}`);
        }
      } else {
        this.#listener = Deno.listen({
          hostname: sa.value.address,
          port,
          transport: "tcp",
          reusePort,
        } as Deno.TcpListenOptions);
      }
    } catch (e) {
      const why = e instanceof Deno.errors.AddrInUse
        ? "address already in use"
        : e instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (e as Error).message;
      throw new Error(`listener '${this.name}': cannot bind ${this.address}: ${why}`);
    }
    if (this.#socketOptions) {
      try {
        applyListenerOptions(sa.value.address, this.port, this.#socketOptions);
      } catch (e) {
        this.#closeSocket();
        throw new Error(`listener '${this.name}': ${(e as Error).message}`);
      }
    }
    // As the original destination is written (e.g. "::1" for "0:0:0:0:0:0:0:1").
    const ip = ipBytes(sa.value.address);
    this.ip = ip ? ipText(ip) : sa.value.address;
    addHandOffTarget(this);
    const host = sa.value.address.includes(":") ? `[${sa.value.address}]` : sa.value.address;
    // listener.<stat_prefix or address>.*, and this worker's listener.<...>.worker_<id>.*.
    this.#statName = this.config.statPrefix || listenerStatName(`${host}:${this.port}`);
    this.#stats = new ListenerStats(
      this.server.stats,
      this.#statName,
      `worker_${this.server.workerId ?? 0}`,
    );
    // Envoy's TLS contexts declare their stats when the listener is built.
    for (const c of this.#chains.all) c.transportSocket?.declareStats?.(this.#stats.scope);
    if (this.#filters.length > 0) {
      this.#listenerFilters = new ListenerFilterManager(
        this.#filters,
        durationMs(this.config.listenerFiltersTimeout, DEFAULT_LISTENER_FILTERS_TIMEOUT_MS),
        this.config.continueOnListenerFiltersTimeout,
        new ListenerFilterStats(this.server.stats.scope(`listener.${this.#statName}`)),
        this,
      );
    }
  }

  /** Connections accepted and not yet closed. */
  get connectionCount(): number {
    let n = 0;
    for (const c of this.#chains.all) n += c.connections.size;
    for (const c of this.#drainingChains) n += c.connections.size;
    return n;
  }

  /**
   * Envoy's in-place filter chain update: `config` differs from this listener's only in its
   * filter chains (`filterChainOnlyChange`). The socket stays; a chain whose config is
   * unchanged keeps serving, with its connections; new chains are built (throws, changing
   * nothing, when one cannot be); the removed chains are returned for their connections to
   * drain, or undefined when none has a connection.
   */
  updateFilterChains(config: ListenerConfig): DrainingFilterChains | undefined {
    const next = buildFilterChains(config, this.server, this.#chains.all);
    const removed = this.#chains.all.filter((c) => !next.all.includes(c));
    if (this.#stats) {
      for (const c of next.all) {
        if (!this.#chains.all.includes(c)) c.transportSocket?.declareStats?.(this.#stats.scope);
      }
    }
    this.config = config;
    this.#chains = next;
    const draining = removed.filter((c) => c.connections.size > 0);
    if (draining.length === 0) return undefined;
    this.#drainingChains.push(...draining);
    return {
      get connectionCount() {
        let n = 0;
        for (const c of draining) n += c.connections.size;
        return n;
      },
      drainConnections: (share) => drainShare(draining, share),
      close: () => {
        this.#drainingChains = this.#drainingChains.filter((c) => !draining.includes(c));
        for (const c of draining) for (const conn of c.connections.toArray()) conn.close();
      },
    };
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    if (this.#balancer) return this.#balancedPort;
    return (this.#listener?.addr as Deno.NetAddr | undefined)?.port ?? 0;
  }

  /** Accepts connections until closed. */
  async serve(): Promise<void> {
    if (this.#balancer) return await this.#serveBalanced(this.#balancer);
    const l = this.#listener;
    if (!l) throw new Error(`listener '${this.name}' is not bound`);
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await l.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        log.warn(`listener '${this.name}': accept failed: ${(e as Error).message}`);
        continue;
      }
      // stop_accepting_connections: nothing more is taken from the backlog while saturated.
      if (overloadState().acceptPaused) await overloadState().accepting();
      // The accept loop is an entry point of the data path: a bug in setting up one
      // connection closes that connection, never the listener.
      try {
        this.#onAccept(conn);
      } catch (e) {
        reportBug(`listener '${this.name}' accept`, e);
        try {
          conn.close();
        } catch { /* already closed */ }
      }
    }
  }

  /**
   * Accepts through node:net until closed, and gives each connection to the worker the exact
   * balancer picks (this one included), as Envoy's `ActiveTcpListener::onAcceptWorker`.
   */
  async #serveBalanced(balancer: ExactConnectionBalancer): Promise<void> {
    if (this.#balancedFd < 0) throw new Error(`listener '${this.name}' is not bound`);
    await prepareHandOff();
    if (this.#balancedFd < 0) return;
    const server = this.#balancedServer = net.createServer({ pauseOnConnect: true });
    const closed = new Promise<void>((resolve) => server.on("close", resolve));
    // Accepted sockets wait in order while stop_accepting_connections holds.
    let queue = Promise.resolve();
    server.on("connection", (sock: net.Socket) => {
      const take = () => {
        try {
          const h = detachAccepted(sock);
          const worker = balancer.pick(this.#workerId);
          const handOff = { listener: this.name, worker, ...h };
          if (worker === this.#workerId) this.adoptHandedOff(handOff);
          else {
            log.debug(() => `listener '${this.name}': connection handed to worker ${worker}`);
            sendHandedOff(handOff);
          }
        } catch (e) {
          reportBug(`listener '${this.name}' accept`, e);
          sock.destroy();
        }
      };
      if (overloadState().acceptPaused) queue = queue.then(() => overloadState().accepting());
      queue = queue.then(take);
    });
    server.on("error", (e) => log.warn(`listener '${this.name}': accept failed: ${e.message}`));
    server.listen({ fd: this.#balancedFd });
    balancer.register(this.#workerId);
    this.#registered = true;
    log.debug(() =>
      `listener '${this.name}': worker ${this.#workerId} takes part in exact balance`
    );
    await closed;
  }

  /**
   * Takes a connection of this listener that the balancer gave to this worker (accepted here
   * or by another worker); it is closed when this listener no longer accepts.
   */
  adoptHandedOff(h: HandedOffSocket): void {
    if (!this.#balancer || this.#balancedFd < 0) {
      dropHandedOff(h);
      this.#balancer?.release(this.#workerId);
      return;
    }
    openHandedOff(h).then((raw) => {
      try {
        this.#onAccept(raw);
      } catch (e) {
        reportBug(`listener '${this.name}' accept`, e);
        raw.close();
      }
    }, (e) => {
      reportBug(`listener '${this.name}' hand-off`, e);
      dropHandedOff(h);
      this.#balancer?.release(this.#workerId);
    });
  }

  /** The connection is gone from this listener's counts (the overload state's, the balancer's). */
  #release(): void {
    overloadState().release(this.#cxSlot);
    this.#balancer?.release(this.#workerId);
  }

  #onAccept(raw: Deno.TcpConn): void {
    const cxSlot = this.#cxSlot;
    const rejected = overloadState().admit(this.#ignoreGlobalConnLimit, cxSlot);
    if (rejected) {
      this.#stats.rejected(rejected);
      this.#balancer?.release(this.#workerId);
      raw.close();
      return;
    }
    try {
      raw.setNoDelay(true);
    } catch { /* the peer may already be gone */ }
    if (this.#listenerFilters) {
      this.#listenerFilters.accept(raw);
      return;
    }
    const conn = new Connection(raw, this.#bufferLimit);
    const local = raw.localAddr as Deno.NetAddr;
    this.#newConnection(conn, {
      destinationIp: local.hostname,
      destinationPort: local.port,
      sourceIp: conn.remoteIp,
      sourcePort: conn.remotePort,
      directSourceIp: conn.remoteIp,
      transportProtocol: "raw_buffer",
      applicationProtocols: NO_PROTOCOLS,
    }, undefined);
  }

  /** ListenerFilterOwner: the socket's listener filters are done; its filter chain takes it. */
  onListenerFiltersDone(s: AcceptedSocket): void {
    if (this.#useOriginalDst && s.localAddressRestored && s.mayHandOff) {
      const to = findHandOffTarget<ActiveListener>(s.localIp, s.localPort);
      if (to && to !== this && to.#takeHandOff(s, this)) return;
    }
    const conn = new Connection(s.takeConn(), this.#bufferLimit);
    if (
      s.remoteIp !== s.directRemoteIp || s.remotePort !== s.directRemotePort ||
      s.localAddressRestored
    ) {
      conn.restoreAddresses(s.remoteIp, s.remotePort, s.localIp, s.localPort);
      // Restored, even to the socket's own address: an ORIGINAL_DST cluster then uses it.
      if (s.localAddressRestored) conn.directLocalAddress ??= formatNetAddr(s.raw.localAddr);
    }
    this.#newConnection(conn, {
      destinationIp: s.localIp,
      destinationPort: s.localPort,
      sourceIp: s.remoteIp,
      sourcePort: s.remotePort,
      directSourceIp: s.directRemoteIp,
      serverName: s.serverName,
      transportProtocol: s.transportProtocol || "raw_buffer",
      applicationProtocols: s.applicationProtocols,
    }, s);
  }

  /**
   * Takes a socket `use_original_dst` handed off from another listener: it counts against
   * this listener's connection limits from now on, and this listener's filters and chains take
   * it (Envoy's `onAcceptWorker` without a further hand-off). False when it cannot be taken (a
   * read of the other listener's filters is still in flight, which this listener's filters
   * would race): the other listener keeps it.
   */
  #takeHandOff(s: AcceptedSocket, from: ActiveListener): boolean {
    if (!this.#listening || (s.readPending && this.#listenerFilters)) return false;
    from.#release();
    const rejected = overloadState().admit(this.#ignoreGlobalConnLimit, this.#cxSlot);
    if (rejected) {
      this.#stats.rejected(rejected);
      try {
        s.raw.close();
      } catch { /* already closed */ }
      return true;
    }
    s.mayHandOff = false;
    if (this.#listenerFilters) this.#listenerFilters.adopt(s);
    else this.onListenerFiltersDone(s);
    return true;
  }

  /** ListenerFilterOwner: a listener filter closed the socket (or it timed out): log it. */
  onListenerFiltersClosed(s: AcceptedSocket): void {
    this.#release();
    if (this.#accessLogs.length === 0) return;
    const si = new StreamInfo();
    si.downstreamRemoteAddress = formatNetAddr({
      transport: "tcp",
      hostname: s.remoteIp,
      port: s.remotePort,
    });
    si.downstreamDirectRemoteAddress = formatNetAddr(s.raw.remoteAddr);
    si.downstreamLocalAddress = formatNetAddr({
      transport: "tcp",
      hostname: s.localIp,
      port: s.localPort,
    });
    if (s.localAddressRestored) si.downstreamDirectLocalAddress = formatNetAddr(s.raw.localAddr);
    this.#listenerFilterFacts(si, s);
    si.finish();
    const ctx = { streamInfo: si, accessLogType: "NotSet" as const };
    for (const al of this.#accessLogs) al.log(ctx);
  }

  /** What the listener filters found, on a StreamInfo of the listener's access logs. */
  #listenerFilterFacts(si: StreamInfo, s: AcceptedSocket): void {
    si.requestedServerName = s.serverName;
    si.ja3Hash = s.ja3;
    si.ja4Hash = s.ja4;
    if (s.dynamicMetadata) Object.assign(si.dynamicMetadata, s.dynamicMetadata);
    if (s.filterState) { for (const [k, v] of s.filterState) si.filterState.set(k, v); }
  }

  /** Finds the connection's filter chain and hands the connection to it (or closes it). */
  #newConnection(conn: Connection, facts: ConnectionFacts, s: AcceptedSocket | undefined): void {
    const chain = this.#chains.matcher.select(facts);
    const si = this.#accessLogs.length > 0 ? this.#connectionInfo(conn, s) : undefined;
    if (!chain) {
      this.#stats.noFilterChainMatch.inc();
      log.debug(() => `listener '${this.name}': no filter chain for ${conn.remoteAddress}`);
      if (si) {
        si.setFlag("NR");
        si.responseCodeDetails = "filter_chain_not_found";
      }
      conn.close();
      this.#release();
      if (si) this.#log(conn, si);
      return;
    }
    chain.connections.add(conn);
    this.#stats.connectionOpened();
    if (si) si.filterChain = chain.description;
    // One owner per chain (no object per connection) unless the access logs need the record.
    conn.owner = si
      ? new LoggedConnectionOwner(this, chain, si)
      : (chain.owner ??= new ChainConnectionOwner(this, chain));
    const ts = chain.transportSocket;
    if (ts) {
      // The bytes listener filters read (a ClientHello) are the handshake's first bytes.
      ts.start(conn, conn.conn, s?.data, this.#stats.scope, () => {
        if (si) si.downstreamTls = conn.ssl;
        this.#startChain(chain, conn, si, facts, s);
      });
    } else {
      // The bytes listener filters read are the connection's first read, and the buffer they
      // read into its read buffer (no second buffer, no copy but the one every read makes).
      if (s) conn.setFirstRead(s.data, s.idleReadBuffer);
      this.#startChain(chain, conn, si, facts, s);
    }
  }

  /** A connection of `chain` is gone (`si`: its access log's record). */
  connectionFinished(conn: Connection, chain: BuiltChain, si: StreamInfo | undefined): void {
    this.#release();
    chain.connections.remove(conn);
    this.#stats.connectionClosed(performance.now() - conn.openedMs);
    if (si) this.#log(conn, si);
  }

  /** Hands the connection to the chain's network filter (after its transport socket's handshake). */
  #startChain(
    chain: BuiltChain,
    conn: Connection,
    si: StreamInfo | undefined,
    facts: ConnectionFacts,
    s: AcceptedSocket | undefined,
  ): void {
    try {
      // One object of one shape per connection (no spread): streamInfo is undefined without
      // listener access logs.
      chain.start(conn, {
        listenerName: this.name,
        drainKey: this.drainKey,
        requestedServerName: facts.serverName ?? (conn.ssl?.serverName || undefined),
        ja3: s?.ja3,
        ja4: s?.ja4,
        dynamicMetadata: s?.dynamicMetadata,
        filterState: s?.filterState,
        filterChain: chain.description,
        streamInfo: si,
      });
    } catch (e) {
      reportBug(`listener '${this.name}' filter chain`, e);
      conn.close();
    }
  }

  /** A connection's StreamInfo for the listener's access logs. */
  #connectionInfo(conn: Connection, s: AcceptedSocket | undefined): StreamInfo {
    const si = new StreamInfo();
    si.downstreamRemoteAddress = conn.remoteAddress;
    si.downstreamDirectRemoteAddress = conn.directRemoteAddress;
    si.downstreamLocalAddress = conn.localAddress;
    si.downstreamDirectLocalAddress = conn.directLocalAddress;
    si.connectionId = conn.id;
    if (s) this.#listenerFilterFacts(si, s);
    return si;
  }

  /** Writes the listener's access logs for a connection that ended. */
  #log(conn: Connection, si: StreamInfo): void {
    si.finish();
    // The connection's own wire bytes (an HTTP connection's streams count theirs separately).
    si.downstreamWireBytesReceived = conn.bytesRead;
    si.downstreamWireBytesSent = conn.bytesWritten;
    const ctx = { streamInfo: si, accessLogType: "NotSet" as const };
    for (const al of this.#accessLogs) al.log(ctx);
  }

  /**
   * Starts the drain sequence of a random `share` of the open connections (1: all of them; a
   * gradual drain asks again later, for a bigger share of those it spared).
   */
  drainConnections(share: number): void {
    drainShare(this.#chains.all, share);
    drainShare(this.#drainingChains, share);
  }

  /** Whether the socket is bound and open. */
  get #listening(): boolean {
    return this.#listener !== undefined || this.#balancedFd >= 0;
  }

  /** Closes the listening socket (a balanced one leaves its balancer first). */
  #closeSocket(): void {
    try {
      this.#listener?.close();
    } catch { /* already closed */ }
    this.#listener = undefined;
    if (this.#balancedFd < 0) return;
    if (this.#registered) this.#balancer!.unregister(this.#workerId);
    this.#registered = false;
    // The node server owns the descriptor once it listens on it.
    if (this.#balancedServer) this.#balancedServer.close();
    else SocketFds.get()?.closeFd(this.#balancedFd);
    this.#balancedFd = -1;
  }

  /** Stops accepting; open connections are left to finish (drain) unless `closeAll`. */
  close(closeAll = false): void {
    this.#closeSocket();
    removeHandOffTarget(this);
    this.#listenerFilters?.closeAll();
    if (!closeAll) return;
    for (const chain of [...this.#chains.all, ...this.#drainingChains]) {
      for (const c of chain.connections.toArray()) c.close();
    }
  }
}

/** Starts the drain sequence of a random `share` of the connections of `chains` (1: all). */
function drainShare(chains: readonly BuiltChain[], share: number): void {
  for (const chain of chains) {
    for (const c of chain.connections.toArray()) {
      if (share >= 1 || Math.random() < share) c.startDrain();
    }
  }
}
