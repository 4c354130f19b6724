<?php
/**
 * Request mapping: gateway base, paths (Azure deployments included), headers, model.
 *
 * @package Sovgate_Tests
 */

use PHPUnit\Framework\TestCase;

final class MapperTest extends TestCase {

	public function test_gateway_base() {
		$this->assertSame( 'https://gw:8443', Sovgate_Mapper::gateway_base( 'https://gw:8443/v1' ) );
		$this->assertSame( 'https://gw:8443', Sovgate_Mapper::gateway_base( ' https://gw:8443/v1/ ' ) );
		$this->assertSame( 'https://gw:8443', Sovgate_Mapper::gateway_base( 'https://gw:8443/' ) );
		$this->assertSame( 'https://gw/prefix', Sovgate_Mapper::gateway_base( 'https://gw/prefix/v1' ) );
	}

	/**
	 * @dataProvider openai_paths
	 */
	public function test_openai_compatible_paths( $url, $path ) {
		$m = Sovgate_Mapper::map_path( $url );
		$this->assertSame( $path, $m['path'] );
		$this->assertNull( $m['model'] );
		$this->assertFalse( $m['dialect'] );
	}

	public static function openai_paths() {
		return array(
			array( 'https://api.openai.com/v1/chat/completions', '/v1/chat/completions' ),
			array( 'https://api.openai.com/v1/chat/completions/', '/v1/chat/completions' ),
			array( 'https://api.openai.com/v1/completions', '/v1/completions' ),
			array( 'https://api.openai.com/v1/embeddings', '/v1/embeddings' ),
			array( 'https://api.openai.com/v1/models', '/v1/models' ),
			array( 'https://openrouter.ai/api/v1/chat/completions', '/v1/chat/completions' ),
			array( 'https://api.groq.com/openai/v1/chat/completions', '/v1/chat/completions' ),
			array( 'https://api.deepseek.com/chat/completions', '/v1/chat/completions' ),
			array( 'https://generativelanguage.googleapis.com/v1beta/openai/chat/completions?key=AIzaSECRET', '/v1/chat/completions' ),
			array( 'https://api.cohere.com/compatibility/v1/chat/completions', '/v1/chat/completions' ),
			array( 'https://myshop.openai.azure.com/openai/v1/chat/completions?api-version=preview', '/v1/chat/completions' ),
		);
	}

	public function test_azure_deployment_paths_name_the_model() {
		$m = Sovgate_Mapper::map_path( 'https://shop.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-06-01' );
		$this->assertSame( array( 'path' => '/v1/chat/completions', 'model' => 'gpt-4o-mini', 'dialect' => false ), $m );
		$m = Sovgate_Mapper::map_path( 'https://shop.openai.azure.com/openai/deployments/my%20embed/embeddings?api-version=2024-06-01' );
		$this->assertSame( '/v1/embeddings', $m['path'] );
		$this->assertSame( 'my embed', $m['model'] );
		$m = Sovgate_Mapper::map_path( 'https://shop.openai.azure.com/openai/deployments/legacy/completions?api-version=2022-12-01' );
		$this->assertSame( array( '/v1/completions', 'legacy' ), array( $m['path'], $m['model'] ) );
	}

	public function test_other_dialects_keep_their_path_without_keys() {
		$m = Sovgate_Mapper::map_path( 'https://api.anthropic.com/v1/messages' );
		$this->assertSame( array( '/v1/messages', null, true ), array( $m['path'], $m['model'], $m['dialect'] ) );
		$m = Sovgate_Mapper::map_path( 'https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent?key=AIzaSECRET&alt=sse' );
		$this->assertSame( '/v1beta/models/gemini-2.0-flash:generateContent?alt=sse', $m['path'] );
		$this->assertTrue( $m['dialect'] );
		$this->assertSame( 'a=1&b=2', Sovgate_Mapper::filter_query( 'KEY=x&a=1&api-version=3&b=2&api_key=y' ) );
	}

