<?php
/**
 * Plugin Name: Sovgate loader
 * Description: Loads Sovgate before every other plugin, so that no AI call leaves before its interception is in place. Installed by the Sovgate plugin's activation (where wp-content/mu-plugins is writable) or by the operator.
 * Version:     0.1.0
 * License:     GPL-2.0-or-later
 *
 * Copy this file to wp-content/mu-plugins/sovgate-loader.php. It loads
 * wp-content/plugins/sovgate/sovgate.php (or SOVGATE_PLUGIN_FILE), active or not in the
 * plugin list. Without the plugin's files, it blocks the default AI hosts (fail closed).
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
			$host = strtolower( rtrim( (string) wp_parse_url( $url, PHP_URL_HOST ), '.' ) );
			$ai   = array( 'api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'api.mistral.ai', 'api.cohere.com', 'api.cohere.ai', 'openrouter.ai', 'api.groq.com', 'api.deepseek.com', 'api.x.ai', 'api.together.xyz', 'api.perplexity.ai' );
			if ( false === $pre && ( in_array( $host, $ai, true ) || '.openai.azure.com' === substr( $host, -17 ) ) ) {
				return new WP_Error( 'sovgate_blocked', 'Sovgate blocked an AI call to ' . $host . ': the Sovgate plugin files are missing (wp-content/plugins/sovgate). Reinstall the plugin, or remove wp-content/mu-plugins/sovgate-loader.php.' );
			}
			return $pre;
		},
		PHP_INT_MAX,
		3
	);
}
unset( $sovgate_loader_main );
