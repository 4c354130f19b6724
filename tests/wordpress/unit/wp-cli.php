<?php
/**
 * A little of WP-CLI for the tests of Sovgate_CLI (loaded by the test that needs it, in
 * its own process): WP_CLI::line(), error() and success() record what they print, and
 * WP_CLI\Utils\format_items() records its rows.
 *
 * @package Sovgate_Tests
 */

namespace {

	/**
	 * WP_CLI's static API, recording.
	 */
	class WP_CLI {

		/**
		 * Lines printed.
		 *
		 * @var string[]
		 */
		public static $lines = array();

		/**
		 * Tables printed, each a list of rows.
		 *
		 * @var array[]
		 */
		public static $tables = array();

		public static function line( $message = '' ) {
			self::$lines[] = (string) $message;
		}

		public static function success( $message ) {
			self::$lines[] = 'Success: ' . $message;
		}

		public static function error( $message ) {
			self::$lines[] = 'Error: ' . $message;
		}
	}

	if ( ! function_exists( 'wp_json_encode' ) ) {
		function wp_json_encode( $data, $options = 0 ) {
			return json_encode( $data, $options );
		}
	}
}

namespace WP_CLI\Utils {

	function format_items( $format, $items, $fields ) {
		\WP_CLI::$tables[] = $items;
	}
}
