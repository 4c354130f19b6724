<?php
/**
 * Uninstall: removes Sovgate's options (the site key among them) from every site (on a
 * multisite network, from each site's own options) and the must-use loader that
 * activation installed.
 *
 * @package Sovgate
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

$sovgate_loader = WPMU_PLUGIN_DIR . '/sovgate-loader.php';
if ( get_option( 'sovgate_loader_installed' ) && is_file( $sovgate_loader ) && md5_file( $sovgate_loader ) === md5_file( __DIR__ . '/mu-plugin/sovgate-loader.php' ) ) {
	wp_delete_file( $sovgate_loader );
}
$sovgate_sites = is_multisite()
	? get_sites(
		array(
			'fields' => 'ids',
			'number' => 0,
		)
	)
	: array( 0 );
foreach ( $sovgate_sites as $sovgate_site ) {
	if ( $sovgate_site ) {
		switch_to_blog( $sovgate_site );
	}
	foreach ( array( 'sovgate_settings', 'sovgate_site_secret', 'sovgate_events', 'sovgate_loader_installed' ) as $sovgate_option ) {
		delete_option( $sovgate_option );
	}
	if ( $sovgate_site ) {
		restore_current_blog();
	}
}
unset( $sovgate_loader, $sovgate_sites, $sovgate_site, $sovgate_option );
