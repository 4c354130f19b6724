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
	/*
	 * The AI hosts to block, read once: Sovgate_Hosts::DEFAULTS (kept in step by
	 * tests/wordpress/unit/LoaderTest.php), and SOVGATE_HOSTS read the way the plugin reads
	 * it (Sovgate_Hosts::parse_list(), is_valid_pattern(), list_problem()). An entry that is
	 * no host name or wildcard (`*.domain`, `*-name.domain`, `name.*.domain`), is longer
	 * than 253 bytes (the longest host name), or is not text, matches nothing and is left
	 * out. A list over the plugin's limits (200 entries, 64 KiB of text) is not cut: calls
	 * to the hosts past the limit would reach the provider. What is wrong with the list goes
	 * to PHP's error log (once a request) and to Site Health.
	 */
	$sovgate_loader_hosts = static function () {
		static $hosts = null;
		if ( null !== $hosts ) {
			return $hosts;
		}
		$patterns = array( 'api.openai.com', '*.api.openai.com', 'api.anthropic.com', 'generativelanguage.googleapis.com', 'aiplatform.googleapis.com', '*-aiplatform.googleapis.com', 'api.mistral.ai', 'codestral.mistral.ai', 'api.cohere.com', 'api.cohere.ai', 'openrouter.ai', 'api.groq.com', 'api.deepseek.com', 'api.x.ai', 'api.together.xyz', 'api.perplexity.ai', 'api.fireworks.ai', '*.api.fireworks.ai', 'api.replicate.com', 'api-inference.huggingface.co', 'router.huggingface.co', '*.endpoints.huggingface.cloud', 'models.github.ai', '*.openai.azure.com', '*.cognitiveservices.azure.com', '*.services.ai.azure.com', '*.models.ai.azure.com', '*.inference.ai.azure.com', '*.inference.ml.azure.com', 'bedrock.*.amazonaws.com', 'bedrock-runtime.*.amazonaws.com', 'bedrock-runtime-fips.*.amazonaws.com', 'bedrock-agent-runtime.*.amazonaws.com' );
		$problems = array();
		$raw      = defined( 'SOVGATE_HOSTS' ) ? SOVGATE_HOSTS : array();
		$items    = is_array( $raw ) ? $raw : preg_split( '/[\s,]+/', is_scalar( $raw ) ? (string) $raw : '', -1, PREG_SPLIT_NO_EMPTY );
		$count    = 0;
		$long     = 0;
		$invalid  = array();
		$label    = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
		$domain   = $label . '(?:\.' . $label . ')+';
		$valid    = '/^(?:' . $label . '(?:\.' . $label . ')*|\*\.' . $domain . '|\*-[a-z0-9-]*[a-z0-9](?:\.' . $label . ')+|' . $label . '(?:\.' . $label . ')*\.\*\.' . $domain . ')$/';
		$typed    = is_string( $raw ) || is_array( $raw );
		foreach ( $items as $item ) {
			if ( ! is_string( $item ) ) {
				$typed = false;
				continue;
			}
			$item = rtrim( trim( strtolower( trim( $item ) ), '[]' ), '.' );
			if ( '' === $item ) {
				continue;
			}
			++$count;
			if ( strlen( $item ) > 253 ) {
				++$long;
			} elseif ( preg_match( $valid, $item ) ) {
				$patterns[] = $item;
			} else {
				$invalid[] = $item;
			}
		}
		$text = is_string( $raw ) && strlen( $raw ) > 65536;
		if ( ! $typed ) {
			$problems[] = 'is not text with one host per line, nor a list of host names';
		}
		if ( $text ) {
			$problems[] = 'is longer than 64 KiB';
		}
		if ( $count > 200 ) {
			$problems[] = 'has ' . $count . ' entries, more than 200';
		}
		if ( $long ) {
			$problems[] = 'has ' . $long . ' ' . ( 1 === $long ? 'entry' : 'entries' ) . ' longer than 253 bytes, the longest host name, which were ignored';
		}
		if ( $invalid ) {
			$invalid = array_values( array_unique( $invalid ) );
			$shown   = array();
			foreach ( array_slice( $invalid, 0, 10 ) as $entry ) {
				$shown[] = preg_replace( '/[^\x20-\x7e]/', '?', substr( $entry, 0, 64 ) ) . ( strlen( $entry ) > 64 ? '...' : '' );
			}
			$more       = count( $invalid ) - count( $shown );
			$problems[] = 'has entries that are not host names or wildcards, which were ignored: ' . implode( ', ', $shown ) . ( $more ? ' and ' . $more . ' more' : '' );
		}
		$hosts = array(
			'patterns' => array_values( array_unique( $patterns ) ),
			'problem'  => $problems ? 'SOVGATE_HOSTS in wp-config.php ' . implode( '; it ', $problems ) . '. Every default AI host and every host name or wildcard on it ' . ( $text || $count > 200 ? 'is blocked all the same: the list is not cut' : 'is blocked' ) . '. Keep it to at most 200 entries of at most 253 bytes each (64 KiB in all), one host name or wildcard (*.domain, *-name.domain, name.*.domain) each.' : '',
		);
		if ( '' !== $hosts['problem'] ) {
			error_log( 'Sovgate loader: the Sovgate plugin files are missing; ' . $hosts['problem'] ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log -- the loader has no other log.
		}
		return $hosts;
	};

	add_filter(
		'pre_http_request',
		static function ( $pre, $args, $url ) use ( $sovgate_loader_hosts ) {
			// Hosts are compared percent-decoded, as WordPress connects to them.
			$host = wp_parse_url( (string) $url, PHP_URL_HOST );
			$host = rtrim( strtolower( rawurldecode( is_string( $host ) ? $host : '' ) ), '.' );
			// An http(s) URL whose host cannot be read here (none, or not plain ASCII) too.
			$hit = preg_match( '#^\s*https?:#i', (string) $url ) && ! preg_match( '/^[a-z0-9_.:\[\]-]+$/', $host );
			foreach ( $sovgate_loader_hosts()['patterns'] as $pattern ) {
				if ( $hit ) {
					break;
				}
				$star   = strpos( $pattern, '*' );
				$prefix = false === $star ? '' : substr( $pattern, 0, $star );
				$suffix = false === $star ? '' : substr( $pattern, $star + 1 );
				$middle = strlen( $host ) - strlen( $prefix ) - strlen( $suffix );
				// A host name, `*.domain`, `*-name.domain`, or `name.*.domain` (one label).
				$hit = $host === $pattern || ( false !== $star && $middle > 0 && 0 === strpos( $host, $prefix ) && substr( $host, -strlen( $suffix ) ) === $suffix && ( 0 === $star || false === strpos( substr( $host, $star, $middle ), '.' ) ) );
			}
			if ( false === $pre && $hit ) {
				return new WP_Error( 'sovgate_blocked', 'Sovgate blocked an AI call to ' . $host . ': the Sovgate plugin files are missing (wp-content/plugins/sovgate). Reinstall the plugin, or remove wp-content/mu-plugins/sovgate-loader.php.' );
			}
			return $pre;
		},
		PHP_INT_MAX,
		3
	);

	// Site Health says that the plugin is missing, and what is wrong with SOVGATE_HOSTS.
	add_filter(
		'site_status_tests',
		static function ( $tests ) use ( $sovgate_loader_hosts ) {
			$tests['direct']['sovgate_interception'] = array(
				'label' => 'Sovgate AI gateway',
				'test'  => static function () use ( $sovgate_loader_hosts ) {
					$problem = $sovgate_loader_hosts()['problem'];
					return array(
						'label'       => 'The Sovgate plugin files are missing: AI calls are blocked',
						'status'      => 'critical',
						'badge'       => array(
							'label' => 'Privacy',
							'color' => 'red',
						),
						'description' => '<p>' . esc_html( 'The Sovgate must-use loader (wp-content/mu-plugins/sovgate-loader.php) cannot find the plugin\'s files (wp-content/plugins/sovgate), so it blocks every AI call to the default AI hosts and those of SOVGATE_HOSTS. Reinstall the plugin, or remove the loader.' ) . '</p>'
							. ( '' === $problem ? '' : '<p>' . esc_html( $problem ) . '</p>' ),
						'actions'     => '',
						'test'        => 'sovgate_interception',
					);
				},
			);
			return $tests;
		}
	);
}
unset( $sovgate_loader_main, $sovgate_loader_hosts );
