<?php
/**
 * Calls that reach an AI host without having been marked for it: a redirect from another
 * host to a provider (Requests follows it inside one WP_Http::request(), where neither
 * `http_request_args` nor `pre_http_request` see the new URL, and `http_api_curl` is
 * given the original one), and a URL that WordPress rewrites after Sovgate looked at it
 * (wp_kses_bad_protocol() turns `javascript:https://api.openai.com/…` or
 * `https&#58;//api.openai.com/…` into `https://api.openai.com/…`). The requests go
 * through WordPress's real hooks and Requests library, the way WP_Http::request() sends
 * them.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

/**
 * A Requests transport: answers a redirect to a provider for the redirector's URL, 200
 * otherwise, and records every URL it was asked to connect to.
 */
final class Sovgate_Redirect_Transport implements Requests_Transport {

	const REDIRECTOR = 'https://links.example.com/go';

	const PROVIDER = 'https://api.openai.com/v1/chat/completions';

	/**
	 * URLs the transport was asked for.
	 *
	 * @var string[]
	 */
	public static $urls = array();

	/**
	 * The first hook the transport dispatches.
	 *
	 * @var string
	 */
	public static $hook = 'curl.before_request';

	public function request( $url, $headers = array(), $data = array(), $options = array() ) {
		$options['hooks']->dispatch( self::$hook, 'curl.before_request' === self::$hook ? array( null ) : array() );
		self::$urls[] = $url;
		if ( self::REDIRECTOR === $url ) {
			return "HTTP/1.1 307 Temporary Redirect\r\nLocation: " . self::PROVIDER . "\r\nContent-Length: 0\r\n\r\n";
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	}

	public function request_multiple( $requests, $options ) {
		return array();
	}

	public static function test( $capabilities = array() ) {
		return true;
	}
}

final class RedirectTest extends TestCase {

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
				'gateway_url' => 'https://127.0.0.1:9/v1',
				'api_key'     => 'sg-site-key-0123456789',
				'ca_bundle'   => __FILE__,
			)
		);
		Sovgate_Redirect_Transport::$urls = array();
		Sovgate_Redirect_Transport::$hook = 'curl.before_request';
	}

	/**
	 * Sends a call the way WP_Http::request() (WordPress 6.1) does: `http_request_args`
	 * and `pre_http_request` with the URL the caller gave, then Requests with the URL
	 * WordPress made of it, redirects followed as `redirection` says, and the error the
	 * caller gets (after `http_api_debug`).
	 *
	 * @param string      $url       The URL the caller gave.
	 * @param string|null $requested The URL WordPress hands to Requests (null: the same).
	 * @param int         $redirects `redirection`.
	 * @return array|WP_Error
	 */
	private static function send( $url, $requested = null, $redirects = 5 ) {
		$args = apply_filters(
			'http_request_args',
			array(
				'method'      => 'POST',
				'redirection' => $redirects,
				'sslverify'   => true,
				'headers'     => array( 'Authorization' => 'Bearer sk-provider-SECRET' ),
				'body'        => '{"messages":[]}',
			),
			$url
		);
		$pre  = apply_filters( 'pre_http_request', false, $args, $url );
		if ( false !== $pre ) {
			return $pre;
		}
		$url     = null === $requested ? $url : $requested;
		$options = array(
			'hooks'     => new WP_HTTP_Requests_Hooks( $url, $args ),
			'transport' => Sovgate_Redirect_Transport::class,
			'timeout'   => 2,
			'verify'    => __FILE__,
		);
		if ( empty( $args['redirection'] ) ) {
			$options['follow_redirects'] = false;
		} else {
			$options['redirects'] = $args['redirection'];
		}
		try {
			$r        = Requests::request( $url, $args['headers'], $args['body'], 'POST', $options );
			$response = array( 'status' => $r->status_code );
		} catch ( Requests_Exception $e ) {
			$response = new WP_Error( 'http_request_failed', $e->getMessage() );
		}
		do_action( 'http_api_debug', $response, 'response', 'Requests', $args, $url );
		return $response;
	}

	public function test_a_redirect_to_an_ai_host_is_blocked() {
		foreach ( array( 'curl.before_request', 'fsockopen.before_request' ) as $hook ) {
			Sovgate_Redirect_Transport::$hook = $hook;
			Sovgate_Redirect_Transport::$urls = array();
			$r                                = self::send( Sovgate_Redirect_Transport::REDIRECTOR );
			$this->assertSame( array( Sovgate_Redirect_Transport::REDIRECTOR ), Sovgate_Redirect_Transport::$urls, 'the provider was not asked (' . $hook . ')' );
			$this->assertInstanceOf( WP_Error::class, $r );
			$this->assertSame( 'sovgate_blocked', $r->get_error_code() );
			$this->assertStringContainsString( 'api.openai.com', $r->get_error_message() );
			$this->assertStringContainsString( 'redirect', $r->get_error_message() );
		}
		$events = Sovgate_Events::all();
		$this->assertSame( 'blocked', $events[0]['type'] );
		$this->assertSame( 'api.openai.com', $events[0]['host'] );
	}

	public function test_a_redirect_to_an_ai_host_is_blocked_when_not_configured() {
		sg_wp_reset();
		$r = self::send( Sovgate_Redirect_Transport::REDIRECTOR );
		$this->assertSame( array( Sovgate_Redirect_Transport::REDIRECTOR ), Sovgate_Redirect_Transport::$urls );
		$this->assertSame( 'sovgate_blocked', $r->get_error_code() );
	}

	public function test_monitor_mode_reports_a_redirect_to_an_ai_host() {
		sg_wp_reset( array( 'mode' => 'monitor' ) );
		$r = self::send( Sovgate_Redirect_Transport::REDIRECTOR );
		$this->assertSame( array( 'status' => 200 ), $r );
		$this->assertSame( array( Sovgate_Redirect_Transport::REDIRECTOR, Sovgate_Redirect_Transport::PROVIDER ), Sovgate_Redirect_Transport::$urls );
		$events = Sovgate_Events::all();
		$this->assertSame( 'unrouted', $events[0]['type'] );
		$this->assertSame( 'api.openai.com', $events[0]['host'] );
	}

	public function test_other_redirects_are_left_alone() {
		$r = self::send( 'https://example.com/' );
		$this->assertSame( array( 'status' => 200 ), $r );
	}

	public function test_a_url_rewritten_into_an_ai_host_is_blocked() {
		foreach ( array( 'javascript:https://api.openai.com/v1/chat/completions', 'https&#58;//api.openai.com/v1/chat/completions' ) as $url ) {
			foreach ( array( 'curl.before_request', 'fsockopen.before_request' ) as $hook ) {
				Sovgate_Redirect_Transport::$hook = $hook;
				Sovgate_Redirect_Transport::$urls = array();
				// What wp_kses_bad_protocol() makes of it in WP_Http::request().
				$r = self::send( $url, Sovgate_Redirect_Transport::PROVIDER );
				$this->assertSame( array(), Sovgate_Redirect_Transport::$urls, $url );
				$this->assertSame( 'sovgate_blocked', $r->get_error_code(), $url );
			}
		}
	}

	public function test_a_marked_call_goes_on() {
		$r = self::send( Sovgate_Redirect_Transport::PROVIDER, null, 5 );
		$this->assertSame( array( 'status' => 200 ), $r );
		$this->assertSame( array( Sovgate_Redirect_Transport::PROVIDER ), Sovgate_Redirect_Transport::$urls );
	}
}
