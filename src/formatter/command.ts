/**
 * How a command operator is declared: which arguments it takes (Envoy's command syntax
 * flags) and how it compiles to a provider. Modules of operators export tables of these.
 */
import type { Provider } from "./provider.ts";

/** One operator's syntax and constructor. */
export interface CommandSpec {
  /** Whether `(ARGS)` is forbidden, optional or required. */
  params: "none" | "optional" | "required";
  /** Whether `:LENGTH` is allowed. */
  length?: boolean;
  /** Builds the provider; may throw for a bad argument. `arg` is `""` when absent. */
  create(arg: string, maxLength: number | undefined): Provider;
}

/** Operators by name. */
export type CommandTable = Record<string, CommandSpec>;