	/**
	 * Sovgate_Mapper::NATIVE_APIS: exact hosts and wildcards (the semantics of
	 * Sovgate_Hosts::match(): `*.domain` matches hosts below domain, not domain itself),
	 * hosts compared as WordPress connects to them, and hosts whose OpenAI-compatible
	 * routes are only some exact paths.
	 */
	public function test_not_served_hosts_wildcards_and_paths() {
		$refused = array(
			'https://api.replicate.com/v1/models',
			'https://audio-prod.api.fireworks.ai/v1/audio/transcriptions',
			'https://a.b.api.fireworks.ai/v1/audio/transcriptions',
			'https://audio-prod.api%2Efireworks%2Eai/v1/audio/transcriptions',
			'https://AUDIO-PROD.API.FIREWORKS.AI./v1/audio/transcriptions',
			'https://models.github.ai/catalog/models',
			'https://models.github.ai/inference/completions',
			'https://models.github.ai/inference/chat/completions/x',
			'https://models.github.ai/orgs/-/inference/chat/completions',
			'https://models.github.ai/orgs/a%2Fb/inference/chat/completions',
			'https://models.github.ai/xinference/chat/completions',
			'https://models%2egithub.ai/catalog/models',
			'https://e.us-east-1.aws.endpoints.huggingface.cloud/generate',
			'https://e.endpoints.huggingface.cloud/',
			'https://e.endpoints.huggingface.cloud/v2/chat/completions',
			'https://e.endpoints.huggingface.cloud/v1/v1/chat/completions',
			'https://e.endpoints.huggingface.cloud/v1/audio/transcriptions',
			'https://e.westeurope.inference.ml.azure.com/score',
			'https://e.westeurope.inference.ml.azure.com/chat/completions',
		);
		foreach ( $refused as $url ) {
			$this->assertTrue( Sovgate_Mapper::not_served( $url ), $url );
		}
		$served = array(
			'https://eu.api.fireworks.ai/inference/v1/chat/completions',
			'https://models.github.ai/inference/chat/completions',
			'https://models.github.ai/inference/chat/completions/',
			'https://models.github.ai/inference/embeddings',
			'https://models.github.ai/orgs/Shop-Org-1/inference/chat/completions',
			'https://models.github.ai/orgs/shop/inference/embeddings',
			'https://e.us-east-1.aws.endpoints.huggingface.cloud/v1/chat/completions',
			'https://e.endpoints.huggingface.cloud/v1/completions',
			'https://e.endpoints.huggingface.cloud/v1/embeddings',
			'https://e.endpoints.huggingface.cloud/v1/models',
			'https://e.westeurope.inference.ml.azure.com/v1/chat/completions',
		);
		foreach ( $served as $url ) {
			$this->assertFalse( Sovgate_Mapper::not_served( $url ), $url );
		}
		// Lookalikes and the wildcards' own domains are not native hosts.
		$other = array(
			'https://api.fireworks.ai/v1/audio/transcriptions',
			'https://xapi.fireworks.ai/v1/audio/transcriptions',
			'https://audio-prod.api.fireworks.ai.evil.example/v1/audio/transcriptions',
			'https://audio-prod.api-fireworks.ai/v1/audio/transcriptions',
			'https://models.github.ai.evil.example/catalog/models',
			'https://xmodels.github.ai/catalog/models',
			'https://eu.models.github.ai/catalog/models',
			'https://endpoints.huggingface.cloud/generate',
			'https://xendpoints.huggingface.cloud/generate',
			'https://e.xendpoints.huggingface.cloud/generate',
			'https://e.endpoints.huggingface.cloud.evil.example/generate',
			'https://inference.ml.azure.com/score',
			'https://e.xinference.ml.azure.com/score',
			'https://e.inference.ml.azure.com.evil.example/score',
			'https://e.inference.ai.azure.com/score',
		);
		foreach ( $other as $url ) {
			$this->assertFalse( Sovgate_Mapper::not_served( $url ), $url );
		}
	}

