/**
 * An accepted `Deno.Conn` as a `node:net` socket with a native handle, for node:tls to run its
 * TLS engine on. Listeners accept through `Deno.listen` and listener filters read the
 * ClientHello (or a PROXY header) from the `Deno.Conn`; the TLS transport socket then opens a
 * second descriptor of the same socket as a `net.Socket` and gives it back the bytes already
 * read (`unshift`; node:tls feeds them to its engine first). A server `TLSSocket` over a
 * `net.Socket` attaches to its native handle, where over any other stream (the `Deno.Conn`
 * behind a JavaScript Duplex) node:tls wraps that stream in a second socket and every record
 * crosses JavaScript stream machinery twice (bench/tls_layers_bench.ts, `node_tls_fd` vs
 * `node_tls_conn`).
 *
 * The `Deno.Conn` stays open (closing it shuts the socket down for both descriptors) and idle
 * (nothing reads it again) until the connection closes it with the TLS socket
 * (network/connection.ts closes both).
 *
 * @module
 */
import net from "node:net";
import { SocketFds } from "../../../network/socket_fd.ts";

const ignore = () => {};

/**
 * `raw` as a `net.Socket` on a new descriptor of its socket, paused, with `initial` (the
 * bytes listener filters read) to be read first; undefined where descriptors cannot be reached
 * (not Linux, no FFI permission) or the socket is not found, and the caller keeps the
 * `Deno.Conn` stream.
 */
export function nativeSocket(
  raw: Deno.Conn,
  initial: Uint8Array | undefined,
): net.Socket | undefined {
  const fds = SocketFds.get();
  if (!fds) return undefined;
  const fd = fds.fdOf(raw);
  if (fd < 0) return undefined;
  const own = fds.dup(fd);
  if (own < 0) return undefined;
  // Half-open as the Deno.Conn stream is: a client's FIN must not end our side (tcp_proxy).
  const sock = new net.Socket({ fd: own, readable: true, writable: true, allowHalfOpen: true });
  // node:tls reads the peer's address while it wraps the socket; the Deno.Conn already knows
  // it, so net.Socket's cache of it is filled here rather than by a getpeername per handshake.
  const peer = raw.remoteAddr as Deno.NetAddr;
  (sock as unknown as { _peername: unknown })._peername = {
    address: peer.hostname,
    family: peer.hostname.includes(":") ? "IPv6" : "IPv4",
    port: peer.port,
  };
  // Errors reach the TLS socket over it, which reports them; an unheard one would throw.
  sock.on("error", ignore);
  sock.pause();
  if (initial && initial.length > 0) sock.unshift(initial);
  return sock;
}
