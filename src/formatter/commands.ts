/**
 * Every built-in command operator, and the checks Envoy applies when a format string names
 * one: unknown operators, and arguments or lengths given where the operator takes none, are
 * config errors (with Envoy's wording, so operators recognise them).
 */
import type { CommandTable } from "./command.ts";
import type { Command } from "./format_parser.ts";
import { HEADER_COMMANDS } from "./header_commands.ts";
import { METADATA_COMMANDS } from "./metadata_commands.ts";
import type { Provider } from "./provider.ts";
import { STREAM_INFO_COMMANDS } from "./stream_info_commands.ts";

const BUILTIN: CommandTable = {
  ...STREAM_INFO_COMMANDS,
  ...HEADER_COMMANDS,
  ...METADATA_COMMANDS,
};

/**
 * Compiles one command operator.
 *
 * @throws {Error} naming the operator when it is unknown or used with the wrong syntax.
 */
export function createProvider(command: Command): Provider {
  const { name, arg, maxLength } = command;
  const spec = Object.hasOwn(BUILTIN, name) ? BUILTIN[name] : undefined;
  if (!spec) throw new Error(`Not supported field in StreamInfo: ${name}`);
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
