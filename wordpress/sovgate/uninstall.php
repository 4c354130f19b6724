<?php
/**
 * Uninstall: removes Sovgate's options and the must-use loader that activation installed.
 *
 * @package Sovgate
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

$sovgate_loader = WPMU_PLUGIN_DIR . '/sovgate-loader.php';
if ( get_option( 'sovgate_loader_installed' ) && is_file( $sovgate_loader ) && md5_file( $sovgate_loader ) === md5_file( __DIR__ . '/mu-plugin/sovgate-loader.php' ) ) {
	wp_delete_file( $sovgate_loader );
}
foreach ( array( 'sovgate_settings', 'sovgate_site_secret', 'sovgate_events', 'sovgate_loader_installed' ) as $sovgate_option ) {
	delete_option( $sovgate_option );
}
