<?php
/**
 * The must-use loader without the plugin's files: it blocks every default AI host (the
 * same list as Sovgate_Hosts::DEFAULTS), percent-encoded or not, and SOVGATE_HOSTS, read
 * as the plugin reads it: entries that are no host names or wildcards, longer than 253
 * bytes or not text are ignored; a list over the plugin's limits (200 entries, 64 KiB)
 * is not cut; what is wrong goes to the error log (once) and Site Health.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * @runTestsInSeparateProcesses
 * @preserveGlobalState disabled
 */
final class LoaderTest extends TestCase {

	/**
	 * What the loader's pre_http_request filter makes of a call.
	 *
	 * @param string $url The URL.
	 * @return mixed
	 */
	private static function pre( $url ) {
		return apply_filters( 'pre_http_request', false, array(), $url );
	}

	/**
	 * The error log of this test's process.
	 *
	 * @var string
	 */
	private static $log = '';

	private static function load() {
		self::$log = tempnam( sys_get_temp_dir(), 'sg-loader-log' );
		ini_set( 'error_log', self::$log ); // phpcs:ignore WordPress.PHP.IniSet.Risky
		define( 'SOVGATE_PLUGIN_FILE', '/nonexistent/sovgate/sovgate.php' );
		require SOVGATE_DIR . 'mu-plugin/sovgate-loader.php';
	}

	protected function tearDown(): void {
		if ( '' !== self::$log ) {
			unlink( self::$log );
			self::$log = '';
		}
	}

	/**
	 * The lines the loader wrote to the error log.
	 *
	 * @return string[]
	 */
	private static function logged() {
		return array_values( preg_grep( '/Sovgate loader:/', file( self::$log ) ) );
	}

	/**
	 * The loader's Site Health test.
	 *
	 * @return array A Site Health result.
	 */
	private static function site_health() {
		$tests = apply_filters( 'site_status_tests', array( 'direct' => array() ) );
		return call_user_func( $tests['direct']['sovgate_interception']['test'] );
	}

	/**
	 * Whether the loader blocks a call to a host.
	 *
	 * @param string $host Host.
	 * @return bool
	 */
	private static function blocks( $host ) {
		return self::pre( 'https://' . $host . '/v1/chat/completions' ) instanceof WP_Error;
	}

	public function test_blocks_the_default_hosts_without_the_plugin() {
		self::load();
		foreach ( Sovgate_Hosts::DEFAULTS as $pattern ) {
			$host = str_replace( '*', 'x', $pattern );
			$pre  = self::pre( 'https://' . $host . '/v1/chat/completions' );
			$this->assertInstanceOf( WP_Error::class, $pre, $host );
			$this->assertSame( 'sovgate_blocked', $pre->get_error_code() );
		}
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://api%2eopenai.com/v1/chat/completions' ) );
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://API.OPENAI.COM./v1/chat/completions' ) );
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://api.openai.com%00.example/v1' ), 'a host it cannot read' );
		$this->assertFalse( self::pre( 'https://example.com/' ) );
		$this->assertFalse( self::pre( 'https://openai.azure.com.example/' ) );
		$this->assertFalse( self::pre( 'https://[::1]:8443/v1' ) );
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://bedrock-runtime.eu-central-1.amazonaws.com/model/m/converse' ) );
		$this->assertFalse( self::pre( 'https://s3.eu-central-1.amazonaws.com/bucket' ) );
		$this->assertFalse( self::pre( 'https://bedrock-runtime.a.b.amazonaws.com/' ) );
	}

	public function test_blocks_the_hosts_of_the_constant() {
		define( 'SOVGATE_HOSTS', "llm.example.internal\n*.models.example" );
		self::load();
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://llm.example.internal/v1' ) );
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://eu.models.example/v1' ) );
		$this->assertInstanceOf( WP_Error::class, self::pre( 'https://api.openai.com/v1' ) );
		$this->assertFalse( self::pre( 'https://models.example/v1' ) );
	}

