<?php
/**
 * Plugin Name: Sovgate loader
 * Description: Loads Sovgate before every other plugin, so that no AI call leaves before its interception is in place. Installed by the Sovgate plugin's activation (where wp-content/mu-plugins is writable) or by the operator.
 * Version:     0.1.0
 * License:     GPL-2.0-or-later
 *
 * Copy this file to wp-content/mu-plugins/sovgate-loader.php. It loads
 * wp-content/plugins/sovgate/sovgate.php (or SOVGATE_PLUGIN_FILE), active or not in the
 * plugin list. Without the plugin's files, it blocks the default AI hosts and those of
 * SOVGATE_HOSTS (fail closed).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

$sovgate_loader_main = defined( 'SOVGATE_PLUGIN_FILE' ) ? SOVGATE_PLUGIN_FILE : WP_PLUGIN_DIR . '/sovgate/sovgate.php';

if ( is_readable( $sovgate_loader_main ) ) {
	if ( ! defined( 'SOVGATE_LOADED_BY_MU' ) ) {
		define( 'SOVGATE_LOADED_BY_MU', true );
	}
	// So that plugin_basename() knows the plugin when its folder is a symbolic link.
	wp_register_plugin_realpath( $sovgate_loader_main );
	require_once $sovgate_loader_main;
} else {
	add_filter(
		'pre_http_request',
		static function ( $pre, $args, $url ) {
			// Sovgate_Hosts::DEFAULTS (kept in step by tests/wordpress/unit/LoaderTest.php), and
			// SOVGATE_HOSTS. Hosts are compared percent-decoded, as WordPress connects to them.
			$ai   = array( 'api.openai.com', '*.api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'aiplatform.googleapis.com', '*-aiplatform.googleapis.com', 'api.mistral.ai', 'codestral.mistral.ai', 'api.cohere.com', 'api.cohere.ai', 'openrouter.ai', 'api.groq.com', 'api.deepseek.com', 'api.x.ai', 'api.together.xyz', 'api.perplexity.ai', 'api.fireworks.ai', '*.api.fireworks.ai', 'api.replicate.com', 'api-inference.huggingface.co', 'router.huggingface.co', '*.endpoints.huggingface.cloud', 'models.github.ai', '*.openai.azure.com', '*.cognitiveservices.azure.com', '*.services.ai.azure.com', '*.models.ai.azure.com', '*.inference.ai.azure.com', '*.inference.ml.azure.com', 'bedrock.*.amazonaws.com', 'bedrock-runtime.*.amazonaws.com', 'bedrock-runtime-fips.*.amazonaws.com', 'bedrock-agent-runtime.*.amazonaws.com' );
			$more = defined( 'SOVGATE_HOSTS' ) ? SOVGATE_HOSTS : array();
			$ai   = array_merge( $ai, is_array( $more ) ? $more : preg_split( '/[\s,]+/', (string) $more ) );
			$host = wp_parse_url( (string) $url, PHP_URL_HOST );
			$host = rtrim( strtolower( rawurldecode( is_string( $host ) ? $host : '' ) ), '.' );
			// An http(s) URL whose host cannot be read here (none, or not plain ASCII) too.
			$hit = preg_match( '#^\s*https?:#i', (string) $url ) && ! preg_match( '/^[a-z0-9_.:\[\]-]+$/', $host );
			foreach ( $ai as $pattern ) {
				$pattern = rtrim( strtolower( trim( (string) $pattern ) ), '.' );
				$star    = strpos( $pattern, '*' );
				$prefix  = false === $star ? '' : substr( $pattern, 0, $star );
				$suffix  = false === $star ? '' : substr( $pattern, $star + 1 );
				$middle  = strlen( $host ) - strlen( $prefix ) - strlen( $suffix );
				// A host name, `*.domain`, `*-name.domain`, or `name.*.domain` (one label).
				$hit = $hit || ( '' !== $pattern && ( $host === $pattern || ( false !== $star && $middle > 0 && 0 === strpos( $host, $prefix ) && substr( $host, -strlen( $suffix ) ) === $suffix && ( 0 === $star || false === strpos( substr( $host, $star, $middle ), '.' ) ) ) ) );
			}
			if ( false === $pre && $hit ) {
				return new WP_Error( 'sovgate_blocked', 'Sovgate blocked an AI call to ' . $host . ': the Sovgate plugin files are missing (wp-content/plugins/sovgate). Reinstall the plugin, or remove wp-content/mu-plugins/sovgate-loader.php.' );
			}
			return $pre;
		},
		PHP_INT_MAX,
		3
	);
}
unset( $sovgate_loader_main );
