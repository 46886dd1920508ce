/**
 * Socket options Deno does not offer, set through FFI (socket_fd.ts): a cluster's
 * `upstream_connection_options.tcp_keepalive` timers and a listener's `socket_options`
 * (`core.v3.SocketOption`). Each config is compiled once into a list of setsockopt calls; a
 * connection or listener whose config has none never reaches this module.
 *
 * @module
 */
import type { TcpKeepalive } from "../../proto/gen/envoy/config/core/v3/address_pb.ts";
import type { SocketOption } from "../../proto/gen/envoy/config/core/v3/socket_option_pb.ts";
import { SocketState } from "../config/api_enums.ts";
import { getLogger } from "../common/logger.ts";
import {
  IPPROTO_TCP,
  SO_KEEPALIVE,
  SocketFds,
  socketFdUnavailable,
  SOL_SOCKET,
  TCP_KEEPCNT,
  TCP_KEEPIDLE,
  TCP_KEEPINTVL,
} from "./socket_fd.ts";

const log = getLogger("connection");

/** One setsockopt call. */
export interface RawSocketOption {
  readonly level: number;
  readonly name: number;
  /** An int value, or else `buf`. */
  readonly int?: number;
  readonly buf?: Uint8Array;
}

/** The kernel's bounds (include/net/tcp.h): a value outside them fails with EINVAL. */
const KEEPALIVE_LIMITS = {
  keepalive_probes: 127, // MAX_TCP_KEEPCNT
  keepalive_time: 32767, // MAX_TCP_KEEPIDLE
  keepalive_interval: 32767, // MAX_TCP_KEEPINTVL
} as const;

/**
 * Envoy's tcp_keepalive options: SO_KEEPALIVE, then TCP_KEEPCNT, TCP_KEEPIDLE and
 * TCP_KEEPINTVL for the fields that are set. Undefined when only SO_KEEPALIVE is asked for
 * (Deno's `setKeepAlive` does that without a descriptor). Problems (a value the kernel would
 * refuse, no way to reach the socket) go to `problems`.
 */
export function tcpKeepaliveOptions(
  k: TcpKeepalive,
  where: string,
  problems: string[],
): RawSocketOption[] | undefined {
  const fields = [
    ["keepalive_probes", k.keepaliveProbes, TCP_KEEPCNT],
    ["keepalive_time", k.keepaliveTime, TCP_KEEPIDLE],
    ["keepalive_interval", k.keepaliveInterval, TCP_KEEPINTVL],
  ] as const;
  const out: RawSocketOption[] = [];
  for (const [field, value, name] of fields) {
    if (value === undefined) continue;
    const max = KEEPALIVE_LIMITS[field];
    if (value < 1 || value > max) {
      problems.push(`${where}.${field}: ${value} is out of the kernel's range 1..${max}`);
    }
    out.push({ level: IPPROTO_TCP, name, int: value });
  }
  if (out.length === 0) return undefined;
  const why = socketFdUnavailable();
  if (why) {
    problems.push(
      `${where}: keepalive_probes, keepalive_time and keepalive_interval are set on the ` +
        `socket's descriptor, which cannot be reached here: ${why}`,
    );
  }
  return [{ level: SOL_SOCKET, name: SO_KEEPALIVE, int: 1 }, ...out];
}

/** A problem of a listener's `socket_options`: where (below the listener) and why. */
export interface SocketOptionProblem {
  /** `socket_options[i]`, or a field of it. */
  readonly field: string;
  readonly message: string;
  /** The config asks for what denvoy cannot do (rather than for something invalid). */
  readonly unsupported?: boolean;
}

/**
 * A listener's `socket_options`, applied to its listening sockets once bound: STATE_BOUND
 * and STATE_LISTENING both run after Deno's listen() (it binds and listens in one call; the
 * options Envoy sets between the two, such as keepalive or TCP_FASTOPEN, act the same once
 * the socket listens, and accepted sockets inherit them). STATE_PREBIND cannot be honoured:
 * the socket is bound before denvoy can reach it.
 */
export function listenerSocketOptions(
  opts: readonly SocketOption[],
  problems: SocketOptionProblem[],
): RawSocketOption[] | undefined {
  if (opts.length === 0) return undefined;
  const out: RawSocketOption[] = [];
  opts.forEach((o, i) => {
    const at = `socket_options[${i}]`;
    if (o.state === SocketState.STATE_PREBIND) {
      problems.push({
        field: `${at}.state`,
        message: "socket option state STATE_PREBIND (Deno binds the listening socket before " +
          "its descriptor can be reached; use STATE_BOUND or STATE_LISTENING)",
        unsupported: true,
      });
      return;
    }
    const level = Number(o.level), name = Number(o.name);
    if (level < 0 || level > 0x7fffffff) {
      problems.push({ field: `${at}.level`, message: `${o.level} is not a socket option level` });
    }
    if (name < 0 || name > 0x7fffffff) {
      problems.push({ field: `${at}.name`, message: `${o.name} is not a socket option name` });
    }
    if (o.value.case === "intValue") {
      const v = Number(o.value.value);
      if (v < -0x80000000 || v > 0x7fffffff) {
        problems.push({
          field: `${at}.int_value`,
          message: `${o.value.value} does not fit the C int setsockopt takes`,
        });
      }
      out.push({ level, name, int: v });
    } else if (o.value.case === "bufValue") out.push({ level, name, buf: o.value.value });
    else problems.push({ field: at, message: "one of int_value or buf_value is required" });
  });
  const why = socketFdUnavailable();
  if (why) {
    problems.push({
      field: "socket_options",
      message: `socket options on a listening socket that cannot be reached here: ${why}`,
      unsupported: true,
    });
  }
  return out;
}

/** Sets `opts` on one descriptor; the first option the kernel refused, or undefined. */
export function setOptions(
  fds: SocketFds,
  fd: number,
  opts: readonly RawSocketOption[],
): RawSocketOption | undefined {
  for (const o of opts) {
    const ok = o.buf
      ? fds.setBytes(fd, o.level, o.name, o.buf)
      : fds.setInt(fd, o.level, o.name, o.int!);
    if (!ok) return o;
  }
  return undefined;
}

/**
 * Sets `opts` on a connected socket (an upstream connection); false, logged, when its
 * descriptor was not found or the kernel refused an option.
 */
export function applyConnectionOptions(conn: Deno.Conn, opts: readonly RawSocketOption[]): boolean {
  const fds = SocketFds.get();
  const fd = fds ? fds.fdOf(conn) : -1;
  const failed = fd < 0 ? undefined : setOptions(fds!, fd, opts);
  if (fd >= 0 && !failed) return true;
  log.warn(
    fd < 0
      ? "socket options: the connection's descriptor was not found; its options are not set"
      : `socket options: setsockopt(level ${failed!.level}, name ${failed!.name}) failed`,
  );
  return false;
}

/**
 * Sets `opts` on this process's listening sockets bound to `ip`:`port` (each worker isolate
 * binds its own; setting them again from another isolate is harmless). An Error names the
 * option the kernel refused.
 */
export function applyListenerOptions(
  ip: string,
  port: number,
  opts: readonly RawSocketOption[],
): void {
  const fds = SocketFds.get();
  const found = fds ? fds.listenFds(ip, port) : [];
  if (found.length === 0) throw new Error("socket_options: the listening socket was not found");
  for (const fd of found) {
    const failed = setOptions(fds!, fd, opts);
    if (failed) {
      throw new Error(
        `socket_options: setsockopt(level ${failed.level}, name ${failed.name}) failed`,
      );
    }
  }
}
