/**
 * Operators that read the HTTP request and response as a whole: `%PATH(WQ|NQ:ORIG|PATH|...)%`,
 * `%QUERY_PARAM(X)%`, `%GRPC_STATUS(...)%`, `%ACCESS_LOG_TYPE%`, `%LOCAL_REPLY_BODY%`,
 * `%TRACE_ID%`. TCP logs have no request, so these print `-`.
 */
import type { HeaderMap } from "../http/header_map.ts";
import { queryParameter } from "../router/matchers.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { type FormatContext, numberProvider, stringProvider, truncated } from "./provider.ts";

const requestHeaders = (ctx: FormatContext): HeaderMap | undefined =>
  ctx.requestHeaders ?? ctx.streamInfo.requestHeaders;

/** Which header `%PATH%` reads. */
const PATH_SOURCES: Record<string, (h: HeaderMap) => string | undefined> = {
  ORIG: (h) => h.get("x-envoy-original-path"),
  PATH: (h) => h.get(":path"),
  ORIG_OR_PATH: (h) => h.get("x-envoy-original-path") ?? h.get(":path"),
};

const path: CommandSpec = {
  params: "optional",
  length: true,
  create(arg, maxLength) {
    const [query = "", source = "", ...rest] = arg === "" ? [] : arg.split(":");
    const withQuery = query === "" || query === "WQ";
    if ((!withQuery && query !== "NQ") || rest.length > 0) {
      throw new Error(`Invalid PATH option: '${arg}', only WQ/NQ:ORIG/PATH/ORIG_OR_PATH allowed`);
    }
    const from = source === "" ? "ORIG_OR_PATH" : source;
    if (!Object.hasOwn(PATH_SOURCES, from)) {
      throw new Error(`Invalid PATH option: '${arg}', only WQ/NQ:ORIG/PATH/ORIG_OR_PATH allowed`);
    }
    const read = PATH_SOURCES[from];
    return truncated(
      stringProvider((ctx) => {
        const h = requestHeaders(ctx);
        const p = h ? read(h) : undefined;
        if (p === undefined || withQuery) return p;
        const q = p.indexOf("?");
        return q < 0 ? p : p.slice(0, q);
      }),
      maxLength,
    );
  },
};

/** A query parameter value, percent-decoded as Envoy's query parser does ('+' is a space). */
function decodeQueryValue(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    // Malformed escapes stay as they were.
    return raw;
  }
}

const queryParam: CommandSpec = {
  params: "required",
  length: true,
  create(name, maxLength) {
    return truncated(
      stringProvider((ctx) => {
        const p = requestHeaders(ctx)?.get(":path");
        if (p === undefined) return undefined;
        const v = queryParameter(p, p.indexOf("?"), name);
        return v === undefined ? undefined : decodeQueryValue(v);
      }),
      maxLength,
    );
  },
};

/** gRPC status names, by code, in Envoy's two spellings. */
const GRPC_CAMEL = [
  "OK",
  "Canceled",
  "Unknown",
  "InvalidArgument",
  "DeadlineExceeded",
  "NotFound",
  "AlreadyExists",
  "PermissionDenied",
  "ResourceExhausted",
  "FailedPrecondition",
  "Aborted",
  "OutOfRange",
  "Unimplemented",
  "Internal",
  "Unavailable",
  "DataLoss",
  "Unauthenticated",
];
const GRPC_SNAKE = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** The largest status code gRPC defines (Unauthenticated). */
export const GRPC_MAX_KNOWN_STATUS = 16;
/** Envoy's code for a grpc-status that is not a number (or not a known one, where required). */
export const GRPC_INVALID_STATUS = -1;

/** The grpc-status header of `h`: undefined when absent, -1 when not a valid code. */
function grpcStatusHeader(h: HeaderMap | undefined, allowUserDefined: boolean): number | undefined {
  const v = h?.get("grpc-status");
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) return GRPC_INVALID_STATUS;
  const n = Number(v);
  return !allowUserDefined && n > GRPC_MAX_KNOWN_STATUS ? GRPC_INVALID_STATUS : n;
}

/** gRPC's mapping of HTTP statuses for responses that carry no grpc-status. */
function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

/**
 * A finished stream's gRPC status, as Envoy finds it: the trailers' grpc-status, else the
 * headers' (trailers-only responses), else inferred from the HTTP status; undefined when the
 * stream never got a response.
 */
export function grpcStatusOf(ctx: FormatContext, allowUserDefined: boolean): number | undefined {
  const si = ctx.streamInfo;
  return grpcStatusHeader(ctx.responseTrailers ?? si.responseTrailers, allowUserDefined) ??
    grpcStatusHeader(ctx.responseHeaders ?? si.responseHeaders, allowUserDefined) ??
    (si.responseCode ? httpToGrpcStatus(si.responseCode) : undefined);
}

/** Whether the request is a gRPC call: content-type `application/grpc` or `application/grpc+...`. */
function isGrpcRequest(ctx: FormatContext): boolean {
  const type = requestHeaders(ctx)?.get("content-type");
  return type !== undefined && type.startsWith("application/grpc") &&
    (type.length === 16 || type[16] === "+");
}

const grpcStatus: CommandSpec = {
  params: "optional",
  create(arg) {
    const format = arg || "CAMEL_STRING";
    if (format !== "CAMEL_STRING" && format !== "SNAKE_STRING" && format !== "NUMBER") {
      throw new Error("GrpcStatusFormatter only supports CAMEL_STRING, SNAKE_STRING or NUMBER.");
    }
    const code = (ctx: FormatContext) => isGrpcRequest(ctx) ? grpcStatusOf(ctx, true) : undefined;
    if (format === "NUMBER") return numberProvider(code);
    const names = format === "CAMEL_STRING" ? GRPC_CAMEL : GRPC_SNAKE;
    return stringProvider((ctx) => {
      const c = code(ctx);
      // Codes without a name (user-defined) print as numbers.
      return c === undefined ? undefined : names[c] ?? String(c);
    });
  },
};

/** HTTP-level operators by name. */
export const HTTP_COMMANDS: CommandTable = {
  PATH: path,
  QUERY_PARAM: queryParam,
  GRPC_STATUS: grpcStatus,
  GRPC_STATUS_NUMBER: {
    params: "none",
    create: () => grpcStatus.create("NUMBER", undefined),
  },
  ACCESS_LOG_TYPE: {
    params: "none",
    create: () => stringProvider((ctx) => ctx.accessLogType ?? "NotSet"),
  },
  // Envoy always has a (possibly empty) body here, so it never prints "-".
  LOCAL_REPLY_BODY: {
    params: "none",
    create: () => stringProvider((ctx) => ctx.streamInfo.localReplyBody ?? ""),
  },
  TRACE_ID: {
    params: "none",
    create: () => stringProvider((ctx) => ctx.streamInfo.traceId || undefined),
  },
};