	public function test_with_model_sets_the_model_of_json_objects_only() {
		$body = '{"messages":[{"role":"user","content":"Grüße / 1.0"}],"temperature":1.0}';
		$out  = json_decode( Sovgate_Mapper::with_model( $body, 'gpt-4o-mini' ), true );
		$this->assertSame( 'gpt-4o-mini', $out['model'] );
		$this->assertSame( 'Grüße / 1.0', $out['messages'][0]['content'] );
		$this->assertStringContainsString( '"temperature":1.0', Sovgate_Mapper::with_model( $body, 'm' ) );
		$this->assertSame( 'm2', json_decode( Sovgate_Mapper::with_model( '{"model":"x"}', 'm2' ), true )['model'] );
		$this->assertSame( 'not json', Sovgate_Mapper::with_model( 'not json', 'm' ) );
		$this->assertSame( '[1,2]', Sovgate_Mapper::with_model( '[1,2]', 'm' ) );
		$this->assertSame( array( 'a' => 1 ), Sovgate_Mapper::with_model( array( 'a' => 1 ), 'm' ) );
		$this->assertNull( Sovgate_Mapper::with_model( null, 'm' ) );
	}

	public function test_credentials_are_replaced_by_the_site_key() {
		$in  = array(
			'Content-Type'        => 'application/json',
			'Authorization'       => 'Bearer sk-proj-SECRET',
			'x-api-key'           => 'sk-ant-SECRET',
			'API-KEY'             => 'azure-SECRET',
			'x-goog-api-key'      => 'AIzaSECRET',
			'Ocp-Apim-Subscription-Key' => 'azure-ai-services-SECRET',
			'X-Amz-Security-Token' => 'aws-session-SECRET',
			'OpenAI-Organization' => 'org-1',
			'X-Sovgate-Source'    => 'spoofed',
			'Content-Length'      => '12',
			'anthropic-version'   => '2023-06-01',
		);
		$out = Sovgate_Mapper::map_headers(
			$in,
			'sg-sitekey',
			array(
				'X-Sovgate-Source' => 'my-plugin',
				'X-Sovgate-User'   => '',
				'X-Sovgate-Fields' => 'billing_email=EMAIL',
			)
		);
		$this->assertSame(
			array(
				'Content-Type'      => 'application/json',
				'anthropic-version' => '2023-06-01',
				'Authorization'     => 'Bearer sg-sitekey',
				'X-Sovgate-Source'  => 'my-plugin',
				'X-Sovgate-Fields'  => 'billing_email=EMAIL',
			),
			$out
		);
		$this->assertStringNotContainsString( 'SECRET', implode( "\n", Sovgate_Mapper::flatten( $out ) ) );
	}

	public function test_header_lists_and_unsafe_headers() {
		$out = Sovgate_Mapper::map_headers(
			array( 'authorization: Bearer sk-SECRET', 'Accept: text/event-stream', 'Bad Name: x', 'X-Inject' => "a\r\nHost: evil", 'X-List' => array( 'a', 'b' ) ),
			'k',
			array( 'X-Sovgate-Source' => "evil\nX: y" )
		);
		$this->assertSame(
			array(
				'Accept'        => 'text/event-stream',
				'X-List'        => 'a, b',
				'Authorization' => 'Bearer k',
			),
			$out
		);
		$this->assertSame( array( 'A: 1', 'B: 2' ), Sovgate_Mapper::flatten( array( 'A' => '1', 'B' => '2' ) ) );
	}

	public function test_user_hash() {
		$h = Sovgate_Mapper::user_hash( 42, 'secret-one' );
		$this->assertMatchesRegularExpression( '/^[0-9a-f]{32}$/', $h );
		$this->assertSame( $h, Sovgate_Mapper::user_hash( '42', 'secret-one' ) );
		$this->assertNotSame( $h, Sovgate_Mapper::user_hash( 43, 'secret-one' ) );
		$this->assertNotSame( $h, Sovgate_Mapper::user_hash( 42, 'secret-two' ) );
		$this->assertSame( '', Sovgate_Mapper::user_hash( 0, 'secret-one' ) );
		$this->assertSame( '', Sovgate_Mapper::user_hash( 42, '' ) );
	}
}
