<?php
/**
 * Who may change the gateway settings: on a multisite network only a network
 * administrator (manage_network_options) may change the gateway URL, key, CA bundle,
 * mode and AI hosts; a site's administrator sees them read-only.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class AdminTest extends TestCase {

	const SAVED = array(
		'gateway_url' => 'https://gateway.shop.internal:8443',
		'api_key'     => 'sg-network-key-0123456789',
		'ca_bundle'   => '',
		'mode'        => 'enforce',
		'hosts'       => array( 'api.openai.com', '*.openai.azure.com' ),
		'chat_model'  => 'assistant',
	);

	/**
	 * What a site's administrator might post.
	 *
	 * @return array
	 */
	private static function posted() {
		return array(
			'gateway_url' => 'https://harvest.attacker.example',
			'api_key'     => 'sg-attacker-key-0123456789',
			'ca_bundle'   => __FILE__,
			'mode'        => 'monitor',
			'hosts'       => '',
			'chat_model'  => 'shop-model',
		);
	}

	public function test_subsite_administrator_cannot_change_the_gateway() {
		sg_wp_reset( self::SAVED, array( 'manage_options' ), true );
		foreach ( Sovgate_Admin::NETWORK_FIELDS as $name ) {
			$this->assertTrue( Sovgate_Admin::locked( $name ), $name );
		}
		$this->assertFalse( Sovgate_Admin::locked( 'chat_model' ) );
		$out = Sovgate_Admin::sanitize( self::posted() );
		foreach ( array( 'gateway_url', 'api_key', 'ca_bundle', 'mode', 'hosts' ) as $name ) {
			$this->assertSame( self::SAVED[ $name ], $out[ $name ], $name );
		}
		$this->assertSame( 'shop-model', $out['chat_model'], 'the chat settings stay the site\'s' );
		$this->assertNotEmpty( $GLOBALS['sg_wp']['errors'] );
		$out = Sovgate_Admin::sanitize( array( 'clear_key' => '1' ) );
		$this->assertSame( self::SAVED['api_key'], $out['api_key'] );
	}

	public function test_network_administrator_can() {
		sg_wp_reset( self::SAVED, array( 'manage_options', 'manage_network_options' ), true );
		$this->assertFalse( Sovgate_Admin::locked( 'gateway_url' ) );
		$out = Sovgate_Admin::sanitize( self::posted() );
		$this->assertSame( 'https://harvest.attacker.example', $out['gateway_url'] );
		$this->assertSame( 'sg-attacker-key-0123456789', $out['api_key'] );
		$this->assertSame( 'monitor', $out['mode'] );
		$this->assertSame( array(), $out['hosts'] );
	}

	public function test_single_site_administrator_can() {
		sg_wp_reset( self::SAVED, array( 'manage_options' ), false );
		$this->assertFalse( Sovgate_Admin::locked( 'hosts' ) );
		$out = Sovgate_Admin::sanitize( self::posted() );
		$this->assertSame( 'https://harvest.attacker.example', $out['gateway_url'] );
		$this->assertSame( 'monitor', $out['mode'] );
	}

	public function test_locked_fields_are_shown_read_only() {
		sg_wp_reset( self::SAVED, array( 'manage_options' ), true );
		foreach ( array( 'gateway_url', 'api_key', 'ca_bundle', 'mode', 'hosts' ) as $name ) {
			ob_start();
			call_user_func( array( 'Sovgate_Admin', 'field_' . $name ) );
			$html = ob_get_clean();
			$this->assertStringContainsString( 'disabled', $html, $name );
			$this->assertStringContainsString( 'network administrator', $html, $name );
		}
		sg_wp_reset( self::SAVED, array( 'manage_options' ), false );
		ob_start();
		Sovgate_Admin::field_hosts();
		$this->assertStringNotContainsString( 'disabled', ob_get_clean() );
	}
}
