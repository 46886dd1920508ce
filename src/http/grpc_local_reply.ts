/**
 * Local replies to gRPC requests, as Envoy's Utility::sendLocalReply sends them: a
 * trailers-only response (`:status` 200, `content-type: application/grpc`, `grpc-status`,
 * `grpc-message`) in place of the HTTP error, so a gRPC client sees a gRPC status.
 */
import { HeaderMap } from "./header_map.ts";

/** gRPC's mapping of an HTTP status without grpc-status (Envoy's Grpc::Utility::httpToGrpcStatus). */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // Internal
    case 401:
      return 16; // Unauthenticated
    case 403:
      return 7; // PermissionDenied
    case 404:
      return 12; // Unimplemented
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // Unavailable
    default:
      return 2; // Unknown
  }
}

/**
 * `grpc-message` encoding (gRPC's percent-encoding, Envoy's PercentEncoding::encode): bytes
 * outside printable ASCII and `%` become `%XX` of their UTF-8 bytes.
 */
export function percentEncodeGrpcMessage(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  let out = "";
  for (const b of new TextEncoder().encode(text)) {
    out += b < 0x20 || b > 0x7e || b === 0x25
      ? "%" + b.toString(16).toUpperCase().padStart(2, "0")
      : String.fromCharCode(b);
  }
  return out;
}

/**
 * The trailers-only headers of a local reply with `status` and `body` to a gRPC request;
 * `grpcStatus` overrides the mapping from `status`. A HEAD request gets no grpc-message.
 */
export function grpcLocalReplyHeaders(
  status: number,
  body: string,
  grpcStatus: number | undefined,
  head: boolean,
): HeaderMap {
  const h = new HeaderMap([
    ":status",
    "200",
    "content-type",
    "application/grpc",
    "grpc-status",
    String(grpcStatus ?? httpToGrpcStatus(status)),
  ]);
  // A JSON body format ends with a newline, which a header value cannot carry.
  const text = body.endsWith("\n") ? body.slice(0, -1) : body;
  if (text !== "" && !head) h.add("grpc-message", percentEncodeGrpcMessage(text));
  return h;
}
