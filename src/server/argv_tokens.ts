/**
 * Splits a command line into flag tokens, as Node's `util.parseArgs({ strict: false, tokens:
 * true })` does, so that every rule and message about flags stays in `options.ts`. Written
 * here because importing `node:util` cost ~15 ms of start-up (it loads Deno's Node layer).
 */

/** What the tokenizer needs to know of a flag. */
export interface FlagShape {
  /** `string` flags take a value (`--name value`, `--name=value`, `-n value`, `-nvalue`). */
  type: "string" | "boolean";
  short?: string;
}

/** One token, in command-line order. */
export type ArgvToken =
  | {
    kind: "option";
    /** The long name (a short flag is reported under its long name when it has one). */
    name: string;
    /** As written: `--name` or `-n`. */
    rawName: string;
    index: number;
    value: string | undefined;
    /** Whether the value was in the same argument (`--name=value`, `-nvalue`). */
    inlineValue: boolean | undefined;
  }
  | { kind: "positional"; index: number; value: string }
  | { kind: "option-terminator"; index: number };

/** Tokens of `argv` for flags shaped as `flags` (unknown flags are tokens too). */
export function tokenizeArgv(
  argv: readonly string[],
  flags: Record<string, FlagShape>,
): ArgvToken[] {
  const byShort = new Map<string, string>();
  for (const [name, f] of Object.entries(flags)) if (f.short) byShort.set(f.short, name);
  const isString = (name: string) => flags[name]?.type === "string";
  const out: ArgvToken[] = [];
  const option = (name: string, rawName: string, index: number, value?: string, inline?: boolean) =>
    out.push({ kind: "option", name, rawName, index, value, inlineValue: inline });
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.push({ kind: "option-terminator", index: i });
      for (let j = i + 1; j < argv.length; j++) {
        out.push({ kind: "positional", index: j, value: argv[j] });
      }
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 2) {
        const name = arg.slice(2, eq);
        option(name, `--${name}`, i, arg.slice(eq + 1), true);
      } else if (isString(arg.slice(2)) && i + 1 < argv.length) {
        option(arg.slice(2), arg, i, argv[i + 1], false);
        i++;
      } else option(arg.slice(2), arg, i);
      continue;
    }
    if (arg.length < 2 || arg[0] !== "-") {
      out.push({ kind: "positional", index: i, value: arg });
      continue;
    }
    // `-x`, `-xvalue` (a string flag with its value attached) or `-abc` (a group of flags, where
    // a string flag takes the rest of the argument, or the next one, as its value).
    if (arg.length > 2 && isString(byShort.get(arg[1]) ?? arg[1])) {
      option(byShort.get(arg[1]) ?? arg[1], `-${arg[1]}`, i, arg.slice(2), true);
      continue;
    }
    for (let k = 1; k < arg.length; k++) {
      const letter = arg[k];
      const name = byShort.get(letter) ?? letter;
      if (isString(name) && k < arg.length - 1) {
        option(name, `-${letter}`, i, arg.slice(k + 1), true);
        break;
      }
      if (isString(name) && i + 1 < argv.length) {
        option(name, `-${letter}`, i, argv[i + 1], false);
        i++;
        break;
      }
      option(name, `-${letter}`, i);
    }
  }
  return out;
}
