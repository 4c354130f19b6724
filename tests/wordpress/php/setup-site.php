<?php
/**
 * After install: activates Sovgate and the test plugin as WordPress's admin would
 * (activate_plugin(), which runs the activation hooks), switches to the
 * twentytwentythree theme when installed, and creates the product and chat pages.
 *
 * @package Sovgate_Tests
 */

require __DIR__ . '/boot.php';
require SG_WP_ROOT . 'wp-load.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

wp_set_current_user( 1 );
flush_rewrite_rules( false );
$out = array();
foreach ( array( 'sovgate/sovgate.php', 'ai-test-plugin/ai-test-plugin.php' ) as $plugin ) {
	$r                   = activate_plugin( $plugin );
	$out['activate'][]   = is_wp_error( $r ) ? $r->get_error_message() : 'ok';
}
if ( wp_get_theme( 'twentytwentythree' )->exists() ) {
	switch_theme( 'twentytwentythree' );
}
$out['theme'] = get_stylesheet();
update_option( 'ai_test_token', (string) getenv( 'SG_TEST_TOKEN' ), false );

$product        = wp_insert_post(
	array(
		'post_type'    => 'post',
		'post_status'  => 'publish',
		'post_title'   => 'Aurora desk lamp',
		'post_excerpt' => 'A warm LED desk lamp, 40 cm, dimmable, ships in 2 days.',
		'post_content' => 'A warm LED desk lamp.',
	)
);
$out['product'] = $product;
$out['page']    = wp_insert_post(
	array(
		'post_type'    => 'page',
		'post_status'  => 'publish',
		'post_title'   => 'Ask us',
		'post_name'    => 'ask',
		'post_content' => '<!-- wp:shortcode -->[sovgate_chat product="' . $product . '"]<!-- /wp:shortcode -->',
	)
);
$out['block_page'] = wp_insert_post(
	array(
		'post_type'    => 'page',
		'post_status'  => 'publish',
		'post_title'   => 'Ask the block',
		'post_name'    => 'ask-block',
		'post_content' => '<!-- wp:sovgate/chat {"product":' . $product . ',"title":"Block chat"} /-->',
	)
);
$out['loader'] = is_file( WPMU_PLUGIN_DIR . '/sovgate-loader.php' );
sg_result( $out );
