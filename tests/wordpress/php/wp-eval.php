<?php
/**
 * Boots the test site and runs the PHP code given on standard input (a test helper; the
 * code's return value is printed as JSON).
 *
 * @package Sovgate_Tests
 */

require __DIR__ . '/boot.php';
require SG_WP_ROOT . 'wp-load.php';
$sg_code = stream_get_contents( STDIN );
sg_result( eval( $sg_code ) ); // phpcs:ignore Squiz.PHP.Eval.Discouraged -- test helper.
