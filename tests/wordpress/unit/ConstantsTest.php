<?php
/**
 * wp-config.php constants (each test in its own process, since constants stay defined):
 * SOVGATE_HOSTS fixes the host list, and SOVGATE_KEY alone locks the gateway URL.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * @runTestsInSeparateProcesses
 * @preserveGlobalState disabled
 */
final class ConstantsTest extends TestCase {

	public function test_hosts_constant_fixes_the_list() {
		define( 'SOVGATE_HOSTS', "llm.example.internal, *.models.example\nbad!host" );
		sg_wp_reset( array( 'hosts' => array( 'saved.example' ) ) );
		$this->assertTrue( Sovgate_Settings::is_constant( 'hosts' ) );
		$this->assertSame( array( 'llm.example.internal', '*.models.example' ), Sovgate_Settings::get( 'hosts' ) );
		$this->assertTrue( Sovgate_Admin::locked( 'hosts' ) );
		$out = Sovgate_Admin::sanitize( array( 'hosts' => '' ) );
		$this->assertSame( array( 'saved.example' ), $out['hosts'], 'the saved list is left alone' );
		$this->assertNotEmpty( $GLOBALS['sg_wp']['errors'] );
	}

	/**
	 * SOVGATE_HOSTS is the operator's exact list: no default is added to it, whatever the
	 * saved option holds (a list of an older version, a malformed one).
	 */
	public function test_hosts_constant_gets_no_defaults_added() {
		define( 'SOVGATE_HOSTS', array( 'llm.example.internal' ) );
		foreach ( array( array( 'hosts' => array( 'api.openai.com' ) ), array( 'hosts' => 42 ), array() ) as $saved ) {
			sg_wp_reset( $saved );
			$this->assertSame( array( 'llm.example.internal' ), Sovgate_Settings::get( 'hosts' ) );
			$this->assertSame( array(), Sovgate_Settings::hosts_added() );
			ob_start();
			Sovgate_Admin::field_hosts();
			Sovgate_Admin::render_hosts_added();
			$html = ob_get_clean();
			$this->assertStringNotContainsString( 'hosts_defaults_seen', $html );
			$this->assertStringNotContainsString( 'sovgate-hosts-added', $html );
		}
		$this->assertNull( Sovgate_Hosts::ai_host( 'https://api.replicate.com/v1/predictions', Sovgate_Settings::get( 'hosts' ) ) );
		$out = Sovgate_Admin::sanitize(
			array(
				'hosts'               => 'api.openai.com',
				'hosts_defaults_seen' => implode( ',', Sovgate_Hosts::DEFAULTS ),
			)
		);
		$this->assertArrayNotHasKey( 'hosts_defaults_seen', $out, 'nothing recorded for a fixed list' );
	}

	public function test_hosts_constant_as_an_array() {
		define( 'SOVGATE_HOSTS', array( 'llm.example.internal', 'API.OpenAI.com' ) );
		sg_wp_reset();
		$this->assertSame( array( 'llm.example.internal', 'api.openai.com' ), Sovgate_Settings::get( 'hosts' ) );
	}

	public function test_key_constant_locks_the_gateway_url() {
		define( 'SOVGATE_KEY', 'sg-operator-key-0123456789' );
		$saved = array( 'gateway_url' => 'https://gateway.shop.internal:8443' );
		sg_wp_reset( $saved, array( 'manage_options', 'manage_network_options' ) );
		$this->assertTrue( Sovgate_Admin::locked( 'gateway_url' ) );
		$out = Sovgate_Admin::sanitize( array( 'gateway_url' => 'https://harvest.attacker.example' ) );
		$this->assertSame( 'https://gateway.shop.internal:8443', $out['gateway_url'] );
		$this->assertNotEmpty( $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( 'sg-operator-key-0123456789', Sovgate_Settings::get( 'api_key' ) );
	}
}
