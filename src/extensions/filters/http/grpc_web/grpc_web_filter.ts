/**
 * The gRPC-Web filter (`envoy.filters.http.grpc_web`): a gRPC-Web request
 * (`application/grpc-web`, `+proto`, or the base64 `application/grpc-web-text` forms) goes
 * upstream as gRPC (`application/grpc`, `te: trailers`, its text body decoded), and the gRPC
 * response comes back as gRPC-Web: `application/grpc-web+proto` (or `-text+proto`, base64,
 * when the client accepts text), with the trailers as a final frame of the body (flag 0x80,
 * `name:value\r\n` lines) since browsers cannot read HTTP trailers. Other requests pass.
 *
 * @module
 */
import type { HeaderMap } from "../../../../http/header_map.ts";
import type {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  HttpFilterFactoryCb,
  StreamFilterCallbacks,
} from "../../../../http/filter.ts";
import { frameHeader } from "../common/grpc_frames.ts";
import { Base64StreamDecoder, Base64StreamEncoder } from "./base64_stream.ts";

const GRPC_WEB = "application/grpc-web";
const GRPC_WEB_PROTO = "application/grpc-web+proto";
const GRPC_WEB_TEXT = "application/grpc-web-text";
const GRPC_WEB_TEXT_PROTO = "application/grpc-web-text+proto";
/** The trailers frame's flag (gRPC-Web protocol). */
const TRAILERS_FLAG = 0x80;
const utf8 = new TextEncoder();

/** The filter for each stream. */
export const grpcWebFilterFactory: HttpFilterFactoryCb = (cb) => {
  const f = new GrpcWebFilter(cb);
  return { decoder: f, encoder: f };
};

class GrpcWebFilter {
  #grpcWeb = false;
  #textRequest: Base64StreamDecoder | undefined;
  #textResponse: Base64StreamEncoder | undefined;

  constructor(readonly cb: StreamFilterCallbacks) {}

  decodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    const ct = headers.get("content-type");
    const text = ct === GRPC_WEB_TEXT || ct === GRPC_WEB_TEXT_PROTO;
    if (!text && ct !== GRPC_WEB && ct !== GRPC_WEB_PROTO) return "continue";
    this.#grpcWeb = true;
    if (text) this.#textRequest = new Base64StreamDecoder();
    const accept = headers.get("accept");
    if (accept === GRPC_WEB_TEXT || accept === GRPC_WEB_TEXT_PROTO) {
      this.#textResponse = new Base64StreamEncoder();
    }
    // The body's length changes (text) and gRPC frames its own messages.
    headers.remove("content-length");
    headers.set(
      "content-type",
      ct.endsWith("+proto") ? "application/grpc+proto" : "application/grpc",
    );
    // Required of gRPC requests (HTTP/2 upstreams reject gRPC without them).
    headers.set("te", "trailers");
    headers.set("grpc-accept-encoding", "identity,deflate,gzip");
    return "continue";
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const d = this.#textRequest;
    if (d === undefined) return "continue";
    const bytes = d.push(data);
    if (bytes === undefined || (endStream && d.partial)) {
      this.cb.sendLocalReply(400, "Bad gRPC-web request, invalid base64 data.", {
        details: "grpc_base_64_decode_failed",
      });
      return "stopNoBuffer";
    }
    // The decoded bytes go on in place of this chunk's text.
    if (bytes.length > 0 || endStream) this.cb.injectDecodedDataToFilterChain(bytes, endStream);
    return "stopNoBuffer";
  }

  encodeHeaders(headers: HeaderMap, _endStream: boolean): FilterHeadersStatus {
    if (!this.#grpcWeb) return "continue";
    headers.remove("content-length");
    headers.set("content-type", this.#textResponse ? GRPC_WEB_TEXT_PROTO : GRPC_WEB_PROTO);
    return "continue";
  }

  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const e = this.#textResponse;
    if (e === undefined) return "continue";
    this.cb.injectEncodedDataToFilterChain(e.push(data, endStream), endStream);
    return "stopNoBuffer";
  }

  encodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    if (!this.#grpcWeb) return "continue";
    let block = "";
    trailers.forEach((name, value) => {
      block += `${name}:${value}\r\n`;
    });
    const payload = utf8.encode(block);
    let frame: Uint8Array = new Uint8Array(5 + payload.length);
    frame.set(frameHeader(TRAILERS_FLAG, payload.length));
    frame.set(payload, 5);
    if (this.#textResponse) frame = this.#textResponse.push(frame, true);
    this.cb.injectEncodedDataToFilterChain(frame, false);
    // The trailers are in the body now: none go out as HTTP trailers.
    for (const name of trailerNames(trailers)) trailers.remove(name);
    return "continue";
  }
}

function trailerNames(trailers: HeaderMap): string[] {
  const names: string[] = [];
  trailers.forEach((name) => names.push(name));
  return names;
}
