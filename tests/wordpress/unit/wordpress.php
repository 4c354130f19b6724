<?php
/**
 * A little of WordPress for the unit tests of the plugin's WordPress glue (settings,
 * admin, interception): the real hook API, WP_Error, the HTTP API's functions, the
 * Requests library and WP_HTTP_Requests_Hooks from the installed WordPress (SG_WP_ROOT,
 * default /usr/share/wordpress: Debian's `wordpress` package, which the end-to-end tests
 * use too), and stubs of the few other functions the classes call, driven by
 * $GLOBALS['sg_wp'].
 *
 * @package Sovgate_Tests
 */

$sg_wp_includes = rtrim( getenv( 'SG_WP_ROOT' ) ? getenv( 'SG_WP_ROOT' ) : '/usr/share/wordpress', '/' ) . '/wp-includes/';
if ( ! is_readable( $sg_wp_includes . 'plugin.php' ) ) {
	fwrite( STDERR, "WordPress not found in $sg_wp_includes (scripts/setup installs it; or set SG_WP_ROOT)\n" );
	exit( 1 );
}
require_once $sg_wp_includes . 'plugin.php';
require_once $sg_wp_includes . 'class-wp-error.php';
require_once $sg_wp_includes . 'http.php';
require_once $sg_wp_includes . 'class-requests.php';
Requests::register_autoloader();
require_once $sg_wp_includes . 'class-wp-http-requests-hooks.php';
unset( $sg_wp_includes );

// Sovgate_Events::record() also writes to PHP's error log.
ini_set( 'error_log', '/dev/null' ); // phpcs:ignore WordPress.PHP.IniSet.Risky

/**
 * Resets the fake site: options, the current user's capabilities, multisite.
 *
 * @param array    $settings  The sovgate_settings option.
 * @param string[] $caps      The current user's capabilities.
 * @param bool     $multisite Whether this is a multisite network.
 */
function sg_wp_reset( array $settings = array(), array $caps = array( 'manage_options' ), $multisite = false ) {
	$GLOBALS['sg_wp'] = array(
		'options'   => array( 'sovgate_settings' => $settings ),
		'caps'      => $caps,
		'multisite' => $multisite,
		'errors'    => array(),
	);
	Sovgate_Settings::flush();
}

/**
 * What the settings page's form does on WordPress 6.1 (options.php, update_option()): the
 * settings' sanitize callback runs on the posted value; where the option does not exist
 * yet (get_option() gives the registered default, array()), update_option() hands the
 * result to add_option(), which runs the callback again on it. That second pass is what
 * a site's first save goes through, on every site of a multisite network too.
 *
 * @param mixed $input The posted sovgate_settings.
 * @return mixed The stored value.
 */
function sg_wp_save( $input ) {
	$old   = get_option( 'sovgate_settings', array() );
	$value = Sovgate_Admin::sanitize( $input );
	if ( $value === $old ) {
		return $old;
	}
	if ( array() === $old ) {
		$value = Sovgate_Admin::sanitize( $value );
	}
	update_option( 'sovgate_settings', $value );
	Sovgate_Settings::flush();
	return $value;
}

function __( $text ) {
	return $text;
}

function get_option( $name, $default_value = false ) {
	return $GLOBALS['sg_wp']['options'][ $name ] ?? $default_value;
}

function update_option( $name, $value ) {
	$GLOBALS['sg_wp']['options'][ $name ] = $value;
	return true;
}

function is_multisite() {
	return $GLOBALS['sg_wp']['multisite'];
}

function current_user_can( $capability ) {
	return in_array( $capability, $GLOBALS['sg_wp']['caps'], true );
}

function get_current_user_id() {
	return 0;
}

function is_wp_error( $thing ) {
	return $thing instanceof WP_Error;
}

function add_settings_error( $setting, $code, $message, $type = 'error' ) {
	$GLOBALS['sg_wp']['errors'][] = array( $code, $message, $type );
}

function sanitize_text_field( $str ) {
	return trim( strip_tags( (string) $str ) ); // phpcs:ignore WordPress.WP.AlternativeFunctions.strip_tags_strip_tags
}

function absint( $value ) {
	return abs( (int) $value );
}

function esc_attr( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES );
}

function esc_html( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES );
}

function esc_html__( $text ) {
	return esc_html( $text );
}

function esc_textarea( $text ) {
	return esc_html( $text );
}

function esc_url( $url ) {
	return esc_attr( $url );
}

function admin_url( $path = '' ) {
	return 'https://shop.example/wp-admin/' . $path;
}

function disabled( $disabled, $current = true, $display = true ) {
	return (string) $disabled === (string) $current ? ' disabled=\'disabled\'' : '';
}

function checked( $checked, $current = true, $display = true ) {
	return (string) $checked === (string) $current ? ' checked=\'checked\'' : '';
}

if ( ! defined( 'SOVGATE_VERSION' ) ) {
	define( 'SOVGATE_VERSION', '0.0.0-test' );
}

$sovgate_dir = dirname( __DIR__, 3 ) . '/wordpress/sovgate/';
require_once $sovgate_dir . 'includes/class-sovgate-settings.php';
require_once $sovgate_dir . 'includes/class-sovgate-events.php';
require_once $sovgate_dir . 'includes/class-sovgate-interceptor.php';
require_once $sovgate_dir . 'includes/class-sovgate-client.php';
require_once $sovgate_dir . 'includes/class-sovgate-admin.php';
require_once $sovgate_dir . 'includes/class-sovgate-site-health.php';
require_once $sovgate_dir . 'includes/class-sovgate-cli.php';
unset( $sovgate_dir );
sg_wp_reset();
