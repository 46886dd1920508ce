/**
 * The server codecs by protocol, and the one place that picks a connection's codec from
 * `codec_type`: HTTP1 and HTTP2 as configured; AUTO chooses by the client's first bytes as
 * Envoy does (HTTP/2 when they start with the connection preface, HTTP/1.1 otherwise).
 */
import type { ServerConnection, ServerConnectionCallbacks } from "./codec.ts";
import { Http1ServerConnection, type Http1ServerSettings } from "./http1/server_connection.ts";
import { Http2ServerConnection, type Http2ServerSettings } from "./http2/server_connection.ts";
import type { Connection } from "../network/connection.ts";
import type { BugScope } from "../common/error_boundary.ts";

/** `HttpConnectionManager.codec_type`. */
export type CodecType = "AUTO" | "HTTP1" | "HTTP2";

/** What every server codec is built from: the HCM's compiled config. */
export interface ServerCodecSettings extends Http1ServerSettings, Http2ServerSettings {
  readonly codecType: CodecType;
}

/** Makes a server codec over `conn` that reports to `callbacks`. */
export type ServerCodecFactory = (
  conn: Connection,
  callbacks: ServerConnectionCallbacks & BugScope,
  settings: ServerCodecSettings,
) => ServerConnection;

/** The codecs there are, by protocol. */
export const SERVER_CODECS: Readonly<Record<"HTTP1" | "HTTP2", ServerCodecFactory>> = {
  HTTP1: (conn, callbacks, settings) => new Http1ServerConnection(conn, callbacks, settings),
  HTTP2: (conn, callbacks, settings) => new Http2ServerConnection(conn, callbacks, settings),
};

/** Envoy's CLIENT_MAGIC_PREFIX: the start of the HTTP/2 connection preface. */
const H2_PREFIX = new TextEncoder().encode("PRI * HTTP/2");

/**
 * The protocol `codec_type: AUTO` picks for a connection whose first bytes are `data`. As in
 * Envoy, a first read shorter than the preface's start is HTTP/1.1 (prior-knowledge clients
 * send the whole preface at once).
 */
export function detectProtocol(data: Uint8Array): "HTTP1" | "HTTP2" {
  if (data.length < H2_PREFIX.length) return "HTTP1";
  for (let i = 0; i < H2_PREFIX.length; i++) if (data[i] !== H2_PREFIX[i]) return "HTTP1";
  return "HTTP2";
}
