<?php
/**
 * wp-config.php constants (each test in its own process, since constants stay defined):
 * SOVGATE_HOSTS fixes the host list (one over the limits fails closed and is reported),
 * SOVGATE_KEY alone locks the gateway URL, and a site's first save with them set (the
 * sanitize callback runs twice) reports nothing.
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

	/**
	 * SOVGATE_HOSTS over the limits (more than Sovgate_Hosts::MAX_HOSTS entries): no host
	 * on it is dropped (calls to it would reach the provider), every default is added as
	 * for a stored list that cannot be read, and the page says what is wrong.
	 */
	public function test_hosts_constant_over_the_limit_fails_closed() {
		$hosts = array();
		for ( $i = 0; $i < 201; $i++ ) {
			$hosts[] = 'llm-' . $i . '.example.internal';
		}
		define( 'SOVGATE_HOSTS', implode( "\n", $hosts ) );
		sg_wp_reset( array( 'hosts' => array( 'saved.example' ) ) );
		$this->assertSame( array_merge( $hosts, Sovgate_Hosts::DEFAULTS ), Sovgate_Settings::get( 'hosts' ) );
		$this->assertSame( array(), Sovgate_Settings::hosts_added() );
		$this->assertStringContainsString( 'SOVGATE_HOSTS', Sovgate_Settings::hosts_problem() );
		$this->assertStringContainsString( 'has 201 entries, more than 200', Sovgate_Settings::hosts_problem() );
		$this->assertNotNull( Sovgate_Hosts::ai_host( 'https://llm-200.example.internal/v1', Sovgate_Settings::get( 'hosts' ) ) );
		ob_start();
		Sovgate_Admin::render_hosts_problem();
		$this->assertStringContainsString( 'SOVGATE_HOSTS', ob_get_clean() );
		$out = Sovgate_Admin::sanitize( array( 'mode' => 'monitor' ) );
		$this->assertSame( array( 'saved.example' ), $out['hosts'], 'the saved list is left alone' );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
	}

	/**
	 * SOVGATE_HOSTS as an array holding nested arrays and numbers: its host names are
	 * kept, every default is added, the page says what is wrong; an entry longer than a
	 * host name can be is dropped (it can match nothing) and reported too.
	 */
	public function test_hosts_constant_of_the_wrong_type_fails_closed() {
		define( 'SOVGATE_HOSTS', array( 'llm.example.internal', array( 'nested.example' ), 7, str_repeat( 'a', 300 ) . '.example' ) );
		sg_wp_reset();
		$this->assertSame( array_merge( array( 'llm.example.internal' ), Sovgate_Hosts::DEFAULTS ), Sovgate_Settings::get( 'hosts' ) );
		$this->assertStringContainsString( 'not text with one host per line', Sovgate_Settings::hosts_problem() );
	}

	/**
	 * @return array[]
	 */
	public function scalar_hosts_constants() {
		return array(
			'an integer' => array( 1 ),
			'true'       => array( true ),
			'an object'  => array( new ArrayObject( array( 'llm.example.internal' ) ) ),
		);
	}

	/**
	 * SOVGATE_HOSTS that is neither text nor an array (`define( 'SOVGATE_HOSTS', 1 )`, as
	 * if it switched something on): no host list, so it fails closed like one of the
	 * wrong type (every default added, reported) instead of being cast to the list "1"
	 * that intercepts nothing (an object was a fatal error).
	 *
	 * @dataProvider scalar_hosts_constants
	 *
	 * @param mixed $value The constant.
	 */
	public function test_hosts_constant_that_is_no_text_fails_closed( $value ) {
		define( 'SOVGATE_HOSTS', $value );
		sg_wp_reset();
		$hosts = Sovgate_Settings::get( 'hosts' );
		foreach ( Sovgate_Hosts::DEFAULTS as $host ) {
			$this->assertContains( $host, $hosts );
		}
		$this->assertNotNull( Sovgate_Hosts::ai_host( 'https://api.openai.com/v1', $hosts ) );
		$this->assertStringContainsString( 'SOVGATE_HOSTS in wp-config.php is not text with one host per line', Sovgate_Settings::hosts_problem() );
	}

	/**
	 * A site's first save with SOVGATE_KEY and SOVGATE_HOSTS set: the page sends neither
	 * the gateway URL nor the hosts (their fields are disabled); the sanitize callback's
	 * second pass, on its own result, used to report both as changes the constants forbid.
	 */
	public function test_first_save_with_constants_reports_nothing() {
		define( 'SOVGATE_KEY', 'sg-operator-key-0123456789' );
		define( 'SOVGATE_HOSTS', "llm.example.internal\napi.openai.com" );
		sg_wp_reset( array(), array( 'manage_options' ) );
		$form = array(
			'ca_bundle'  => '',
			'mode'       => 'monitor',
			'chat_model' => 'shop-model',
			'chat_form'  => '1',
		);
		$once = Sovgate_Admin::sanitize( $form );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( $once, Sovgate_Admin::sanitize( $once ) );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );

		sg_wp_reset( array(), array( 'manage_options' ) );
		$saved = sg_wp_save( $form );
		$this->assertSame( $once, $saved );
		$this->assertSame( array(), $GLOBALS['sg_wp']['errors'] );
		$this->assertSame( 'monitor', $saved['mode'] );
		$this->assertSame( 'shop-model', $saved['chat_model'] );
		$this->assertArrayNotHasKey( 'hosts', $saved );
	}
}
