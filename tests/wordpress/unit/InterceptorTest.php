<?php
/**
 * The interception's host matching in WordPress's hooks: a provider URL with an encoded
 * host is marked (and without its mark, blocked) like the plain one.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class InterceptorTest extends TestCase {

	protected function setUp(): void {
		sg_wp_reset(
			array(
				'gateway_url' => 'https://gateway.shop.internal:8443',
				'api_key'     => 'sg-site-key-0123456789',
			)
		);
	}

	public function test_encoded_provider_host_is_marked() {
		foreach ( array( 'https://api%2eopenai.com/v1/chat/completions', 'https://API.OPENAI.COM./v1/chat/completions', 'https://eu.api.openai.com/v1/chat/completions' ) as $url ) {
			$args = Sovgate_Interceptor::request_args( array( 'sslverify' => false ), $url );
			$this->assertArrayHasKey( 'sovgate', $args, $url );
			$this->assertTrue( $args['sovgate']['routed'] );
			$this->assertTrue( $args['sslverify'] );
		}
		$this->assertSame( 'api.openai.com', Sovgate_Interceptor::request_args( array(), 'https://api%2eopenai.com/v1/models' )['sovgate']['host'] );
		$this->assertArrayNotHasKey( 'sovgate', Sovgate_Interceptor::request_args( array(), 'https://example.com/' ) );
	}

	public function test_encoded_provider_host_without_its_mark_is_blocked() {
		$pre = Sovgate_Interceptor::pre_http_request( false, array(), 'https://api%2eopenai.com/v1/chat/completions' );
		$this->assertInstanceOf( WP_Error::class, $pre );
		$this->assertSame( 'sovgate_blocked', $pre->get_error_code() );
		$this->assertFalse( Sovgate_Interceptor::pre_http_request( false, array(), 'https://example.com/' ) );
	}
}
