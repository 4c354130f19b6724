<?php
/**
 * Start-up, activation (installs the must-use loader where wp-content/mu-plugins is
 * writable) and deactivation (removes the loader it installed).
 *
 * @package Sovgate
 */

defined( 'ABSPATH' ) || exit;

/**
 * The plugin.
 */
final class Sovgate_Plugin {

	/**
	 * Set when activation installed the loader (so deactivation may remove it).
	 */
	const LOADER_OPTION = 'sovgate_loader_installed';

	/**
	 * Adds every hook. The interception's hooks are added at once, so that with the
	 * must-use loader they are in place before any other plugin loads.
	 */
	public static function boot() {
		Sovgate_Interceptor::register();
		Sovgate_Settings::register();
		Sovgate_Chat::register();
		Sovgate_Site_Health::register();
		Sovgate_Providers::register();
		add_action( 'init', array( __CLASS__, 'textdomain' ) );
		if ( is_admin() ) {
			Sovgate_Admin::register();
		}
		if ( defined( 'WP_CLI' ) && WP_CLI ) {
			require_once SOVGATE_DIR . 'includes/class-sovgate-cli.php';
			WP_CLI::add_command( 'sovgate', 'Sovgate_CLI' );
		}
	}

	/**
	 * Translations.
	 */
	public static function textdomain() {
		load_plugin_textdomain( 'sovgate', false, dirname( plugin_basename( SOVGATE_FILE ) ) . '/languages' );
	}

	/**
	 * The shipped loader.
	 *
	 * @return string
	 */
	public static function loader_source() {
		return SOVGATE_DIR . 'mu-plugin/sovgate-loader.php';
	}

	/**
	 * Where the loader is installed.
	 *
	 * @return string
	 */
	public static function loader_target() {
		return WPMU_PLUGIN_DIR . '/sovgate-loader.php';
	}

	/**
	 * Activation: installs the loader into wp-content/mu-plugins when it is writable
	 * (otherwise the operator copies it; the settings page and Site Health say so), and
	 * makes the site secret.
	 */
	public static function activate() {
		Sovgate_Settings::site_secret();
		$target = self::loader_target();
		if ( is_readable( $target ) ) {
			return;
		}
		if ( ! is_dir( WPMU_PLUGIN_DIR ) ) {
			wp_mkdir_p( WPMU_PLUGIN_DIR );
		}
		if ( is_dir( WPMU_PLUGIN_DIR ) && wp_is_writable( WPMU_PLUGIN_DIR ) && copy( self::loader_source(), $target ) ) {
			update_option( self::LOADER_OPTION, 1, false );
		}
	}

	/**
	 * Deactivation: removes the loader if activation installed it and it is unchanged
	 * (a loader the operator installed stays, and keeps Sovgate on).
	 */
	public static function deactivate() {
		self::remove_loader();
	}

	/**
	 * Removes the loader activation installed.
	 */
	public static function remove_loader() {
		$target = self::loader_target();
		if ( get_option( self::LOADER_OPTION ) && is_file( $target ) && md5_file( $target ) === md5_file( self::loader_source() ) ) {
			wp_delete_file( $target );
		}
		delete_option( self::LOADER_OPTION );
	}
}
