<?php
/**
 * WP-CLI commands: `wp sovgate status` and `wp sovgate test`. Loaded only when WP-CLI
 * runs (WP_CLI is defined).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Checks the Sovgate AI gateway connection of this site.
 */
class Sovgate_CLI {

	/**
	 * Shows the interception status: gateway, key (set or not, never the key), mode (and
	 * what is wrong with a mode set that is no mode), AI hosts (and what is wrong with a
	 * list from code), loader, transport, and the recent problems.
	 *
	 * ## OPTIONS
	 *
	 * [--format=<format>]
	 * : table or json.
	 * ---
	 * default: table
	 * options:
	 *   - table
	 *   - json
	 * ---
	 *
	 * ## EXAMPLES
	 *
	 *     wp sovgate status
	 *
	 * @param array $args       Positional arguments.
	 * @param array $assoc_args Options.
	 */
	public function status( $args, $assoc_args ) {
		$s = Sovgate_Client::status();
		if ( 'json' === ( $assoc_args['format'] ?? 'table' ) ) {
			WP_CLI::line( (string) wp_json_encode( $s, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES ) );
			return;
		}
		$rows = array(
			array(
				'setting' => 'gateway',
				'value'   => '' === $s['gateway'] ? '(not set)' : $s['gateway'],
			),
			array(
				'setting' => 'site key',
				'value'   => $s['key'] ? 'set' : 'not set',
			),
			array(
				'setting' => 'CA bundle',
				'value'   => '' === $s['ca_bundle'] ? '(WordPress\'s bundle)' : $s['ca_bundle'],
			),
			array(
				'setting' => 'mode',
				'value'   => $s['mode'],
			),
			array(
				'setting' => 'mode problem',
				'value'   => '' === $s['mode_problem'] ? '(none)' : $s['mode_problem'],
			),
			array(
				'setting' => 'interception',
				'value'   => $s['configured'] ? 'active' : ( 'enforce' === $s['mode'] ? 'not configured: AI calls are blocked' : 'not configured: AI calls go to providers' ),
			),
			array(
				'setting' => 'must-use loader',
				'value'   => $s['loaded_early'] ? 'active' : 'not installed',
			),
			array(
				'setting' => 'transport',
				'value'   => $s['curl'] ? 'cURL (handle rerouted)' : 'fallback (Sovgate sends)',
			),
			array(
				'setting' => 'AI hosts',
				'value'   => implode( ', ', $s['hosts'] ),
			),
			array(
				'setting' => 'AI hosts added by an update',
				'value'   => $s['hosts_added'] ? implode( ', ', $s['hosts_added'] ) : '(none)',
			),
			array(
				'setting' => 'AI host list problem',
				'value'   => '' === $s['hosts_problem'] ? '(none)' : $s['hosts_problem'],
			),
			array(
				'setting' => 'fields header',
				'value'   => '' === $s['fields'] ? '(none)' : $s['fields'],
			),
		);
		WP_CLI\Utils\format_items( 'table', $rows, array( 'setting', 'value' ) );
		if ( $s['events'] ) {
			WP_CLI::line( '' );
			WP_CLI::line( 'Recent problems:' );
			$events = array();
			foreach ( array_slice( $s['events'], 0, 10 ) as $e ) {
				$e['time'] = gmdate( 'Y-m-d H:i:s', (int) $e['time'] );
				$events[]  = $e;
			}
			WP_CLI\Utils\format_items( 'table', $events, array( 'time', 'type', 'source', 'host', 'message' ) );
		}
	}

	/**
	 * Tests the gateway: reachable with its certificate verified, the site key accepted,
	 * and a canary request (with a made-up e-mail address the gateway pseudonymizes)
	 * answered, straight and through the interception of a call to api.openai.com.
	 * Prints what the gateway answered (request id, model, its x-sovgate-* headers).
	 *
	 * ## EXAMPLES
	 *
	 *     wp sovgate test
	 *
	 * @param array $args       Positional arguments.
	 * @param array $assoc_args Options.
	 */
	public function test( $args, $assoc_args ) {
		$checks = Sovgate_Client::diagnose( true );
		$failed = 0;
		foreach ( $checks as $check ) {
			WP_CLI::line( sprintf( '%s %s: %s', $check['ok'] ? 'OK  ' : 'FAIL', $check['name'], $check['detail'] ) );
			$failed += $check['ok'] ? 0 : 1;
		}
		if ( $failed ) {
			WP_CLI::error( sprintf( '%d check(s) failed.', $failed ) );
		}
		WP_CLI::success( 'AI calls from this site go through the Sovgate gateway.' );
	}
}
