/**
 * The grammar of Envoy format strings: literal text, `%%` for a literal `%`, and command
 * operators `%COMMAND%`, `%COMMAND(ARGS)%` and `%COMMAND(ARGS):LENGTH%`, where COMMAND is
 * made of `A-Z`, `0-9` and `_`, and ARGS is anything but `)`. Parsing happens once, when a
 * config is loaded; formatting never looks at the string again.
 */

/** One command operator as written. */
export interface Command {
  /** The operator's name, e.g. `REQ`. */
  name: string;
  /** The text between the parentheses; `""` when there are none. */
  arg: string;
  /** The `:Z` truncation length, when given. */
  maxLength?: number;
}

/** Literal text, or a command operator. */
export type Token = string | Command;

const CODE_A = 65, CODE_Z = 90, CODE_0 = 48, CODE_9 = 57, CODE_UNDERSCORE = 95;

function isCommandChar(c: number): boolean {
  return (c >= CODE_A && c <= CODE_Z) || (c >= CODE_0 && c <= CODE_9) || c === CODE_UNDERSCORE;
}

/**
 * Splits `format` into literal text and commands. Adjacent literals are merged; an empty
 * format yields no tokens.
 *
 * @throws {Error} with Envoy's message when a `%` does not start a valid command.
 */
export function parseFormat(format: string): Token[] {
  const tokens: Token[] = [];
  let literal = "";
  let pos = 0;
  while (pos < format.length) {
    const pct = format.indexOf("%", pos);
    if (pct < 0) {
      literal += format.slice(pos);
      break;
    }
    literal += format.slice(pos, pct);
    if (format[pct + 1] === "%") {
      literal += "%";
      pos = pct + 2;
      continue;
    }
    const parsed = parseCommand(format, pct);
    if (!parsed) {
      throw new Error(
        `Incorrect configuration: ${format}. Couldn't find valid command at position ${pct}`,
      );
    }
    if (literal) tokens.push(literal);
    literal = "";
    tokens.push(parsed.command);
    pos = parsed.end;
  }
  if (literal) tokens.push(literal);
  return tokens;
}

/** Reads the command starting at the `%` at `start`; returns it and the index after its `%`. */
function parseCommand(s: string, start: number): { command: Command; end: number } | undefined {
  let i = start + 1;
  while (i < s.length && isCommandChar(s.charCodeAt(i))) i++;
  if (i === start + 1) return undefined;
  const name = s.slice(start + 1, i);
  let arg = "";
  if (s[i] === "(") {
    const close = s.indexOf(")", i + 1);
    if (close < 0) return undefined;
    arg = s.slice(i + 1, close);
    i = close + 1;
  }
  let maxLength: number | undefined;
  if (s[i] === ":") {
    const digitsStart = ++i;
    while (i < s.length && s.charCodeAt(i) >= CODE_0 && s.charCodeAt(i) <= CODE_9) i++;
    if (i === digitsStart) return undefined;
    maxLength = Number(s.slice(digitsStart, i));
  }
  if (s[i] !== "%") return undefined;
  const command: Command = maxLength === undefined ? { name, arg } : { name, arg, maxLength };
  return { command, end: i + 1 };
}
