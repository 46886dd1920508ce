/**
 * The file descriptor behind a `Deno.Conn`, and the socket options Deno does not offer
 * (TCP_KEEPIDLE, SO_ORIGINAL_DST, any `core.v3.SocketOption`), reached through FFI to libc
 * (Linux only). Deno hands out no descriptor, so the socket is found by what it is connected
 * to: the descriptor whose getsockname and getpeername equal the connection's local and remote
 * addresses (a TCP 4-tuple belongs to one open socket at a time, so a match is that socket,
 * whatever number the kernel reuses).
 *
 * Cost: an accepted `Deno.TcpConn` carries its descriptor in an internal property of the
 * runtime; it is only a hint, checked with two syscalls until it has once named its
 * connection's socket (what the property means is the runtime's, the same for every
 * connection, and an open connection's descriptor is its own), so a runtime that drops or
 * changes it costs a scan, never a wrong socket, and the TLS path that looks up every accepted
 * connection pays no syscall for it. Otherwise (connections from `Deno.connect`) the
 * descriptors are scanned upwards from 0 with one getsockname each (getpeername only when the
 * local address matches), stopping at the match: the kernel gives a new socket the lowest free
 * number, so the scan is bounded by the descriptors open below it, whatever the isolate (all
 * worker isolates share the process's table). Nothing is cached per connection: each lookup is
 * made once, when the connection is set up, and a cached number could name another socket
 * once the kernel reuses it. What is cached is per isolate: libc's handle and the runtime's
 * property key. Only configs that need a descriptor (the original_dst listener filter, TCP
 * keepalive timers, socket_options) ever call this.
 *
 * @module
 */

/** Socket option levels and names (Linux). */
export const SOL_SOCKET = 1;
export const SO_KEEPALIVE = 9;
export const IPPROTO_TCP = 6;
export const TCP_KEEPIDLE = 4;
export const TCP_KEEPINTVL = 5;
export const TCP_KEEPCNT = 6;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
/** `SO_ORIGINAL_DST` (SOL_IP) and `IP6T_SO_ORIGINAL_DST` (SOL_IPV6) share the number 80. */
export const SO_ORIGINAL_DST = 80;
const AF_INET = 2;
const AF_INET6 = 10;

/** An IP address and port read from a socket. */
export interface SocketAddress {
  readonly ip: string;
  readonly port: number;
}

/**
 * The 4 or 16 bytes of an IP address in text form (IPv4, IPv6 with `::` and an embedded
 * dotted quad such as `::ffff:10.0.0.1`); undefined when the text is not an address.
 */
export function ipBytes(ip: string): Uint8Array | undefined {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (v4) {
    const b = v4.slice(1).map(Number);
    return b.every((x) => x <= 255) ? new Uint8Array(b) : undefined;
  }
  if (!ip.includes(":")) return undefined;
  const zone = ip.indexOf("%");
  let text = zone >= 0 ? ip.slice(0, zone) : ip;
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: Uint8Array | undefined;
  if (tailV4) {
    tail = ipBytes(tailV4[1]);
    if (!tail) return undefined;
    text = text.slice(0, -tailV4[1].length) + "0:0";
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill("0"), ...rest];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(all[i])) return undefined;
    const v = parseInt(all[i], 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  }
  if (tail) out.set(tail, 12);
  return out;
}

