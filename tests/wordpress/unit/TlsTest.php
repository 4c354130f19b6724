<?php
/**
 * TLS verification of calls to the gateway cannot be switched off by other plugins
 * (`https_ssl_verify`, `sslverify` in a late `http_request_args` filter, or a late
 * `requests-requests.before_request` callback). The requests go through WordPress's real
 * hooks and Requests library, the way WP_Http::request() sends them.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * A Requests transport that records the options it was given, after dispatching the
 * hook WordPress's cURL (or fsockopen) transport dispatches first.
 */
final class Sovgate_Test_Transport implements Requests_Transport {

	/**
	 * The options of the last request (null: none arrived).
	 *
	 * @var array|null
	 */
	public static $options = null;

	/**
	 * The first hook the transport dispatches.
	 *
	 * @var string
	 */
	public static $hook = 'curl.before_request';

	public function request( $url, $headers = array(), $data = array(), $options = array() ) {
		$options['hooks']->dispatch( self::$hook );
		self::$options = $options;
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	}

	public function request_multiple( $requests, $options ) {
		return array();
	}

	public static function test( $capabilities = array() ) {
		return true;
	}
}

final class TlsTest extends TestCase {

	const GATEWAY = 'https://127.0.0.1:9/v1';

	const PROVIDER = 'https://api.openai.com/v1/chat/completions';

	public static function setUpBeforeClass(): void {
		Sovgate_Interceptor::register();
	}

	public static function tearDownAfterClass(): void {
		foreach ( array( 'http_request_args', 'pre_http_request', 'http_api_curl', 'http_api_debug', 'http_response', 'requests-requests.before_request' ) as $hook ) {
			remove_all_filters( $hook );
		}
	}

	protected function setUp(): void {
		sg_wp_reset(
			array(
				'gateway_url' => self::GATEWAY,
				'api_key'     => 'sg-site-key-0123456789',
				'ca_bundle'   => __FILE__,
			)
		);
		Sovgate_Test_Transport::$options = null;
		Sovgate_Test_Transport::$hook    = 'curl.before_request';
	}

	protected function tearDown(): void {
		remove_all_filters( 'https_ssl_verify' );
		remove_action( 'requests-requests.before_request', array( __CLASS__, 'turn_off_verification' ), PHP_INT_MAX );
	}

	/**
	 * A plugin's late callback that turns verification off in Requests' options.
	 */
	public static function turn_off_verification( &$url, &$headers, &$data, &$type, &$options ) {
		$options['verify']     = false;
		$options['verifyname'] = false;
	}

	/**
	 * Sends a request the way WP_Http::request() (WordPress 6.1) hands it to Requests,
	 * with `sslverify` as a late `http_request_args` filter left it.
	 *
	 * @param string $url       The URL.
	 * @param bool   $sslverify The request's `sslverify`.
	 * @param string $transport A transport class.
	 * @return array The options the transport got.
	 */
	private static function send( $url, $sslverify, $transport = Sovgate_Test_Transport::class ) {
		$args    = array(
			'sslverify'       => $sslverify,
			'sslcertificates' => '/etc/ssl/certs/ca-certificates.crt',
		);
		// Sovgate's mark, as its http_request_args filter sets it on a call to an AI host
		// (a call to an AI host without it is refused: see RedirectTest).
		$mark = Sovgate_Interceptor::request_args( array(), $url );
		if ( isset( $mark['sovgate'] ) ) {
			$args['sovgate'] = $mark['sovgate'];
		}
		$options = array(
			'hooks'     => new WP_HTTP_Requests_Hooks( $url, $args ),
			'transport' => $transport,
			'timeout'   => 2,
		);
		if ( ! $args['sslverify'] ) {
			$options['verify']     = false;
			$options['verifyname'] = false;
		} else {
			$options['verify'] = $args['sslcertificates'];
		}
		$options['verify'] = apply_filters( 'https_ssl_verify', $options['verify'], $url );
		Requests::request( $url, array(), array(), 'GET', $options );
		return Sovgate_Test_Transport::$options;
	}