	public function test_a_list_within_the_limits_has_no_problem() {
		define( 'SOVGATE_HOSTS', "llm.example.internal\n*.models.example" );
		self::load();
		$this->assertTrue( self::blocks( 'llm.example.internal' ) );
		$this->assertSame( array(), self::logged() );
		$health = self::site_health();
		$this->assertSame( 'critical', $health['status'] );
		$this->assertStringContainsString( 'cannot find the plugin', $health['description'] );
		$this->assertStringNotContainsString( 'SOVGATE_HOSTS in wp-config.php', $health['description'] );
	}

	/**
	 * More than 200 entries (the plugin's Sovgate_Hosts::MAX_HOSTS): not cut, since calls
	 * to the hosts past the limit would reach the provider; reported once a request in the
	 * error log, and in Site Health.
	 */
	public function test_oversized_list_is_not_cut_and_is_reported() {
		$hosts = array();
		for ( $i = 0; $i < 250; $i++ ) {
			$hosts[] = 'llm-' . $i . '.example.internal';
		}
		define( 'SOVGATE_HOSTS', implode( "\n", $hosts ) );
		self::load();
		foreach ( array( 'llm-0.example.internal', 'llm-199.example.internal', 'llm-200.example.internal', 'llm-249.example.internal', 'api.openai.com' ) as $host ) {
			$this->assertTrue( self::blocks( $host ), $host );
		}
		$this->assertFalse( self::blocks( 'llm-250.example.internal' ) );
		$logged = self::logged();
		$this->assertCount( 1, $logged, 'once a request, not once a call' );
		$this->assertStringContainsString( 'the Sovgate plugin files are missing; SOVGATE_HOSTS in wp-config.php has 250 entries, more than 200', $logged[0] );
		$this->assertStringContainsString( 'Every default AI host and every host name or wildcard on it is blocked all the same: the list is not cut', $logged[0] );
		$health = self::site_health();
		$this->assertSame( 'critical', $health['status'] );
		$this->assertStringContainsString( 'has 250 entries, more than 200', $health['description'] );
		$this->assertCount( 1, self::logged() );
	}

	public function test_text_over_64_kib_is_not_cut_and_is_reported() {
		define( 'SOVGATE_HOSTS', 'llm-first.example.internal' . str_repeat( ' ', 70000 ) . 'llm-last.example.internal' );
		self::load();
		$this->assertTrue( self::blocks( 'llm-first.example.internal' ) );
		$this->assertTrue( self::blocks( 'llm-last.example.internal' ) );
		$this->assertStringContainsString( 'SOVGATE_HOSTS in wp-config.php is longer than 64 KiB', self::logged()[0] );
	}

	/**
	 * Entries longer than 253 bytes, the longest host name: ignored (they match no host
	 * WordPress can connect to), counted and reported; 253 bytes are fine.
	 */
	public function test_overlong_entries_are_ignored_and_reported() {
		$label = str_repeat( 'a', 63 );
		$max   = $label . '.' . $label . '.' . $label . '.' . str_repeat( 'b', 57 ) . '.com';
		$this->assertSame( 253, strlen( $max ) );
		define( 'SOVGATE_HOSTS', array( $max, 'x' . $max, '*.' . $max, 'llm.example.internal' ) );
		self::load();
		$this->assertTrue( self::blocks( $max ) );
		$this->assertTrue( self::blocks( 'llm.example.internal' ) );
		$logged = self::logged();
		$this->assertCount( 1, $logged );
		$this->assertStringContainsString( 'has 2 entries longer than 253 bytes, the longest host name, which were ignored', $logged[0] );
		$this->assertStringNotContainsString( 'more than 200', $logged[0] );
	}

