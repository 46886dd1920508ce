/**
 * Header key formatters of the HTTP/1 codec (`http_protocol_options.header_key_format`).
 * Names are stored lower case; a formatter decides how they are spelled on the wire. The
 * stateless `proper_case_words` one is built into the encoder; a stateful one (Envoy's
 * `envoy.http.stateful_header_formatters` category, e.g. `preserve_case`) learns the names of a
 * message as the codec reads it, travels with that message's header map, and spells them when a
 * codec writes that map again.
 *
 * @module
 */

/** Envoy's `StatefulHeaderKeyFormatter`, one per message read. */
export interface StatefulHeaderKeyFormatter {
  /** Called with each field name as it was received, before it is lower-cased. */
  processKey(key: string): void;
  /** How to write the lower-case name `key`: only its letters' case may change. */
  format(key: string): string;
  /** The reason phrase of a response as it was received. */
  setReasonPhrase(phrase: string): void;
  /** The reason phrase to write; "" for Envoy's phrase of the status code. */
  getReasonPhrase(): string;
}

/** Makes one formatter per message a codec reads. */
export interface StatefulHeaderKeyFormatterFactory {
  create(): StatefulHeaderKeyFormatter;
}

/**
 * `name` as Envoy's `proper_case_words` writes it: a letter at the start or after a character
 * that is neither letter nor digit is upper-cased (`x-foo_bar2baz` -> `X-Foo_Bar2baz`).
 */
export function properCaseWords(name: string): string {
  let out = "";
  let capitalize = true;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const lower = c >= 0x61 && c <= 0x7a;
    const alpha = lower || (c >= 0x41 && c <= 0x5a);
    out += String.fromCharCode(capitalize && lower ? c - 0x20 : c);
    capitalize = !alpha && !(c >= 0x30 && c <= 0x39);
  }
  return out;
}
