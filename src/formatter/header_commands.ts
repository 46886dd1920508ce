/**
 * `%REQ(X?Y):Z%`, `%RESP(X?Y):Z%` and `%TRAILER(X?Y):Z%`: header X, else header Y, cut to Z
 * characters. Names are matched without regard to case (HeaderMap keys are lower case), and
 * `:METHOD`-style names read pseudo-headers.
 */
import type { HeaderMap } from "../http/header_map.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { type FormatContext, stringProvider, truncated } from "./provider.ts";

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

function headerCommand(headers: (ctx: FormatContext) => HeaderMap | undefined): CommandSpec {
  return {
    params: "required",
    length: true,
    create(arg, maxLength) {
      const [main, alternative] = parseHeaderNames(arg);
      const get = alternative === undefined
        ? (ctx: FormatContext) => headers(ctx)?.get(main)
        : (ctx: FormatContext) => {
          const h = headers(ctx);
          return h === undefined ? undefined : h.get(main) ?? h.get(alternative);
        };
      return truncated(stringProvider(get), maxLength);
    },
  };
}

/** Header operators by name. */
export const HEADER_COMMANDS: CommandTable = {
  REQ: headerCommand((ctx) => ctx.requestHeaders ?? ctx.streamInfo.requestHeaders),
  RESP: headerCommand((ctx) => ctx.responseHeaders ?? ctx.streamInfo.responseHeaders),
  TRAILER: headerCommand((ctx) => ctx.responseTrailers ?? ctx.streamInfo.responseTrailers),
};
