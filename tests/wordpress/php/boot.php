<?php
/**
 * Shared start of the test helper scripts run with php-cli (inside the tests' mount
 * namespace, where /etc/wordpress holds the test site's configuration): a web-like
 * $_SERVER for Debian's wp-config.php, which picks the configuration by host name.
 *
 * @package Sovgate_Tests
 */

$sg_host                     = (string) getenv( 'SG_WP_HOST' );
$_SERVER['HTTP_HOST']        = $sg_host;
$_SERVER['SERVER_NAME']      = preg_replace( '/:.*/', '', $sg_host );
$_SERVER['SERVER_PORT']      = '80';
$_SERVER['REQUEST_URI']      = '/';
$_SERVER['REQUEST_METHOD']   = 'GET';
$_SERVER['SERVER_PROTOCOL']  = 'HTTP/1.1';
$_SERVER['REMOTE_ADDR']      = '127.0.0.1';
$_SERVER['HTTP_USER_AGENT']  = 'sovgate-tests';
define( 'SG_WP_ROOT', rtrim( (string) getenv( 'SG_WP_ROOT' ), '/' ) . '/' );

/**
 * Prints a result for the test to read.
 *
 * @param mixed $value Result.
 */
function sg_result( $value ) {
	echo "\n@@SG-RESULT@@" . json_encode( $value, JSON_UNESCAPED_SLASHES ) . "\n";
}
