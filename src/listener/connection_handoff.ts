/**
 * Moving an accepted connection from the worker that accepted it to another worker (the exact
 * connection balancer, connection_balancer.ts). A `Deno.TcpConn` cannot be given away: closing
 * it (which its worker must do once it is no longer used) shuts the socket down for every
 * descriptor of it. So a balanced listener accepts through `node:net`, whose socket closes
 * its descriptor without a shutdown: the accepting worker takes a second descriptor of the
 * socket from it (`fdForIpc`, a dup closed on exec) and closes the node socket; the number
 * travels by message (every isolate shares the process's descriptor table) to the worker
 * that keeps the connection — the accepting one too, by the same path — which opens it as a
 * `node:net` socket, takes its stream out as a resource (`takeStream`) and wraps that in the
 * runtime's own `Deno.TcpConn` class. From there the connection is like any other: listener
 * filters, TLS (whose native socket finds the descriptor through the connection's internal
 * property, set here) and the filter chain run over a `Deno.TcpConn`.
 *
 * `fdForIpc` and `takeStream` are methods of the native handle of Deno's `node:net` (seen in
 * Deno 2.9); `handOffUnavailable` says so where they are missing.
 *
 * @module
 */
import net from "node:net";
import { SocketFds } from "../network/socket_fd.ts";
import type { BalancerMemory } from "./connection_balancer.ts";

/** A connection on its way to the worker that keeps it. */
export interface HandedOffSocket {
  /** The balanced listener, by name. */
  listener: string;
  /** The worker the balancer picked. */
  worker: number;
  /** A descriptor of the socket that only this hand-off holds. */
  fd: number;
  remote: Deno.NetAddr;
  local: Deno.NetAddr;
}

/** The native handle under a `node:net` socket, as Deno 2.9 has it. */
interface NativeHandle {
  fdForIpc?(): number;
  takeStream?(): number;
}

type TcpConnClass = new (
  rid: number,
  remote: Deno.NetAddr,
  local: Deno.NetAddr,
  fd: number,
) => Deno.TcpConn;

/** The runtime's `Deno.TcpConn` class (not a global), learnt from a loopback connection. */
let tcpConnClass: Promise<TcpConnClass> | undefined;

function learnTcpConnClass(): Promise<TcpConnClass> {
  return tcpConnClass ??= (async () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
      const a = await l.accept();
      c.close();
      a.close();
      return a.constructor as TcpConnClass;
    } finally {
      l.close();
    }
  })();
}

/**
 * Why connections cannot be handed between workers here, or undefined; `listenFd` is the
 * balanced listener's socket, which a node socket briefly opens (on a second descriptor) to
 * show its native handle.
 */
export function handOffUnavailable(listenFd: number): string | undefined {
  const probe = SocketFds.get()?.dup(listenFd) ?? -1;
  if (probe < 0) return "it needs FFI to libc on Linux (run with --allow-ffi or -A)";
  const sock = new net.Socket({ fd: probe });
  const handle = (sock as unknown as { _handle: NativeHandle | null })._handle;
  const ok = typeof handle?.fdForIpc === "function" && typeof handle?.takeStream === "function";
  sock.destroy();
  return ok ? undefined : "this Deno's node:net sockets cannot give their descriptor away";
}

/**
 * Takes an accepted (paused) node socket's connection out of it as a descriptor of its own,
 * and closes the node socket (without a shutdown: the connection stays up).
 */
export function detachAccepted(sock: net.Socket): Omit<HandedOffSocket, "listener" | "worker"> {
  const handle = (sock as unknown as { _handle: NativeHandle })._handle;
  const fd = handle.fdForIpc!();
  const remote: Deno.NetAddr = {
    transport: "tcp",
    hostname: sock.remoteAddress ?? "",
    port: sock.remotePort ?? 0,
  };
  const local: Deno.NetAddr = {
    transport: "tcp",
    hostname: sock.localAddress ?? "",
    port: sock.localPort ?? 0,
  };
  sock.destroy();
  return { fd, remote, local };
}

/** Resolves once this isolate can open handed-off connections (`openHandedOff`). */
export async function prepareHandOff(): Promise<void> {
  TcpConn ??= await learnTcpConnClass();
}

let TcpConn: TcpConnClass | undefined;

/**
 * The handed-off connection as a `Deno.TcpConn`, which owns the descriptor from now on
 * (after `prepareHandOff`).
 */
export async function openHandedOff(h: HandedOffSocket): Promise<Deno.TcpConn> {
  if (!TcpConn) await prepareHandOff();
  const sock = new net.Socket({ fd: h.fd, readable: true, writable: true, allowHalfOpen: true });
  const rid = (sock as unknown as { _handle: NativeHandle })._handle.takeStream!();
  // The stream is out; the emptied handle still holds the number (opening it again, once
  // the kernel reuses it, would fail with EEXIST) until it is destroyed.
  sock.destroy();
  return new TcpConn!(rid, h.remote, h.local, h.fd);
}

/** Closes a handed-off connection that no listener takes (its worker or listener is gone). */
export function dropHandedOff(h: HandedOffSocket): void {
  SocketFds.get()?.closeFd(h.fd);
}

let memory: BalancerMemory | undefined;
let send: ((h: HandedOffSocket) => void) | undefined;

/**
 * Installs this worker's view of the balanced listeners and where hand-offs go (the main
 * thread, which passes them on to the picked worker).
 */
export function setHandOff(
  m: BalancerMemory | undefined,
  sender: ((h: HandedOffSocket) => void) | undefined,
): void {
  memory = m;
  send = sender;
}

/** The balancer memory of this isolate (undefined: nothing is balanced). */
export function balancerMemory(): BalancerMemory | undefined {
  return memory;
}

/** Sends a connection to the worker that keeps it. */
export function sendHandedOff(h: HandedOffSocket): void {
  if (send) send(h);
  else dropHandedOff(h);
}
