/**
 * `%REQ(X?Y):Z%`, `%RESP(X?Y):Z%` and `%TRAILER(X?Y):Z%` (also spelled `REQUEST_HEADER`,
 * `RESPONSE_HEADER`, `RESPONSE_TRAILER`): header X, else header Y, cut to Z characters. Names
 * are matched without regard to case (HeaderMap keys are lower case), and `:METHOD`-style names
 * read pseudo-headers. Also the header size operators (`%REQUEST_HEADERS_BYTES%`, ...).
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { type FormatContext, numberProvider, stringProvider, truncated } from "./provider.ts";

const HEADER_NAME = /^:?[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** Splits `X?Y` into lower-case names, with Envoy's checks. */
function parseHeaderNames(arg: string): [string, string | undefined] {
  const names = arg.toLowerCase().split("?");
  if (names.length > 2) {
    throw new Error(`More than 1 alternative header specified in token: ${arg}`);
  }
  for (const [i, n] of names.entries()) {
    if (!HEADER_NAME.test(n) && !(i === 1 && n === "")) {
      throw new Error(
        `Invalid header configuration. Format string contains invalid characters: ${arg}`,
      );
    }
  }
  // `X?` names no alternative, like plain `X`.
  return [names[0], names[1] || undefined];
}

type HeadersOf = (ctx: FormatContext) => HeaderMap | undefined;

/** `?query` removed, for REQ_WITHOUT_QUERY. */
function withoutQuery(v: string | undefined): string | undefined {
  const q = v === undefined ? -1 : v.indexOf("?");
  return q < 0 ? v : v!.slice(0, q);
}

function headerCommand(headers: HeadersOf, stripQuery = false): CommandSpec {
  return {
    params: "required",
    length: true,
    create(arg, maxLength) {
      const [main, alternative] = parseHeaderNames(arg);
      const lookup = alternative === undefined
        ? (ctx: FormatContext) => headers(ctx)?.get(main)
        : (ctx: FormatContext) => {
          const h = headers(ctx);
          return h === undefined ? undefined : h.get(main) ?? h.get(alternative);
        };
      const get = stripQuery ? (ctx: FormatContext) => withoutQuery(lookup(ctx)) : lookup;
      return truncated(stringProvider(get), maxLength);
    },
  };
}

/** A header map's size (names and values, uncompressed); 0 without a map (TCP), as in Envoy. */
function headersBytes(headers: HeadersOf): CommandSpec {
  return {
    params: "none",
    create: () => numberProvider((ctx) => headers(ctx)?.byteSize() ?? 0),
  };
}

const requestHeaders: HeadersOf = (ctx) => ctx.requestHeaders ?? ctx.streamInfo.requestHeaders;
const responseHeaders: HeadersOf = (ctx) => ctx.responseHeaders ?? ctx.streamInfo.responseHeaders;
const responseTrailers: HeadersOf = (ctx) =>
  ctx.responseTrailers ?? ctx.streamInfo.responseTrailers;

/** Header operators by name. */
export const HEADER_COMMANDS: CommandTable = {
  REQ: headerCommand(requestHeaders),
  REQUEST_HEADER: headerCommand(requestHeaders),
  RESP: headerCommand(responseHeaders),
  RESPONSE_HEADER: headerCommand(responseHeaders),
  TRAILER: headerCommand(responseTrailers),
  RESPONSE_TRAILER: headerCommand(responseTrailers),
  REQ_WITHOUT_QUERY: headerCommand(requestHeaders, true),
  // The request headers StreamInfo kept, whatever the log was given.
  STREAM_INFO_REQ: headerCommand((ctx) => ctx.streamInfo.requestHeaders),
  REQUEST_HEADERS_BYTES: headersBytes(requestHeaders),
  RESPONSE_HEADERS_BYTES: headersBytes(responseHeaders),
  RESPONSE_TRAILERS_BYTES: headersBytes(responseTrailers),
};