/** Text of 4 or 16 address bytes, as Deno writes addresses (IPv6 compressed, lower case). */
export function ipText(b: Uint8Array): string {
  if (b.length === 4) return b.join(".");
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${b.subarray(12).join(".")}`;
  }
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(":");
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** Decodes a `sockaddr_in` / `sockaddr_in6`; undefined for another family. */
export function decodeSockaddr(sa: Uint8Array): SocketAddress | undefined {
  const dv = new DataView(sa.buffer, sa.byteOffset, sa.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2);
  if (family === AF_INET) return { ip: ipText(sa.subarray(4, 8)), port };
  if (family === AF_INET6) return { ip: ipText(sa.subarray(8, 24)), port };
  return undefined;
}

/** Whether a `sockaddr_in` / `sockaddr_in6` holds `ip` (its bytes) and `port`. */
export function sockaddrIs(sa: Uint8Array, ip: Uint8Array, port: number): boolean {
  if (((sa[2] << 8) | sa[3]) !== port) return false;
  const family = sa[0] | (sa[1] << 8);
  const at = family === AF_INET ? 4 : family === AF_INET6 ? 8 : -1;
  if (at < 0 || (at === 4 ? 4 : 16) !== ip.length) return false;
  for (let i = 0; i < ip.length; i++) if (sa[at + i] !== ip[i]) return false;
  return true;
}

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
/** Above any `net.core.somaxconn`, which caps it: Envoy's default backlog on Linux. */
const LISTEN_BACKLOG = 65535;
const EADDRINUSE = 98;
const EACCES = 13;
const EADDRNOTAVAIL = 99;

/** fcntl's "duplicate, close-on-exec" command. */
const F_DUPFD_CLOEXEC = 1030;

/** Why descriptors cannot be reached here (another OS, no FFI permission, no libc), or undefined. */
export function socketFdUnavailable(): string | undefined {
  if (Deno.build.os !== "linux") return `socket options need Linux (this is ${Deno.build.os})`;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return "socket options need FFI to libc: run with --allow-ffi (or -A)";
    }
  } catch { /* a runtime without the permissions API: try loading libc */ }
  return SocketFds.get() ? undefined : "libc could not be loaded through FFI";
}

/** The runtime's internal key of an accepted connection's descriptor (found once). */
let fdKey: symbol | undefined;

function fdHint(conn: Deno.Conn): number | undefined {
  if (fdKey === undefined) {
    // Only learnt from a connection that has it (connect()'s connections do not).
    fdKey = Object.getOwnPropertySymbols(conn).find((s) => s.description === "Deno.internal.fd");
    if (fdKey === undefined) return undefined;
  }
  const v = (conn as unknown as Record<symbol, unknown>)[fdKey];
  return typeof v === "number" ? v : undefined;
}

let instance: SocketFds | null | undefined;

/** libc's socket calls on descriptors of this process. One per isolate. */
export class SocketFds {
  readonly #sa = new Uint8Array(128);
  readonly #len = new Uint32Array(1);
  readonly #lenBytes = new Uint8Array(this.#len.buffer);
  readonly #int = new Int32Array(1);
  readonly #intBytes = new Uint8Array(this.#int.buffer);
  /** Whether the runtime's descriptor property has named its connection's socket once. */
  #hintChecked = false;

  private constructor(readonly lib: Deno.DynamicLibrary<typeof SYMBOLS>) {}

  /** This isolate's instance; undefined where libc cannot be reached. */
  static get(): SocketFds | undefined {
    if (instance !== undefined) return instance ?? undefined;
    instance = null;
    if (Deno.build.os !== "linux") return undefined;
    for (const name of ["libc.so.6", "libc.so"]) {
      try {
        instance = new SocketFds(Deno.dlopen(name, SYMBOLS));
        break;
      } catch { /* try the next name; no FFI permission fails them all */ }
    }
    return instance ?? undefined;
  }

  /** The descriptor of the connected TCP socket `conn`, or -1 when none matches. */
  fdOf(conn: Deno.Conn): number {
    const local = conn.localAddr as Deno.NetAddr;
    const remote = conn.remoteAddr as Deno.NetAddr;
    if (local.transport !== "tcp" || remote.transport !== "tcp") return -1;
    // The runtime's own descriptor of this open connection (no other socket can have its
    // number while it is open): its two ports are enough to confirm the property still means
    // that, without parsing the addresses (TLS takes this path for every connection).
    const hint = fdHint(conn);
    if (hint !== undefined) {
      if (this.#hintChecked) return hint;
      if (this.#portsAre(hint, local.port, remote.port)) {
        this.#hintChecked = true;
        return hint;
      }
    }
    const lip = ipBytes(local.hostname), rip = ipBytes(remote.hostname);
    if (!lip || !rip) return -1;
    const max = fdTableSize();
    for (let fd = 0; fd < max; fd++) {
      if (this.#is(fd, lip, local.port, rip, remote.port)) return fd;
    }
    return -1;
  }

  /** Whether `fd` is a socket bound to port `lport` and connected to port `rport`. */
  #portsAre(fd: number, lport: number, rport: number): boolean {
    const s = this.lib.symbols, sa = this.#sa;
    // The port is at bytes 2-3, big-endian, in sockaddr_in and sockaddr_in6 alike.
    this.#len[0] = 128;
    if (s.getsockname(fd, sa, this.#lenBytes) !== 0 || ((sa[2] << 8) | sa[3]) !== lport) {
      return false;
    }
    this.#len[0] = 128;
    return s.getpeername(fd, sa, this.#lenBytes) === 0 && ((sa[2] << 8) | sa[3]) === rport;
  }

  /** Whether `fd` is a socket bound to lip:lport and connected to rip:rport. */
  #is(fd: number, lip: Uint8Array, lport: number, rip: Uint8Array, rport: number): boolean {
    const s = this.lib.symbols;
    this.#len[0] = 128;
    if (s.getsockname(fd, this.#sa, this.#lenBytes) !== 0) return false;
    if (!sockaddrIs(this.#sa, lip, lport)) return false;
    this.#len[0] = 128;
    return s.getpeername(fd, this.#sa, this.#lenBytes) === 0 && sockaddrIs(this.#sa, rip, rport);
  }

  /** This process's listening TCP sockets bound to `ip`:`port` (every worker isolate's). */
  listenFds(ip: string, port: number): number[] {
    const want = ipBytes(ip);
    if (!want) return [];
    const out: number[] = [];
    const s = this.lib.symbols;
    const max = fdTableSize();
    for (let fd = 0; fd < max; fd++) {
      this.#len[0] = 128;
      if (s.getsockname(fd, this.#sa, this.#lenBytes) !== 0) continue;
      if (!sockaddrIs(this.#sa, want, port)) continue;
      // A listening socket has no peer.
      this.#len[0] = 128;
      if (s.getpeername(fd, this.#sa, this.#lenBytes) !== 0) out.push(fd);
    }
    return out;
  }

  /**
   * A second descriptor of the same socket, closed on exec (a spawned process, such as the
   * next hot-restart epoch, never inherits it); -1 when the kernel refused.
   */
  dup(fd: number): number {
    return this.lib.symbols.fcntl(fd, F_DUPFD_CLOEXEC, 0);
  }

  /**
   * A listening TCP socket bound to `ip`:`port` with SO_REUSEPORT (joining the group the other
   * workers' sockets of that address form), non-blocking and closed on exec; its descriptor.
   * Throws with the reason (e.g. "address already in use") when the kernel refuses.
   */
  listenReusePort(ip: string, port: number): number {
    const addr = ipBytes(ip);
    if (!addr) throw new Error(`'${ip}' is not an IP address`);
    const v6 = addr.length === 16;
    const sa = new Uint8Array(v6 ? 28 : 16);
    const dv = new DataView(sa.buffer);
    dv.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
    dv.setUint16(2, port);
    sa.set(addr, v6 ? 8 : 4);
    const s = this.lib.symbols;
    const fd = s.socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(this.#errno());
    const ok = this.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1) &&
      this.setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1) &&
      s.bind(fd, sa, sa.length) === 0 && s.listen(fd, LISTEN_BACKLOG) === 0;
    if (ok) return fd;
    const why = this.#errno();
    s.close(fd);
    throw new Error(why);
  }

  /** The port a socket is bound to (0 when the kernel cannot tell). */
  boundPort(fd: number): number {
    this.#len[0] = 128;
    if (this.lib.symbols.getsockname(fd, this.#sa, this.#lenBytes) !== 0) return 0;
    return (this.#sa[2] << 8) | this.#sa[3];
  }

  /** Closes a descriptor this process owns (one handed over that nobody took). */
  closeFd(fd: number): void {
    this.lib.symbols.close(fd);
  }

  /** The reason of the last failed call, as Deno words the common ones. */
  #errno(): string {
    const p = this.lib.symbols.__errno_location();
    const e = p ? new Deno.UnsafePointerView(p).getInt32() : 0;
    if (e === EADDRINUSE) return "address already in use";
    if (e === EACCES) return "permission denied";
    if (e === EADDRNOTAVAIL) return "address not available";
    return `errno ${e}`;
  }

  /** setsockopt with an int value; false when the kernel refused it. */
  setInt(fd: number, level: number, name: number, value: number): boolean {
    this.#int[0] = value;
    return this.lib.symbols.setsockopt(fd, level, name, this.#intBytes, 4) === 0;
  }

  /** setsockopt with a byte value; false when the kernel refused it. */
  setBytes(fd: number, level: number, name: number, value: Uint8Array): boolean {
    // A zero-length buffer still needs a valid pointer.
    const buf = value.length > 0 ? value : new Uint8Array(1);
    return this.lib.symbols.setsockopt(fd, level, name, buf, value.length) === 0;
  }

  /** getsockopt of an int value; undefined when the kernel refused it. */
  getInt(fd: number, level: number, name: number): number | undefined {
    this.#len[0] = 4;
    const rc = this.lib.symbols.getsockopt(fd, level, name, this.#intBytes, this.#lenBytes);
    return rc === 0 ? this.#int[0] : undefined;
  }

  /**
   * The destination the connection had before a NAT redirect (iptables/nftables REDIRECT or
   * DNAT): SO_ORIGINAL_DST for IPv4 (also an IPv4 connection on a dual-stack socket), else
   * IP6T_SO_ORIGINAL_DST. Undefined when the kernel has none (no conntrack entry).
   */
  originalDst(fd: number): SocketAddress | undefined {
    const s = this.lib.symbols;
    this.#len[0] = 128;
    if (s.getsockname(fd, this.#sa, this.#lenBytes) !== 0) return undefined;
    const family = this.#sa[0] | (this.#sa[1] << 8);
    const mapped = family === AF_INET6 && this.#sa.subarray(8, 18).every((b) => b === 0) &&
      this.#sa[18] === 0xff && this.#sa[19] === 0xff;
    const v4 = family === AF_INET || mapped;
    this.#len[0] = 128;
    const rc = s.getsockopt(
      fd,
      v4 ? SOL_IP : SOL_IPV6,
      SO_ORIGINAL_DST,
      this.#sa,
      this.#lenBytes,
    );
    return rc === 0 ? decodeSockaddr(this.#sa) : undefined;
  }
}

/** The size of this process's descriptor table (`FDSize`), bounding a scan. */
function fdTableSize(): number {
  try {
    const m = /\nFDSize:\s*(\d+)/.exec(Deno.readTextFileSync("/proc/self/status"));
    if (m) return Number(m[1]);
  } catch { /* no /proc: the soft limit on most systems */ }
  return 1024;
}
