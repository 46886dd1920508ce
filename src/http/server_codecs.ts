/**
 * The server codecs by protocol, and the one place that picks a connection's codec from
 * `codec_type`. The HTTP/2 server codec (issue 11) registers under `HTTP2` here; with it,
 * `codec_type: HTTP2` is no longer refused (conn_manager_config.ts) and `AUTO` chooses HTTP/2
 * by the client's connection preface (`PRI * HTTP/2.0`), as Envoy does, HTTP/1.1 otherwise.
 */
import type { ServerConnection, ServerConnectionCallbacks } from "./codec.ts";
import { Http1ServerConnection, type Http1ServerSettings } from "./http1/server_connection.ts";
import type { Connection } from "../network/connection.ts";

/** `HttpConnectionManager.codec_type`. */
export type CodecType = "AUTO" | "HTTP1" | "HTTP2";

/** What every server codec is built from: the HCM's compiled config. */
export interface ServerCodecSettings extends Http1ServerSettings {
  readonly codecType: CodecType;
}

/** Makes a server codec over `conn` that reports to `callbacks`. */
export type ServerCodecFactory = (
  conn: Connection,
  callbacks: ServerConnectionCallbacks,
  settings: ServerCodecSettings,
) => ServerConnection;

/** The codecs there are, by protocol. */
const SERVER_CODECS: Readonly<Record<"HTTP1", ServerCodecFactory>> = {
  HTTP1: (conn, callbacks, settings) => new Http1ServerConnection(conn, callbacks, settings),
};

/** The codec of a new downstream connection, as `codec_type` says. */
export function createServerConnection(
  conn: Connection,
  callbacks: ServerConnectionCallbacks,
  settings: ServerCodecSettings,
): ServerConnection {
  // HTTP2 is refused before a config is served; AUTO is HTTP/1.1 while there is no HTTP/2.
  return SERVER_CODECS.HTTP1(conn, callbacks, settings);
}
