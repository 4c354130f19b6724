<?php
/**
 * A site's first save: WordPress runs the settings' sanitize callback twice, the second
 * time on the callback's own result (update_option() hands it to add_option(), which
 * sanitizes again; see sg_wp_save()). The second pass must neither report anything nor
 * change the value: on a multisite network it used to report "Only a network
 * administrator can change this setting." for every gateway setting a site's
 * administrator had not even sent, and everywhere it ticked "Visitors" again. (With
 * SOVGATE_KEY or SOVGATE_HOSTS set: ConstantsTest.)
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class FirstSaveTest extends TestCase {

	const SITE_ADMIN = array( 'manage_options' );

	const NETWORK_ADMIN = array( 'manage_options', 'manage_network_options' );

	protected function tearDown(): void {
		sg_wp_reset();
	}

	/**
	 * What the settings page posts when every field can be changed (single site, or a
	 * network administrator): the hosts as the textarea's text, the hidden fields.
	 *
	 * @return array
	 */
	private static function full_form() {
		return array(
			'gateway_url'         => 'https://gateway.shop.internal:8443',
			'api_key'             => 'sg-first-key-0123456789',
			'ca_bundle'           => '',
			'mode'                => 'enforce',
			'hosts'               => implode( "\n", Sovgate_Hosts::DEFAULTS ) . "\nllm.example.internal",
			'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ),
			'chat_model'          => 'assistant',
			'chat_form'           => '1',
			'chat_public'         => '1',
			'chat_rate_limit'     => '20',
		);
	}

	/**
	 * What the page posts for a site's administrator on a multisite network: the gateway
	 * fields are disabled, so the browser does not send them.
	 *
	 * @return array
	 */
	private static function site_admin_form() {
		return array(
			'chat_model'      => 'shop-model',
			'chat_form'       => '1',
			'chat_rate_limit' => '30',
		);
	}

	/**
	 * Runs the callback once on a posted value and once more on its result, as a first
	 * save does, and checks that the second pass changed and reported nothing.
	 *
	 * @param array $input The posted value.
	 * @return array{0: array, 1: array} The value and the settings errors of the first pass.
	 */
	private function twice( array $input ) {
		$once   = Sovgate_Admin::sanitize( $input );
		$errors = $GLOBALS['sg_wp']['errors'];
		$twice  = Sovgate_Admin::sanitize( $once );
		$this->assertSame( $once, $twice, 'the second pass changes nothing' );
		$this->assertSame( $errors, $GLOBALS['sg_wp']['errors'], 'the second pass reports nothing' );
		return array( $once, $errors );
	}

	public function test_single_site_first_save() {
		sg_wp_reset();
		list( $out, $errors ) = $this->twice( self::full_form() );
		$this->assertSame( array(), $errors );
		$this->assertSame( 'https://gateway.shop.internal:8443', $out['gateway_url'] );
		$this->assertSame( 'sg-first-key-0123456789', $out['api_key'] );
		$this->assertContains( 'llm.example.internal', $out['hosts'] );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, $out['hosts_defaults_seen'] );

		sg_wp_reset();
		$this->assertSame( $out, sg_wp_save( self::full_form() ) );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( $out, get_option( 'sovgate_settings' ) );
	}

	/**
	 * "Visitors" unticked on a single site's first save: the browser sends the form's
	 * marker without the box; the second pass, on a value without the marker, used to
	 * start again from the (missing) stored option and tick it again.
	 */
	public function test_single_site_first_save_keeps_an_unticked_box() {
		sg_wp_reset();
		$form = self::full_form();
		unset( $form['chat_public'] );
		list( $out, $errors ) = $this->twice( $form );
		$this->assertSame( array(), $errors );
		$this->assertFalse( $out['chat_public'] );
		sg_wp_reset();
		$this->assertFalse( sg_wp_save( $form )['chat_public'] );
	}

	/**
	 * The defect: a site's administrator saves the chat settings of a site that has no
	 * option yet; the first pass is clean, and the second pass (on a value that holds the
	 * gateway settings) reported each of them as a change only a network administrator
	 * may make.
	 */
	public function test_multisite_site_administrator_first_save_reports_nothing() {
		sg_wp_reset( array(), self::SITE_ADMIN, true );
		list( $out, $errors ) = $this->twice( self::site_admin_form() );
		$this->assertSame( array(), $errors );
		$this->assertSame( 'shop-model', $out['chat_model'] );
		$this->assertSame( 30, $out['chat_rate_limit'] );
		$this->assertFalse( $out['chat_public'] );
		$this->assertSame( '', $out['gateway_url'] );
		$this->assertSame( 'enforce', $out['mode'] );
		$this->assertArrayNotHasKey( 'hosts', $out, 'the site keeps following the defaults' );

		sg_wp_reset( array(), self::SITE_ADMIN, true );
		$this->assertSame( $out, sg_wp_save( self::site_admin_form() ) );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
	}

	/**
	 * A site's administrator who posts a gateway setting anyway is told once, and the
	 * second pass neither repeats it nor lets the value through.
	 */
	public function test_multisite_locked_field_posted_anyway_is_reported_once() {
		sg_wp_reset( array(), self::SITE_ADMIN, true );
		$input                = self::site_admin_form();
		$input['gateway_url'] = 'https://harvest.attacker.example';
		$input['hosts']       = '';
		list( $out, $errors ) = $this->twice( $input );
		$this->assertCount( 2, $errors );
		foreach ( $errors as $error ) {
			$this->assertStringContainsString( 'network administrator', $error[1] );
		}
		$this->assertSame( '', $out['gateway_url'] );
		$this->assertArrayNotHasKey( 'hosts', $out );
	}

	public function test_multisite_network_administrator_first_save() {
		sg_wp_reset( array(), self::NETWORK_ADMIN, true );
		list( $out, $errors ) = $this->twice( self::full_form() );
		$this->assertSame( array(), $errors );
		$this->assertSame( 'https://gateway.shop.internal:8443', $out['gateway_url'] );
		$this->assertSame( Sovgate_Hosts::DEFAULTS, $out['hosts_defaults_seen'] );
	}

	/**
	 * Values the first pass refused (a host list over the limit, an invalid chat model)
	 * are reported once; the second pass keeps what the first one kept.
	 */
	public function test_refused_values_are_reported_once() {
		$input               = self::full_form();
		$input['hosts']      = implode( "\n", self::many_hosts( Sovgate_Hosts::MAX_HOSTS + 1 ) );
		$input['chat_model'] = 'no spaces allowed';
		foreach ( array( false, true ) as $multisite ) {
			sg_wp_reset( array(), self::NETWORK_ADMIN, $multisite );
			list( $out, $errors ) = $this->twice( $input );
			$this->assertCount( 2, $errors );
			$this->assertArrayNotHasKey( 'hosts', $out );
			$this->assertSame( 'assistant', $out['chat_model'] );
		}
	}

	/**
	 * The second pass is recognised only for the user and the stored value the first one
	 * ran for: the same value posted by a site's administrator, or after the stored
	 * settings changed, is checked like any other.
	 */
	public function test_a_value_is_recognised_only_for_the_same_user_and_stored_value() {
		sg_wp_reset( array(), self::NETWORK_ADMIN, true );
		$out = Sovgate_Admin::sanitize( self::full_form() );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );

		// The network administrator's value, posted by a site's administrator.
		$GLOBALS['sg_wp']['caps'] = self::SITE_ADMIN;
		$site                     = Sovgate_Admin::sanitize( $out );
		$this->assertNotEmpty( $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( '', $site['gateway_url'] );
		$this->assertSame( '', $site['api_key'] );

		// A site's administrator's value, after a network administrator changed the stored
		// settings: it is checked against the new ones.
		sg_wp_reset( array( 'gateway_url' => 'https://gateway-a.shop.internal' ), self::SITE_ADMIN, true );
		$out = Sovgate_Admin::sanitize( self::site_admin_form() );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( 'https://gateway-a.shop.internal', $out['gateway_url'] );
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = array( 'gateway_url' => 'https://gateway-b.shop.internal' );
		Sovgate_Settings::flush();
		$again = Sovgate_Admin::sanitize( $out );
		$this->assertNotEmpty( $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( 'https://gateway-b.shop.internal', $again['gateway_url'] );
	}

	/**
	 * Distinct host names.
	 *
	 * @param int $count How many.
	 * @return string[]
	 */
	private static function many_hosts( $count ) {
		$hosts = array();
		for ( $i = 0; $i < $count; $i++ ) {
			$hosts[] = 'llm-' . $i . '.example.internal';
		}
		return $hosts;
	}
}
