/**
 * Envoy's network matching inputs (`envoy.matching.inputs.destination_ip`, ...) and the IP range
 * matcher (`envoy.matching.custom_matchers.trie_matcher`), as the listener's
 * `filter_chain_matcher` uses them (src/listener/filter_chain_matcher_tree.ts reads them).
 */
import type { ExtensionFactory } from "../../../config/extensions.ts";

const PKG = "envoy.extensions.matching.common_inputs.network.v3";

/** One factory per network input, with Envoy's extension names. */
export const networkInputFactories: ExtensionFactory[] = [
  ["destination_ip", "DestinationIPInput"],
  ["destination_port", "DestinationPortInput"],
  ["source_ip", "SourceIPInput"],
  ["source_port", "SourcePortInput"],
  ["direct_source_ip", "DirectSourceIPInput"],
  ["source_type", "SourceTypeInput"],
  ["server_name", "ServerNameInput"],
  ["transport_protocol", "TransportProtocolInput"],
  ["application_protocol", "ApplicationProtocolInput"],
].map(([name, type]) => ({
  name: `envoy.matching.inputs.${name}`,
  category: "envoy.matching",
  configTypes: [`${PKG}.${type}`],
  fields: { implemented: { [`${PKG}.${type}`]: [] } },
}));

/** The IP range matcher (a sublinear custom matcher of matcher trees). */
export const ipMatcherFactory: ExtensionFactory = {
  name: "envoy.matching.custom_matchers.trie_matcher",
  category: "envoy.matching",
  configTypes: ["xds.type.matcher.v3.IPMatcher"],
  fields: {
    implemented: {
      "xds.type.matcher.v3.IPMatcher": ["range_matchers"],
      "xds.type.matcher.v3.IPMatcher.IPRangeMatcher": ["ranges", "on_match", "exclusive"],
      "xds.core.v3.CidrRange": ["address_prefix", "prefix_len"],
    },
  },
};