	/**
	 * Entries that are no host names or wildcards: ignored, as the plugin ignores them
	 * (Sovgate_Hosts::is_valid_pattern()), and named (at most ten, printable, cut to 64
	 * characters). `*.com` no longer blocks every .com host.
	 */
	public function test_malformed_entries_are_ignored_and_reported() {
		$entries = array(
			'llm.example.internal',
			'*.models.example',
			'*-llm.example.com',
			'llm.*.example.com',
			'bad!host',
			'*.com',
			'*',
			'https://api.example.org/v1',
			'llm.*.com',
			'a..b.example',
			'-llm.example.com',
			'<script>alert(1)</script>',
		);
		define( 'SOVGATE_HOSTS', implode( "\n", $entries ) );
		self::load();
		$this->assertTrue( self::blocks( 'llm.example.internal' ) );
		$this->assertTrue( self::blocks( 'eu.models.example' ) );
		$this->assertTrue( self::blocks( 'eu-llm.example.com' ) );
		$this->assertTrue( self::blocks( 'llm.eu.example.com' ) );
		$this->assertFalse( self::blocks( 'example.com' ), '*.com is ignored, as the plugin ignores it' );
		$this->assertFalse( self::blocks( 'api.example.org' ) );
		$this->assertTrue( self::blocks( 'api.openai.com' ) );
		$logged = self::logged();
		$this->assertCount( 1, $logged );
		$this->assertStringContainsString( 'has entries that are not host names or wildcards', $logged[0] );
		foreach ( $entries as $entry ) {
			$valid = Sovgate_Hosts::is_valid_pattern( Sovgate_Hosts::normalize( $entry ) );
			$named = false !== strpos( $logged[0], ': ' . $entry . ',' ) || false !== strpos( $logged[0], ', ' . $entry . ',' ) || false !== strpos( $logged[0], ', ' . $entry . '. ' );
			$this->assertSame( ! $valid, $named, $entry . ' is ignored exactly when the plugin ignores it' );
		}
	}

	public function test_many_malformed_entries_are_named_briefly() {
		$entries = array();
		for ( $i = 0; $i < 30; $i++ ) {
			$entries[] = 'bad!host-' . $i . "\x01" . str_repeat( 'x', 100 );
		}
		define( 'SOVGATE_HOSTS', $entries );
		self::load();
		$this->assertTrue( self::blocks( 'api.openai.com' ) );
		$logged = self::logged()[0];
		$this->assertStringContainsString( 'bad!host-0?' . str_repeat( 'x', 53 ) . '...', $logged );
		$this->assertStringContainsString( 'and 20 more', $logged );
		$this->assertStringNotContainsString( 'bad!host-10', $logged );
		$this->assertStringNotContainsString( "\x01", $logged );
	}

	/**
	 * @return array[]
	 */
	public function wrong_types() {
		return array(
			'an integer'       => array( 42, array() ),
			'true'             => array( true, array() ),
			'a float'          => array( 1.5, array() ),
			'an object'        => array( new ArrayObject( array( 'llm.example.internal' ) ), array() ),
			'nested arrays'    => array( array( 'llm.example.internal', array( 'nested.example' ), 7, null, new stdClass() ), array( 'llm.example.internal' ) ),
			'a list of arrays' => array( array( array( 'llm.example.internal' ) ), array() ),
		);
	}

	/**
	 * SOVGATE_HOSTS of the wrong type: no PHP warning or error on any call, the default
	 * hosts and the list's own host names blocked, what is not text ignored, reported.
	 *
	 * @dataProvider wrong_types
	 *
	 * @param mixed    $value   The constant.
	 * @param string[] $blocked Its host names that stay blocked.
	 */
	public function test_wrong_type_is_ignored_and_reported( $value, $blocked ) {
		define( 'SOVGATE_HOSTS', $value );
		self::load();
		foreach ( Sovgate_Hosts::DEFAULTS as $pattern ) {
			$this->assertTrue( self::blocks( str_replace( '*', 'x', $pattern ) ), $pattern );
		}
		foreach ( $blocked as $host ) {
			$this->assertTrue( self::blocks( $host ), $host );
		}
		$this->assertFalse( self::blocks( 'nested.example' ) );
		$this->assertFalse( self::blocks( 'example.com' ) );
		$logged = self::logged();
		$this->assertCount( 1, $logged );
		$this->assertStringContainsString( 'SOVGATE_HOSTS in wp-config.php is not text with one host per line, nor a list of host names', $logged[0] );
		$this->assertStringContainsString( 'is not text with one host per line', self::site_health()['description'] );
	}
}
