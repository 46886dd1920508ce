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
        out.push({
          kind: "option",
          name,
          rawName: `--${name}`,
          index: i,
          value: arg.slice(eq + 1),
          inlineValue: true,
        });
        continue;
      }
      const name = arg.slice(2);
      if (isString(name) && i + 1 < argv.length) {
        out.push({
          kind: "option",
          name,
          rawName: arg,
          index: i,
          value: argv[i + 1],
          inlineValue: false,
        });
        i++;
      } else {
        out.push({
          kind: "option",
          name,
          rawName: arg,
          index: i,
          value: undefined,
          inlineValue: undefined,
        });
      }
      continue;
    }
    if (arg.length >= 2 && arg[0] === "-") {
      const letter = arg[1];
      const name = byShort.get(letter) ?? letter;
      if (arg.length === 2) {
        if (isString(name) && i + 1 < argv.length) {
          out.push({
            kind: "option",
            name,
            rawName: arg,
            index: i,
            value: argv[i + 1],
            inlineValue: false,
          });
          i++;
        } else {
          out.push({
            kind: "option",
            name,
            rawName: arg,
            index: i,
            value: undefined,
            inlineValue: undefined,
          });
        }
        continue;
      }
      if (isString(name)) {
        // `-cvalue`: a short string flag with its value attached.
        out.push({
          kind: "option",
          name,
          rawName: `-${letter}`,
          index: i,
          value: arg.slice(2),
          inlineValue: true,
        });
        continue;
      }
      // `-abc`: a group of short flags; a string flag inside takes the rest as its value.
      for (let k = 1; k < arg.length; k++) {
        const l = arg[k];
        const n = byShort.get(l) ?? l;
        if (isString(n) && k < arg.length - 1) {
          out.push({
            kind: "option",
            name: n,
            rawName: `-${l}`,
            index: i,
            value: arg.slice(k + 1),
            inlineValue: true,
          });
          break;
        }
        if (isString(n) && k === arg.length - 1 && i + 1 < argv.length) {
          out.push({
            kind: "option",
            name: n,
            rawName: `-${l}`,
            index: i,
            value: argv[i + 1],
            inlineValue: false,
          });
          i++;
          break;
        }
        out.push({
          kind: "option",
          name: n,
          rawName: `-${l}`,
          index: i,
          value: undefined,
          inlineValue: undefined,
        });
      }
      continue;
    }
    out.push({ kind: "positional", index: i, value: arg });
  }
  return out;
}
