<?php
/**
 * Settings: the gateway URL's checks (plain http only on loopback), the CA bundle, and
 * the constants of wp-config.php.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class SettingsTest extends TestCase {

	protected function setUp(): void {
		sg_wp_reset();
	}

	public function test_plain_http_only_for_loopback() {
		foreach ( array( 'http://127.0.0.1:8080', 'http://127.1.2.3:8080/v1', 'http://localhost:8080', 'http://LOCALHOST.:8080', 'http://[::1]:8080' ) as $url ) {
			$this->assertSame( '', Sovgate_Settings::gateway_url_problem( $url, array() ), $url );
		}
		foreach ( array( 'http://127.attacker.example/', 'http://127.0.0.1.nip.io/', 'http://127.evil/', 'http://localhost.attacker.example/', 'http://[::2]/', 'http://gateway.shop.internal/' ) as $url ) {
			$this->assertStringContainsString( 'Plain http://', Sovgate_Settings::gateway_url_problem( $url, array() ), $url );
		}
		$this->assertFalse( Sovgate_Settings::is_loopback( '127.attacker.example' ) );
		$this->assertFalse( Sovgate_Settings::is_loopback( '127.0.0.256' ) );
		$this->assertTrue( Sovgate_Settings::is_loopback( '127.255.255.254' ) );
		$this->assertSame( '', Sovgate_Settings::gateway_url_problem( 'https://127.attacker.example/', array() ), 'https may go anywhere' );
	}

	public function test_gateway_url_naming_a_provider_in_disguise_is_refused() {
		foreach ( array( 'https://api%2eopenai.com/v1', 'https://EU.api.openai.com./v1', 'https://api.openai.com%00.x/' ) as $url ) {
			$this->assertNotSame( '', Sovgate_Settings::gateway_url_problem( $url, Sovgate_Hosts::DEFAULTS ), $url );
		}
	}

	/**
	 * Multisite: the settings are per site. Code that switches to another site
	 * (switch_to_blog()) and makes an AI call there gets that site's settings, not the
	 * ones cached for the site the request started on.
	 */
	public function test_switching_sites_reads_the_other_sites_settings() {
		Sovgate_Settings::register();
		sg_wp_reset(
			array(
				'gateway_url' => 'https://gateway-a.example:8443',
				'api_key'     => 'sg-site-a-key-0123',
			)
		);
		$this->assertSame( 'https://gateway-a.example:8443', Sovgate_Settings::gateway_base() );
		// switch_to_blog( 2 ): the options are now site 2's.
		$GLOBALS['sg_wp']['options']['sovgate_settings'] = array( 'mode' => 'enforce' );
		do_action( 'switch_blog', 2, 1, 'switch' );
		$this->assertSame( '', Sovgate_Settings::gateway_base() );
		$this->assertFalse( Sovgate_Settings::is_configured(), 'site 2 has no gateway: its AI calls are blocked, not sent with site 1\'s key' );
		remove_all_actions( 'switch_blog' );
	}

	public function test_empty_ca_bundle_means_the_systems_trusted_cas() {
		$system = Sovgate_Settings::system_ca_file();
		if ( is_readable( '/etc/ssl/certs/ca-certificates.crt' ) ) {
			$this->assertNotSame( '', $system );
		}
		$this->assertSame( $system, Sovgate_Settings::ca_bundle() );
		sg_wp_reset( array( 'ca_bundle' => __FILE__ ) );
		$this->assertSame( __FILE__, Sovgate_Settings::ca_bundle() );
	}
}
