/**
 * A loopback port every connection to is refused, for tests of connect failures.
 *
 * Binding a listener on port 0 and closing it frees the port for the next bind: with tests
 * running in parallel, another test's server could take it, and a "refused" upstream then
 * answered 404. Here a TCP socket is bound through FFI to libc and never listens: the kernel
 * refuses connections to it (RST, ECONNREFUSED) and gives the port to nobody else while this
 * process lives. One such socket serves every caller in the process.
 *
 * @module
 */

const AF_INET = 2;
const SOCK_STREAM = 1;

let port: number | undefined;

/** A 127.0.0.1 port that refuses every connection for the life of the test process. */
export function refusedPort(): number {
  port ??= boundPort();
  return port;
}

function boundPort(): number {
  const lib = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  });
  const fd = lib.symbols.socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw new Error("refusedPort: socket() failed");
  // struct sockaddr_in: family (host order), port (network order, 0: any), 127.0.0.1, padding.
  const sa = new Uint8Array(16);
  const view = new DataView(sa.buffer);
  view.setUint16(0, AF_INET, true);
  sa.set([127, 0, 0, 1], 4);
  if (lib.symbols.bind(fd, sa, sa.length) !== 0) throw new Error("refusedPort: bind() failed");
  const len = new Uint32Array([sa.length]);
  if (lib.symbols.getsockname(fd, sa, new Uint8Array(len.buffer)) !== 0) {
    throw new Error("refusedPort: getsockname() failed");
  }
  // The descriptor stays open (and the library loaded) until the process exits.
  return view.getUint16(2, false);
}
