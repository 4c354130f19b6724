<?php
/**
 * Uninstalling removes Sovgate's options (the site key among them) from every site of a
 * multisite network, not only from the main site.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * @runTestsInSeparateProcesses
 * @preserveGlobalState disabled
 */
final class UninstallTest extends TestCase {

	/**
	 * Runs uninstall.php on a network of three sites, each with Sovgate's options.
	 *
	 * @param bool $multisite Whether this is a network.
	 * @return array Site id => options left.
	 */
	private static function uninstall( $multisite ) {
		$sites = array();
		foreach ( array( 1, 2, 3 ) as $id ) {
			$sites[ $id ] = array(
				'sovgate_settings'    => array( 'api_key' => 'sg-site-' . $id . '-key' ),
				'sovgate_site_secret' => str_repeat( 'ab', 32 ),
				'sovgate_events'      => array(),
				'other_plugin'        => 'kept',
			);
		}
		$GLOBALS['sg_test_sites'] = $sites;
		$GLOBALS['sg_test_blog']  = 1;
		$GLOBALS['sg_test_stack'] = array();
		sg_wp_reset( array(), array( 'manage_options' ), $multisite );
		$GLOBALS['sg_wp']['options'] = &$GLOBALS['sg_test_sites'][1];
		define( 'WP_UNINSTALL_PLUGIN', 'sovgate/sovgate.php' );
		define( 'WPMU_PLUGIN_DIR', sys_get_temp_dir() . '/sovgate-no-mu-plugins' );
		require SOVGATE_DIR . 'uninstall.php';
		return $GLOBALS['sg_test_sites'];
	}

	public function test_every_site_of_a_network_is_cleaned() {
		foreach ( self::uninstall( true ) as $id => $options ) {
			$this->assertSame( array( 'other_plugin' => 'kept' ), $options, 'site ' . $id );
		}
		$this->assertSame( 1, $GLOBALS['sg_test_blog'], 'back on the main site' );
	}

	public function test_a_single_site_is_cleaned() {
		$left = self::uninstall( false );
		$this->assertSame( array( 'other_plugin' => 'kept' ), $left[1] );
	}
}

function delete_option( $name ) {
	unset( $GLOBALS['sg_wp']['options'][ $name ] );
	return true;
}

function get_sites( $args = array() ) {
	return array_keys( $GLOBALS['sg_test_sites'] );
}

function switch_to_blog( $id ) {
	$GLOBALS['sg_test_stack'][] = $GLOBALS['sg_test_blog'];
	$GLOBALS['sg_test_blog']    = (int) $id;
	$GLOBALS['sg_wp']['options'] = &$GLOBALS['sg_test_sites'][ (int) $id ];
	return true;
}

function restore_current_blog() {
	$id                          = array_pop( $GLOBALS['sg_test_stack'] );
	$GLOBALS['sg_test_blog']     = $id;
	$GLOBALS['sg_wp']['options'] = &$GLOBALS['sg_test_sites'][ $id ];
	return true;
}

function wp_delete_file( $file ) {
}
