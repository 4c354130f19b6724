<?php
/**
 * The must-use loader without the plugin's files: it blocks every default AI host (the
 * same list as Sovgate_Hosts::DEFAULTS), percent-encoded or not, and SOVGATE_HOSTS.
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

	private static function load() {
		define( 'SOVGATE_PLUGIN_FILE', '/nonexistent/sovgate/sovgate.php' );
		require SOVGATE_DIR . 'mu-plugin/sovgate-loader.php';
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
}
