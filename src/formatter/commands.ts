/**
 * Every built-in command operator, and the checks Envoy applies when a format string names
 * one: unknown operators, and arguments or lengths given where the operator takes none, are
 * config errors (with Envoy's wording, so operators recognise them).
 */
import { ADDRESS_COMMANDS } from "./address_commands.ts";
import type { CommandSpec, CommandTable } from "./command.ts";
import { DURATION_COMMANDS } from "./duration_commands.ts";
import type { Command } from "./format_parser.ts";
import { HEADER_COMMANDS } from "./header_commands.ts";
import { HTTP_COMMANDS } from "./http_commands.ts";
import { METADATA_COMMANDS } from "./metadata_commands.ts";
import { type Provider, truncated } from "./provider.ts";
import { STREAM_INFO_COMMANDS } from "./stream_info_commands.ts";
import { TLS_COMMANDS } from "./tls_commands.ts";

/**
 * `%COALESCE({"operators": [...]}):Z%`: the first operator with a non-empty value. Each entry
 * is an operator name, or `{"command": NAME, "param": ARG, "max_length": N}`.
 */
const COALESCE: CommandSpec = {
  params: "required",
  length: true,
  create(arg, maxLength) {
    let config: unknown;
    try {
      config = JSON.parse(arg);
    } catch (e) {
      throw new Error(`COALESCE: invalid JSON configuration: ${(e as Error).message}`);
    }
    const list = (config as { operators?: unknown })?.operators;
    if (!Array.isArray(list) || list.length === 0) {
      throw new Error("COALESCE: the configuration needs a non-empty 'operators' list");
    }
    const providers = list.map((op, i): Provider => {
      if (typeof op === "string") return createProvider({ name: op, arg: "" });
      const o = op as { command?: unknown; param?: unknown; max_length?: unknown };
      if (typeof o !== "object" || o === null || typeof o.command !== "string") {
        throw new Error(`COALESCE: operators[${i}] needs a 'command'`);
      }
      const len = o.max_length;
      if (len !== undefined && (typeof len !== "number" || !Number.isInteger(len) || len < 0)) {
        throw new Error(`COALESCE: operators[${i}].max_length must be a non-negative integer`);
      }
      return createProvider({
        name: o.command,
        arg: typeof o.param === "string" ? o.param : "",
        ...(len === undefined ? {} : { maxLength: len as number }),
      });
    });
    const first = (ctx: Parameters<Provider["text"]>[0]) => {
      for (const p of providers) {
        const t = p.text(ctx);
        if (t !== undefined && t !== "") return p;
      }
      return undefined;
    };
    return truncated({
      text: (ctx) => first(ctx)?.text(ctx),
      value: (ctx) => first(ctx)?.value(ctx),
    }, maxLength);
  },
};

/** Operators that need a CEL interpreter, which denvoy does not have. */
const CEL_COMMANDS = new Set(["CEL", "TYPED_CEL"]);

const BUILTIN: CommandTable = {
  ...STREAM_INFO_COMMANDS,
  ...DURATION_COMMANDS,
  ...ADDRESS_COMMANDS,
  ...TLS_COMMANDS,
  ...HEADER_COMMANDS,
  ...HTTP_COMMANDS,
  ...METADATA_COMMANDS,
  COALESCE,
};

/**
 * Compiles one command operator.
 *
 * @throws {Error} naming the operator when it is unknown or used with the wrong syntax.
 */
export function createProvider(command: Command): Provider {
  const { name, arg, maxLength } = command;
  const spec = Object.hasOwn(BUILTIN, name) ? BUILTIN[name] : undefined;
  if (!spec) {
    if (CEL_COMMANDS.has(name)) {
      throw new Error(`${name} needs the CEL formatter, which denvoy does not implement`);
    }
    throw new Error(`Not supported field in StreamInfo: ${name}`);
  }
  if (spec.params === "none" && (arg !== "" || maxLength !== undefined)) {
    throw new Error(`${name} does not take any parameters or length`);
  }
  if (spec.params === "required" && arg === "") {
    throw new Error(`${name} requires parameters`);
  }
  if (!spec.length && maxLength !== undefined) {
    throw new Error(`${name} does not allow length to be specified.`);
  }
  return spec.create(arg, maxLength);
}