	public function test_other_plugins_cannot_turn_off_verification_of_the_gateway() {
		add_filter( 'https_ssl_verify', '__return_false_for_test' );
		// The gateway (Sovgate's own calls, and its fallback without cURL), and a provider
		// call that is rerouted to it on the cURL handle.
		foreach ( array( self::GATEWAY . '/models', 'https://127.0.0.1:9/healthz', self::PROVIDER, 'https://api%2eopenai.com/v1/models' ) as $url ) {
			foreach ( array( true, false ) as $sslverify ) {
				$options = self::send( $url, $sslverify );
				$this->assertSame( __FILE__, $options['verify'], $url );
				$this->assertTrue( $options['verifyname'], $url );
			}
		}
	}

	public function test_the_default_store_is_the_systems() {
		sg_wp_reset(
			array(
				'gateway_url' => self::GATEWAY,
				'api_key'     => 'sg-site-key-0123456789',
			)
		);
		add_filter( 'https_ssl_verify', '__return_false_for_test' );
		$system  = Sovgate_Settings::system_ca_file();
		$options = self::send( self::PROVIDER, false );
		$this->assertSame( '' === $system ? true : $system, $options['verify'] );
	}

	public function test_other_hosts_are_left_alone() {
		add_filter( 'https_ssl_verify', '__return_false_for_test' );
		$this->assertFalse( self::send( 'https://example.com/', true )['verify'] );
		$this->assertFalse( self::send( 'https://127.0.0.1:10/', true )['verify'], 'another port on the gateway\'s address' );
		sg_wp_reset(
			array(
				'gateway_url' => self::GATEWAY,
				'mode'        => 'monitor',
			)
		);
		$this->assertFalse( self::send( self::PROVIDER, false )['verify'], 'not configured (monitor mode): the call is not the gateway\'s' );
		$ca = Sovgate_Settings::ca_bundle();
		$this->assertSame( '' === $ca ? true : $ca, self::send( self::GATEWAY . '/healthz', false )['verify'], 'a call to the gateway without the key still is' );
	}

	public function test_a_later_callback_is_refused_before_anything_is_sent() {
		add_action( 'requests-requests.before_request', array( __CLASS__, 'turn_off_verification' ), PHP_INT_MAX, 5 );
		foreach ( array( 'curl.before_request', 'fsockopen.before_request' ) as $hook ) {
			Sovgate_Test_Transport::$hook    = $hook;
			Sovgate_Test_Transport::$options = null;
			try {
				self::send( self::PROVIDER, true );
				$this->fail( 'sent with verification off (' . $hook . ')' );
			} catch ( Requests_Exception $e ) {
				$this->assertSame( Sovgate_Interceptor::tls_message(), $e->getMessage() );
			}
			$this->assertNull( Sovgate_Test_Transport::$options, 'the transport went on' );
		}
		// Other calls are none of Sovgate's business.
		$this->assertFalse( self::send( 'https://example.com/', true )['verify'] );
	}

	public function test_with_wordpress_curl_transport() {
		if ( ! Requests_Transport_cURL::test( array( 'ssl' => true ) ) ) {
			$this->markTestSkipped( 'no cURL' );
		}
		add_action( 'requests-requests.before_request', array( __CLASS__, 'turn_off_verification' ), PHP_INT_MAX, 5 );
		try {
			self::send( self::GATEWAY . '/models', true, 'Requests_Transport_cURL' );
			$this->fail( 'sent' );
		} catch ( Requests_Exception $e ) {
			$this->assertSame( Sovgate_Interceptor::tls_message(), $e->getMessage(), 'refused before connecting' );
		}
	}

	public function test_a_refused_ai_call_gets_sovgates_error() {
		$args  = array(
			'sovgate' => array(
				'id'     => 'abc',
				'host'   => 'api.openai.com',
				'source' => 'some-plugin',
				'routed' => true,
			),
		);
		$error = new WP_Error( 'http_request_failed', Sovgate_Interceptor::tls_message() );
		Sovgate_Interceptor::explain_error( $error, 'response', 'Requests', $args, self::PROVIDER );
		$this->assertSame( 'sovgate_blocked', $error->get_error_code() );
		$this->assertStringContainsString( 'TLS verification', $error->get_error_message() );
		$this->assertStringContainsString( 'some-plugin', $error->get_error_message() );
	}
}

function __return_false_for_test() {
	return false;
}
