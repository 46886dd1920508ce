/**
 * Steering a SO_REUSEPORT group (Linux): a classic BPF program attached to the group
 * (`SO_ATTACH_REUSEPORT_CBPF`) picks which socket of the group gets each new connection. A hot
 * restart's child uses it to take every new connection away from its parent's sockets while
 * the parent still accepts what is queued on them, so that nothing is reset when the parent
 * then closes them (see `hot_restart.ts`). Reached through FFI to libc; where that is not
 * possible (another OS, no FFI permission) `open()` returns undefined.
 *
 * The group's sockets are indexed in the order they joined it (a socket that leaves is replaced
 * by the last one), so the parent's sockets, all bound before the child's, are the first ones.
 * An index past the end of the group falls back to the kernel's own spreading.
 *
 * @module
 */

const SOL_SOCKET = 1;
const SO_ACCEPTCONN = 30;
const SO_ATTACH_REUSEPORT_CBPF = 51;
const SO_DETACH_REUSEPORT_BPF = 68;
const AF_INET = 2;
const AF_INET6 = 10;

/** Classic BPF: A = random; A %= count; A += first; return A. */
export function steeringProgram(first: number, count: number): Uint8Array {
  const SKF_AD_RANDOM = -0x1000 + 56; // SKF_AD_OFF + SKF_AD_RANDOM
  const code = [
    [0x20, SKF_AD_RANDOM], // BPF_LD | BPF_W | BPF_ABS
    [0x94, count], // BPF_ALU | BPF_MOD | BPF_K
    [0x04, first], // BPF_ALU | BPF_ADD | BPF_K
    [0x16, 0], // BPF_RET | BPF_A
  ];
  // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
  const out = new DataView(new ArrayBuffer(code.length * 8));
  code.forEach(([op, k], i) => {
    out.setUint16(i * 8, op, true);
    out.setInt32(i * 8 + 4, k, true);
  });
  return new Uint8Array(out.buffer);
}

/**
 * The indexes [first, first + count) a child steers its group's new connections to, while its
 * parent's `parentSockets` (the first ones) close one by one after its own `ownSockets`. Each
 * socket that leaves is replaced by the last one: the indexes below `ownSockets` are never
 * filled that way, and index `ownSockets` only by the last parent socket to leave, so when the
 * parent has no more sockets than the child, [parentSockets, ownSockets] holds the child's
 * sockets whatever the order of the closes (or is past the end, once the parent's are all
 * gone). Otherwise, the child's sockets as they are before any close.
 */
export function steeringTargets(
  parentSockets: number,
  ownSockets: number,
): { first: number; count: number } {
  if (parentSockets <= ownSockets) {
    return { first: parentSockets, count: ownSockets - parentSockets + 1 };
  }
  return { first: parentSockets, count: ownSockets };
}

/** The bytes of an IP address as a socket address holds them (IPv4 or IPv6 text). */
export function addressBytes(ip: string): Uint8Array | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) return new Uint8Array(ip.split(".").map(Number));
  if (!ip.includes(":")) return undefined;
  const [head, tail = ""] = ip.split("::");
  const groups = (s: string) => s === "" ? [] : s.split(":");
  const h = groups(head), t = groups(ip.includes("::") ? tail : "");
  const all = ip.includes("::") ? [...h, ...Array(8 - h.length - t.length).fill("0"), ...t] : h;
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

const SYMBOLS = {
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
} as const;

/** libc's socket calls, for the group steering. */
export class ReusePortSteering {
  private constructor(readonly lib: Deno.DynamicLibrary<typeof SYMBOLS>) {}

  /** Loads libc; undefined where steering is not possible. */
  static open(): ReusePortSteering | undefined {
    if (Deno.build.os !== "linux") return undefined;
    for (const name of ["libc.so.6", "libc.so"]) {
      try {
        return new ReusePortSteering(Deno.dlopen(name, SYMBOLS));
      } catch { /* try the next name; no FFI permission fails them all */ }
    }
    return undefined;
  }

  /** This process's listening TCP sockets bound to `ip`:`port` (every worker's). */
  listenFds(ip: string, port: number): number[] {
    const want = addressBytes(ip);
    if (!want) return [];
    const s = this.lib.symbols;
    const out: number[] = [];
    for (const e of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(e.name);
      let link = "";
      try {
        link = Deno.readLinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith("socket:")) continue;
      const v = new Int32Array(1);
      const vlen = new Uint32Array([4]);
      const u8 = (a: ArrayBufferView) => new Uint8Array(a.buffer);
      if (s.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, u8(v), u8(vlen)) !== 0 || v[0] !== 1) {
        continue;
      }
      const sa = new Uint8Array(128);
      const salen = new Uint32Array([128]);
      if (s.getsockname(fd, sa, u8(salen)) !== 0) continue;
      const dv = new DataView(sa.buffer);
      const family = dv.getUint16(0, true);
      if (dv.getUint16(2) !== port) continue;
      const addr = family === AF_INET
        ? sa.subarray(4, 8)
        : family === AF_INET6
        ? sa.subarray(8, 24)
        : undefined;
      if (addr && addr.length === want.length && addr.every((b, i) => b === want[i])) {
        out.push(fd);
      }
    }
    return out;
  }

  /** Sends every new connection of `fd`'s group to its sockets [first, first + count). */
  steer(fd: number, first: number, count: number): boolean {
    const program = steeringProgram(first, count);
    // struct sock_fprog { u16 len; struct sock_filter *filter; }
    const fprog = new DataView(new ArrayBuffer(16));
    fprog.setUint16(0, program.length / 8, true);
    fprog.setBigUint64(8, BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(program))), true);
    const rc = this.lib.symbols.setsockopt(
      fd,
      SOL_SOCKET,
      SO_ATTACH_REUSEPORT_CBPF,
      new Uint8Array(fprog.buffer),
      16,
    );
    return rc === 0;
  }

  /** Back to the kernel's own spreading of connections over `fd`'s group. */
  detach(fd: number): boolean {
    const zero = new Uint8Array(4);
    return this.lib.symbols.setsockopt(fd, SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, zero, 4) === 0;
  }

  close(): void {
    this.lib.close();
  }
}
