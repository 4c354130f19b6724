<?php
/**
 * What went wrong with AI calls: blocked calls, calls that went to a provider unrouted
 * (monitor mode), calls the gateway did not answer. Kept (the last 50) for the settings
 * page, Site Health and `wp sovgate status`, and written to PHP's error log.
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * Event log.
 */
final class Sovgate_Events {

	const OPTION = 'sovgate_events';

	const KEEP = 50;

	/**
	 * Records an event.
	 *
	 * @param string $type    `blocked`, `unrouted` or `gateway_error`.
	 * @param string $host    The AI host called.
	 * @param string $source  The calling plugin or theme.
	 * @param string $message What happened (no request content, no keys).
	 */
	public static function record( $type, $host, $source, $message ) {
		$event  = array(
			'time'    => time(),
			'type'    => (string) $type,
			'host'    => (string) $host,
			'source'  => (string) $source,
			'message' => (string) $message,
		);
		$events = self::all();
		array_unshift( $events, $event );
		update_option( self::OPTION, array_slice( $events, 0, self::KEEP ), false );
		// phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log -- operators read this in the PHP error log.
		error_log( sprintf( 'Sovgate: %s: %s called %s: %s', $event['type'], $event['source'], $event['host'], $event['message'] ) );
	}

	/**
	 * The recorded events, newest first.
	 *
	 * @return array[]
	 */
	public static function all() {
		$events = get_option( self::OPTION, array() );
		return is_array( $events ) ? $events : array();
	}

	/**
	 * Forgets all events.
	 */
	public static function clear() {
		delete_option( self::OPTION );
	}
}
