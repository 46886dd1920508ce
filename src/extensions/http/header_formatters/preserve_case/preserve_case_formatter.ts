/**
 * Envoy's `preserve_case` stateful header formatter: header names go out spelled as they came
 * in (the first spelling of a name wins), names the proxy added are written lower case or, with
 * `formatter_type_on_envoy_headers: PROPER_CASE`, in proper case; with `forward_reason_phrase`
 * the upstream's reason phrase goes to the client too.
 *
 * @module
 */
import {
  properCaseWords,
  type StatefulHeaderKeyFormatter,
  type StatefulHeaderKeyFormatterFactory,
} from "../../../../http/http1/header_formatter.ts";

/** What a `PreserveCaseFormatterConfig` says (plain data: clusters carry it to workers). */
export interface PreserveCaseSettings {
  forwardReasonPhrase: boolean;
  /** `formatter_type_on_envoy_headers: PROPER_CASE` (else DEFAULT: as stored, lower case). */
  properCaseOnEnvoyHeaders: boolean;
}

/** One message's remembered names. */
export class PreserveCaseFormatter implements StatefulHeaderKeyFormatter {
  /** Original spelling by lower-case name. */
  readonly #keys = new Map<string, string>();
  #reasonPhrase = "";

  constructor(readonly settings: PreserveCaseSettings) {}

  processKey(key: string): void {
    const lower = key.toLowerCase();
    if (!this.#keys.has(lower)) this.#keys.set(lower, key);
  }

  format(key: string): string {
    const original = this.#keys.get(key);
    if (original !== undefined) return original;
    return this.settings.properCaseOnEnvoyHeaders ? properCaseWords(key) : key;
  }

  setReasonPhrase(phrase: string): void {
    if (this.settings.forwardReasonPhrase) this.#reasonPhrase = phrase;
  }

  getReasonPhrase(): string {
    return this.#reasonPhrase;
  }
}

/** The factory a codec uses for `settings`. */
export function preserveCaseFormatterFactory(
  settings: PreserveCaseSettings,
): StatefulHeaderKeyFormatterFactory {
  return { create: () => new PreserveCaseFormatter(settings) };
}
