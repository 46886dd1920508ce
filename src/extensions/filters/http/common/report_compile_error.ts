/**
 * Validation of filter configs by compiling them: the compile step's first error, worded
 * `<field>: <problem>` with the field relative to the config, is reported at that field.
 *
 * @module
 */
import type { ExtensionValidationContext } from "../../../../config/extensions.ts";

/** Runs `compile` (which names fields from an empty base path) and reports what it throws. */
export function reportCompileError(ctx: ExtensionValidationContext, compile: () => void): void {
  try {
    compile();
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const m = /^\.?([^:\s]*): (.*)$/s.exec(message);
    if (m) ctx.report(m[2], m[1]);
    else ctx.report(message);
  }
}
