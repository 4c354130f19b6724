<?php
/**
 * Installs the test site with wp_install(): admin user, pretty permalinks, the
 * twentytwentythree theme when present, a product post and two pages with the chat
 * (shortcode and block). Run once on an empty database.
 *
 * @package Sovgate_Tests
 */

require __DIR__ . '/boot.php';

// No mail on this machine: wp_install() announces the new site by mail.
function wp_mail() {
	return true;
}

define( 'WP_INSTALLING', true );
require SG_WP_ROOT . 'wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$result = wp_install( 'Sovgate Test Shop', 'admin', 'admin@shop.example', false, '', (string) getenv( 'SG_WP_ADMIN_PASSWORD' ) );
update_option( 'permalink_structure', '/%postname%/' );
sg_result( array( 'user_id' => $result['user_id'] ) );
