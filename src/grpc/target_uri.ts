/**
 * `google_grpc.target_uri` parsing, apart from the gRPC client: config validation needs it on
 * every isolate, the client (and the protos it loads) only where a stream is opened.
 *
 * @module
 */

/**
 * The host and port of a `google_grpc.target_uri` (`host:port`, `[v6]:port`, with an optional
 * `dns:///`, `dns:`, `ipv4:` or `ipv6:` scheme); undefined when it is not one.
 */
export function parseTargetUri(uri: string): { host: string; port: number } | undefined {
  const rest = uri.replace(/^(dns:\/\/\/|dns:|ipv4:|ipv6:)/, "");
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/\[\]]+)):(\d{1,5})$/.exec(rest);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}
